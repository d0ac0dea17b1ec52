"""How a task is *executed*, apart from what it *is*: :class:`ExecOptions`, one static object.

A task (:mod:`nne_jax.tasks`) is data: the network, ``W``, the gene map and the logit scale, as a
pytree ``jit`` takes. How its population is evaluated — which population path, in chunks of how
many genotypes, in which matmul dtype, split over which device mesh — changes the speed and the
memory, never the function (up to float rounding). Those choices live in one frozen, hashable
:class:`ExecOptions` that a task carries as a static field, so a new option value recompiles and a
new data value does not.

``task.replace(path=..., pop_chunk=..., matmul_dtype=..., mesh=...)`` keeps working on the
library's tasks: :func:`replace_with_options` routes those keys into ``task.options``.
"""
from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from jax.sharding import Mesh

__all__ = ["ExecOptions", "MATMUL_DTYPES", "WithOptions", "replace_with_options"]

MATMUL_DTYPES = ("float32", "bfloat16")

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class ExecOptions:
    """Execution policy of a task's population evaluation (static: part of the compiled program).

    Attributes:
      path: population path, a key of :data:`nne_jax.population.PATHS` (the MLP task resolves
        ``"auto"`` when it is built; tasks with one way to evaluate ignore it).
      pop_chunk: evaluate at most this many genotypes at once (bounds memory); ``None`` = all.
      matmul_dtype: dtype of the ``"genespace"`` path's big matmul, one of :data:`MATMUL_DTYPES`.
      mesh: a 1-D ``"pop"`` mesh the population is split over (:mod:`nne_jax.parallel`), or ``None``.
    """

    path: str = "sparse"
    pop_chunk: int | None = None
    matmul_dtype: str = "float32"
    mesh: Mesh | None = None

    def __post_init__(self) -> None:
        if self.pop_chunk is not None:
            if isinstance(self.pop_chunk, bool) or not hasattr(self.pop_chunk, "__index__") or self.pop_chunk < 1:
                raise ValueError(f"pop_chunk must be an int >= 1 or None, got {self.pop_chunk!r}")
            object.__setattr__(self, "pop_chunk", int(self.pop_chunk))
        if self.matmul_dtype not in MATMUL_DTYPES:
            raise ValueError(f"matmul_dtype must be one of {MATMUL_DTYPES}, got {self.matmul_dtype!r}")
        if self.mesh is not None and tuple(self.mesh.axis_names) != ("pop",):
            raise ValueError(f"mesh must be a 1-D mesh with axis 'pop' (nne_jax.parallel.population_mesh), got axes {self.mesh.axis_names}")


OPTION_FIELDS = tuple(f.name for f in dataclasses.fields(ExecOptions))


def replace_with_options(task: T, **changes: Any) -> T:
    """``task`` with ``changes``; keys of :class:`ExecOptions` (``path``, ``mesh``, ...) go into ``task.options``.

    The ``replace`` of the library's task dataclasses, so ``task.replace(mesh=m)`` and
    ``task.replace(wg=..., path="dense")`` both work.
    """
    moved = {k: changes.pop(k) for k in OPTION_FIELDS if k in changes}
    if moved:
        changes["options"] = dataclasses.replace(changes.get("options", task.options), **moved)  # type: ignore[attr-defined]
    return dataclasses.replace(task, **changes)  # type: ignore[type-var]


class WithOptions:
    """Read access to a task's ``options`` as ``task.path``, ``task.pop_chunk``, ``task.matmul_dtype``,
    ``task.mesh`` (a base of the library's task dataclasses; they set ``replace = replace_with_options``)."""

    options: ExecOptions

    @property
    def path(self) -> str:
        return self.options.path

    @property
    def pop_chunk(self) -> int | None:
        return self.options.pop_chunk

    @property
    def matmul_dtype(self) -> str:
        return self.options.matmul_dtype

    @property
    def mesh(self) -> Mesh | None:
        return self.options.mesh
