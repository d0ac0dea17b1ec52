"""Checkpoints of a run: atomic, verified, config-checked, never pickle.

A checkpoint is one msgpack file (``flax.serialization``: plain arrays, numbers and strings —
loading it cannot run code) holding the run state as a nested dict of arrays, the generation
counter, the run's config as canonical JSON and a sha256 of the payload. Files are written to a
temporary name, fsynced and renamed, so a killed writer never leaves a file that looks valid;
the newest ``keep`` are kept. On restore, the newest file that verifies is used (a corrupt or
partial one is skipped with a warning); a config different from the checkpoint's is refused.

Why flax serialization rather than orbax-checkpoint: NNE's state is a few small arrays (``p``,
a PRNG key, counters, metric curves) written from one host; a single-file msgpack with our own
atomic rename and checksum is simpler, has no background threads, and keeps the restore path
free of pickle. (Sharded multi-host states would want orbax.)
"""
from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path
from typing import Any

import flax.serialization
import numpy as np

from nne_jax.registry import stable_name

__all__ = ["save_checkpoint", "restore_checkpoint", "list_checkpoints", "ConfigMismatchError"]

_PREFIX = "ckpt_"
_SUFFIX = ".msgpack"


class ConfigMismatchError(ValueError):
    """The run's config differs from the one stored in the checkpoint."""


def _canonical(config: dict[str, Any]) -> str:
    return json.dumps(config, sort_keys=True, default=stable_name)  # callables: no memory address


def list_checkpoints(directory: str | Path) -> list[Path]:
    """Checkpoint files in ``directory``, oldest first."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.name.startswith(_PREFIX) and p.name.endswith(_SUFFIX))


def save_checkpoint(directory: str | Path, step: int, state: dict[str, Any], config: dict[str, Any], keep: int = 3) -> Path:
    """Atomically writes ``state`` (a nested dict of arrays/numbers) as checkpoint ``step``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    payload = flax.serialization.msgpack_serialize(flax.serialization.to_state_dict(state))
    record = {
        "step": int(step),
        "config": _canonical(config),
        "sha256": hashlib.sha256(payload).hexdigest(),
        "payload": payload,
    }
    data = flax.serialization.msgpack_serialize(record)
    path = directory / f"{_PREFIX}{int(step):010d}{_SUFFIX}"
    tmp = directory / f".{path.name}.tmp{os.getpid()}"
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    for old in list_checkpoints(directory)[:-keep]:
        old.unlink(missing_ok=True)
    return path


def _read(path: Path) -> tuple[int, str, dict[str, Any]]:
    record = flax.serialization.msgpack_restore(path.read_bytes())
    if not isinstance(record, dict) or not {"step", "config", "sha256", "payload"} <= set(record):
        raise ValueError("not a checkpoint record")
    payload = bytes(record["payload"])
    if hashlib.sha256(payload).hexdigest() != record["sha256"]:
        raise ValueError("checksum mismatch")
    return int(record["step"]), str(record["config"]), flax.serialization.msgpack_restore(payload)


def restore_checkpoint(directory: str | Path, config: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
    """The newest valid checkpoint as ``(step, state dict of numpy arrays)``, or None if there is none.

    Raises:
      ConfigMismatchError: the newest valid checkpoint was written by a run with another config.
    """
    for path in reversed(list_checkpoints(directory)):
        try:
            step, stored, state = _read(path)
        except Exception as err:  # corrupt or partial: fall back to the previous one
            warnings.warn(f"skipping unreadable checkpoint {path} ({err}); trying the previous one", stacklevel=2)
            continue
        if stored != _canonical(config):
            old, new = json.loads(stored), json.loads(_canonical(config))
            diff = {k: (old.get(k), new.get(k)) for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)}
            raise ConfigMismatchError(
                f"checkpoint {path} was written with a different config; differing keys (checkpoint, now): {diff}. "
                "Use the same settings to resume, or another output directory to start afresh."
            )
        return step, jax_tree_to_numpy(state)
    return None


def jax_tree_to_numpy(tree: Any) -> Any:
    """Nested dicts of array-likes → nested dicts of numpy arrays."""
    if isinstance(tree, dict):
        return {k: jax_tree_to_numpy(v) for k, v in tree.items()}
    return np.asarray(tree)
