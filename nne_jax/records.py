"""Run records on disk that survive crashes: strict JSON, JSON-lines appends and atomic rewrites.

* :func:`strict_json` — any result (numpy scalars and arrays, tuples, dataclasses) as plain JSON
  data with every non-finite float turned into ``null``; :func:`dumps_strict` then refuses NaN/inf
  (``allow_nan=False``), so results files are standard JSON that every parser reads.
* :func:`read_jsonl` — reads a JSON-lines file; a torn *final* line (a writer killed mid-line, a full
  disk, ``ulimit -f``) is dropped with a warning naming the file; a bad line elsewhere is an error
  naming the file and line (or, with ``skip_bad=True``, dropped with a warning).
* :func:`append_jsonl` — one record as one ``write`` of one line, fsynced.
* :func:`write_atomic` — a rewrite via a temporary file, fsync and ``os.replace``: a failure while
  rewriting leaves the old file whole.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from nne_jax.checkpoint import fault_point

__all__ = ["strict_json", "dumps_strict", "read_jsonl", "append_jsonl", "write_atomic"]


def strict_json(obj: Any) -> Any:
    """``obj`` as JSON data: arrays → lists, numpy scalars → Python, NaN/±inf → None, dataclasses → dicts."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):  # e.g. an ε schedule: its type and fields
        return {"type": type(obj).__name__, **strict_json(dataclasses.asdict(obj))}
    if isinstance(obj, dict):
        return {str(k): strict_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict_json(v) for v in obj]
    if hasattr(obj, "__array__") and not isinstance(obj, (np.generic, bool, int, float, str)):
        return strict_json(np.asarray(obj).tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    return obj


def dumps_strict(obj: Any, **kwargs: Any) -> str:
    """``json.dumps(strict_json(obj), allow_nan=False)``: standard JSON, never ``NaN``/``Infinity``."""
    return json.dumps(strict_json(obj), allow_nan=False, **kwargs)


def read_jsonl(path: str | Path, *, skip_bad: bool = False) -> list[dict[str, Any]]:
    """The records of a JSON-lines file (``[]`` if it does not exist).

    A last line that does not parse (torn by a crash) is dropped with a warning naming the file.

    Raises:
      ValueError: a line before the last does not parse (names the file and line), unless ``skip_bad``.
    """
    path = Path(path)
    if not path.exists():
        return []
    lines = path.read_bytes().split(b"\n")
    records: list[dict[str, Any]] = []
    last = max((i for i, ln in enumerate(lines) if ln.strip()), default=-1)
    for i, raw in enumerate(lines):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw.decode())
            if not isinstance(record, dict):
                raise TypeError("not a JSON object")
        except (ValueError, TypeError) as err:
            if i == last:
                warnings.warn(f"{path}: dropping a torn last line {i + 1} ({len(raw)} bytes: {err})", stacklevel=2)
                continue
            if skip_bad:
                warnings.warn(f"{path}: dropping unreadable line {i + 1} ({err})", stacklevel=2)
                continue
            raise ValueError(f"{path}: line {i + 1} is not a JSON object ({err})") from None
        records.append(record)
    return records


def append_jsonl(path: str | Path, record: dict[str, Any]) -> None:
    """Appends ``record`` as one strict-JSON line (a single ``write``, then fsync)."""
    line = (dumps_strict(record) + "\n").encode()
    with open(path, "ab") as fh:
        fault_point("metrics", fh, line)
        fh.write(line)
        fh.flush()
        os.fsync(fh.fileno())


def write_atomic(path: str | Path, text: str | bytes) -> Path:
    """Replaces ``path`` with ``text`` (str or bytes) atomically: a temporary file in the same directory, fsync,
    ``os.replace``, then the directory fsynced where the platform allows (so the rename is durable too)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, path.stat().st_mode & 0o7777 if path.exists() else 0o666 & ~umask)  # not mkstemp's 0600
        with os.fdopen(fd, "wb" if isinstance(text, bytes) else "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename durable; not possible everywhere
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    return path
