"""Named options that also accept callables: one small :class:`Registry` per kind, and :func:`stable_name`.

A strategy option (fitness shaping, update rule, initial frequencies, an ``ε`` schedule) is either a
registered name or a user's callable. :meth:`Registry.lookup` turns either into the callable;
:meth:`Registry.register` adds a name. :func:`stable_name` gives any option a text identity that is the
same in every process (checkpoints record it, so a run resumes in a new process), where ``str(fn)``
holds a memory address.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import numpy as np

__all__ = ["Registry", "stable_name"]

F = TypeVar("F", bound=Callable[..., Any])


class Registry(dict, Generic[F]):
    """A ``dict`` from names to callables of one ``kind`` (``"update_rule"``, ...), with checked access.

    It stays a plain mapping (``name in REG``, ``REG[name]``, ``sorted(REG)`` work as before).
    """

    def __init__(self, kind: str, entries: dict[str, F] | None = None) -> None:
        super().__init__(entries or {})
        self.kind = kind

    def lookup(self, option: str | F) -> F:
        """The callable registered as ``option``, or ``option`` itself if it is callable.

        Raises:
          ValueError: an unknown name or a value that is neither a name nor callable (the message names the kind).
        """
        if callable(option):
            return option
        if isinstance(option, str) and option in self:
            return self[option]
        raise ValueError(f"unknown {self.kind} {option!r}; choose from {sorted(self)} or pass a callable")

    def register(self, name: str, fn: F, *, overwrite: bool = False) -> F:
        """Adds ``fn`` under ``name`` (returns ``fn``, so it also works as ``register(name, fn)`` inline).

        Raises:
          ValueError: ``fn`` not callable, ``name`` not a non-empty string, or already taken (without ``overwrite``).
        """
        if not callable(fn):
            raise ValueError(f"{self.kind} {name!r} must be callable, got {type(fn).__name__}")
        if not isinstance(name, str) or not name:
            raise ValueError(f"{self.kind} name must be a non-empty string, got {name!r}")
        if name in self and not overwrite and self[name] is not fn:
            raise ValueError(f"{self.kind} {name!r} is already registered; pass overwrite=True to replace it")
        self[name] = fn
        return fn

    def name_of(self, option: str | Callable) -> str:
        """The registered name of ``option`` (a name or a registered callable), else :func:`stable_name`."""
        if isinstance(option, str):
            return option
        for name, fn in self.items():
            if fn is option:
                return name
        return stable_name(option)


def _value_name(value: Any, depth: int) -> str:
    if isinstance(value, (bool, int, float, str, type(None))):
        return repr(value)
    if isinstance(value, (tuple, list)):
        inner = ", ".join(_value_name(v, depth) for v in value)
        return f"({inner})" if isinstance(value, tuple) else f"[{inner}]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {_value_name(v, depth)}" for k, v in sorted(value.items(), key=lambda kv: repr(kv[0]))) + "}"
    if hasattr(value, "shape") and hasattr(value, "dtype"):  # numpy / jax arrays
        arr = np.asarray(value)
        if arr.size <= 8:
            return f"array({arr.tolist()!r}, {arr.dtype})"
        return f"array{arr.shape}:{arr.dtype}:sha256={hashlib.sha256(np.ascontiguousarray(arr).tobytes()).hexdigest()[:16]}"
    return _name(value, depth + 1)


def _name(obj: Any, depth: int) -> str:
    if depth > 6:
        return "..."
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return repr(obj)  # value-based for frozen dataclasses such as CosineDecay (== str(obj), as recorded before)
    if isinstance(obj, functools.partial):
        args = [_value_name(a, depth) for a in obj.args] + [f"{k}={_value_name(v, depth)}" for k, v in sorted(obj.keywords.items())]
        return f"partial({_name(obj.func, depth + 1)}, {', '.join(args)})"
    if callable(obj) and hasattr(obj, "__qualname__"):
        base = f"{getattr(obj, '__module__', None) or '?'}.{obj.__qualname__}"
        code = getattr(obj, "__code__", None)
        parts = []
        if code is not None and getattr(obj, "__closure__", None):
            for var, cell in zip(code.co_freevars, obj.__closure__):
                try:
                    parts.append(f"{var}={_value_name(cell.cell_contents, depth)}")
                except ValueError:  # an empty cell
                    parts.append(f"{var}=<empty>")
        if getattr(obj, "__defaults__", None):
            parts.append(f"defaults={_value_name(obj.__defaults__, depth)}")
        if getattr(obj, "__kwdefaults__", None):
            parts.append(f"kwdefaults={_value_name(obj.__kwdefaults__, depth)}")
        return f"{base}({', '.join(parts)})" if parts else base
    return str(obj)


def stable_name(obj: Any) -> str:
    """A text identity of ``obj`` that does not depend on the process (no memory addresses).

    * a frozen dataclass (e.g. :class:`~nne_jax.schedules.CosineDecay`): its ``repr`` (value-based);
    * a function: ``module.qualname``, plus the values its closure captured and its defaults, so two
      ``optax.cosine_decay_schedule(...)`` with different arguments get different names, and the same
      arguments the same name in every process;
    * ``functools.partial``: the function and its bound arguments; arrays: shape, dtype and a hash;
    * anything else: ``str(obj)`` (numbers and strings are unchanged).

    Two callables with the same name compute the same thing unless they read mutable global state.
    """
    if isinstance(obj, (bool, int, float, str, type(None))):
        return str(obj)
    return _name(obj, 0)
