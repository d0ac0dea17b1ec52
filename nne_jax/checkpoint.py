"""Checkpoints of a run: atomic, verified, config-checked, never pickle.

A checkpoint is one msgpack file (``flax.serialization``: plain arrays, numbers and strings —
loading it cannot run code) holding the run state as a nested dict of arrays, the generation
counter, the run's config as canonical JSON and a sha256 of the payload. Files are written to a
temporary name, fsynced and renamed, so a killed writer never leaves a file that looks valid;
the newest ``keep`` are kept. On restore, the newest file that verifies is used (a corrupt or
partial one is skipped with a warning and, in the runner, renamed to ``<name>.unreadable`` so it
is kept but never read or overwritten again); a config different from the checkpoint's is refused;
if checkpoints exist but none is readable, :class:`CheckpointsUnreadableError` says which files
(start afresh only on request: ``restart=True``, which sets them aside, never deletes them).

:func:`run_lock` takes an exclusive lock on a run directory (``<dir>/.lock``, ``fcntl.flock`` plus
the holder's pid/host in the file): a second run on the same directory fails at once naming the
holder; the kernel drops the lock when its holder dies, so a lock left by a crash is taken over
(with a warning naming the dead holder).

Why flax serialization rather than orbax-checkpoint: NNE's state is a few small arrays (``p``,
a PRNG key, counters, metric curves) written from one host; a single-file msgpack with our own
atomic rename and checksum is simpler, has no background threads, and keeps the restore path
free of pickle. (Sharded multi-host states would want orbax.)
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import socket
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import flax.serialization
import numpy as np

from nne_jax.registry import stable_name

__all__ = ["save_checkpoint", "restore_checkpoint", "list_checkpoints", "latest_step", "ConfigMismatchError", "CheckpointsUnreadableError",
           "RunLockedError", "run_lock", "remove_stale_temporaries", "fault_point"]

_PREFIX = "ckpt_"
_SUFFIX = ".msgpack"


class ConfigMismatchError(ValueError):
    """The run's config differs from the one stored in the checkpoint."""


class CheckpointsUnreadableError(ValueError):
    """Checkpoints exist but none can be read; the message lists them (resume refused, nothing deleted)."""


class RunLockedError(RuntimeError):
    """Another live process holds the run directory's lock; the message names its pid and host."""


_LOCK_NAME = ".lock"
_held_locks: dict[str, list] = {}  # resolved dir -> [fd, depth]: the lock is reentrant within a process


def _lock_holder(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return {}


@contextlib.contextmanager
def run_lock(directory: str | Path) -> Iterator[Path]:
    """Holds an exclusive lock on run directory ``directory`` (created if missing) while in the block.

    Raises:
      RunLockedError: another live process holds it (pid and host named; fails at once, never waits).
      OSError: the directory cannot be created or written (e.g. it is a file, or read-only).
    """
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise NotADirectoryError(f"run directory {directory} exists and is not a directory")
    directory.mkdir(parents=True, exist_ok=True)
    key = str(directory.resolve())
    if key in _held_locks:
        _held_locks[key][1] += 1
        try:
            yield directory / _LOCK_NAME
        finally:
            _held_locks[key][1] -= 1
        return
    path = directory / _LOCK_NAME
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            holder = _lock_holder(path)
            raise RunLockedError(
                f"run directory {directory} is in use by pid {holder.get('pid', '?')} on host {holder.get('host', '?')} "
                f"(since {holder.get('started', '?')}); wait for it to finish, stop it, or use another output directory"
            ) from None
        try:  # the file we locked must still be the one at `path` (a releasing holder unlinks it)
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    stale = _lock_holder(path)
    if stale.get("pid") is not None:
        warnings.warn(f"taking over the stale lock {path} left by pid {stale.get('pid')} on host {stale.get('host')} "
                      f"(since {stale.get('started')}); that process is gone", stacklevel=3)
    me = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(me).encode(), 0)
    _held_locks[key] = [fd, 1]
    try:
        yield path
    finally:
        del _held_locks[key]
        with contextlib.suppress(OSError):
            path.unlink()
        os.close(fd)


def remove_stale_temporaries(directory: str | Path) -> list[Path]:
    """Deletes checkpoint temporaries (``.ckpt_*.tmp<pid>``) a killed writer left; call with the run lock held."""
    directory = Path(directory)
    stale = [p for p in directory.glob(f".{_PREFIX}*{_SUFFIX}.tmp*")] if directory.is_dir() else []
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


_fault_counts: dict[str, int] = {}


def fault_point(name: str, fh: Any = None, data: bytes = b"") -> None:
    """Fault injection for ``experiments/faults.py`` (ours): with ``NNE_FAULT_KILL=<name>:<k>`` set, the
    ``k``-th time point ``name`` is reached the process writes the first half of ``data`` to ``fh``,
    flushes, and SIGKILLs itself (a kill in the middle of that write). A no-op otherwise."""
    spec = os.environ.get("NNE_FAULT_KILL")
    if not spec or spec.rpartition(":")[0] != name:
        return
    _fault_counts[name] = _fault_counts.get(name, 0) + 1
    if _fault_counts[name] == int(spec.rpartition(":")[2]):
        if fh is not None:
            fh.write(data[: len(data) // 2])
            fh.flush()
            os.fsync(fh.fileno())
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


def _canonical(config: dict[str, Any]) -> str:
    return json.dumps(config, sort_keys=True, default=stable_name)  # callables: no memory address


def list_checkpoints(directory: str | Path) -> list[Path]:
    """Checkpoint files in ``directory``, oldest first."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.name.startswith(_PREFIX) and p.name.endswith(_SUFFIX))


def latest_step(directory: str | Path) -> int:
    """The step of the newest checkpoint file in ``directory`` (0 if there is none), from its name alone."""
    paths = list_checkpoints(directory)
    return int(paths[-1].name[len(_PREFIX):-len(_SUFFIX)]) if paths else 0


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
    try:
        with open(tmp, "wb") as fh:
            fault_point("checkpoint", fh, data)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(directory)
    for old in list_checkpoints(directory)[:-keep]:
        old.unlink(missing_ok=True)
    return path


def _fsync_dir(directory: Path) -> None:
    """Makes a rename in ``directory`` durable (not possible on every platform)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _read(path: Path) -> tuple[int, str, dict[str, Any]]:
    record = flax.serialization.msgpack_restore(path.read_bytes())
    if not isinstance(record, dict) or not {"step", "config", "sha256", "payload"} <= set(record):
        raise ValueError("not a checkpoint record")
    payload = bytes(record["payload"])
    if hashlib.sha256(payload).hexdigest() != record["sha256"]:
        raise ValueError("checksum mismatch")
    return int(record["step"]), str(record["config"]), flax.serialization.msgpack_restore(payload)


def restore_checkpoint(directory: str | Path, config: dict[str, Any], *, quarantine: bool = False,
                       restart: bool = False) -> tuple[int, dict[str, Any]] | None:
    """The newest valid checkpoint as ``(step, state dict of numpy arrays)``, or None if there is none.

    Args:
      quarantine: rename each unreadable checkpoint to ``<name>.unreadable`` (kept, never read again,
        never overwritten by a later save); for the run that owns ``directory`` (holding its lock).
      restart: if checkpoints exist but none is readable, set them all aside (renamed, never deleted)
        and return None (start afresh) instead of raising.

    Raises:
      ConfigMismatchError: the newest valid checkpoint was written by a run with another config.
      CheckpointsUnreadableError: checkpoints exist but none is readable (and not ``restart``).
    """
    unreadable: list[tuple[Path, str]] = []
    for path in reversed(list_checkpoints(directory)):
        try:
            step, stored, state = _read(path)
        except Exception as err:  # corrupt or partial: fall back to the previous one
            unreadable.append((path, f"{type(err).__name__}: {err}"))
            continue
        if stored != _canonical(config):
            old, new = json.loads(stored), json.loads(_canonical(config))
            diff = {k: (old.get(k), new.get(k)) for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)}
            raise ConfigMismatchError(
                f"checkpoint {path} was written with a different config; differing keys (checkpoint, now): {diff}. "
                "Use the same settings to resume, or another output directory to start afresh."
            )
        for bad, why in unreadable:
            kept = _set_aside(bad) if quarantine else bad
            warnings.warn(f"skipping unreadable checkpoint {bad} ({why}); trying the previous one"
                          + (f" (kept as {kept.name})" if quarantine else ""), stacklevel=2)
        return step, jax_tree_to_numpy(state)
    if unreadable:
        listing = "; ".join(f"{p} ({why})" for p, why in unreadable)
        if not restart:
            raise CheckpointsUnreadableError(
                f"{len(unreadable)} checkpoint(s) in {directory} but none is readable: {listing}. Nothing was deleted. "
                "Restore a good copy, or start again from generation 0 with --restart (restart=True), which keeps the "
                "unreadable files as *.unreadable")
        for bad, _ in unreadable:
            warnings.warn(f"--restart: setting aside unreadable checkpoint {bad} as {_set_aside(bad).name}", stacklevel=2)
    return None


def _set_aside(path: Path) -> Path:
    """Renames ``path`` to ``<name>.unreadable`` (``.unreadable2``, ... if taken); returns the new path."""
    target, i = path.with_name(path.name + ".unreadable"), 1
    while target.exists():
        i += 1
        target = path.with_name(f"{path.name}.unreadable{i}")
    os.replace(path, target)
    return target


def jax_tree_to_numpy(tree: Any) -> Any:
    """Nested dicts of array-likes → nested dicts of numpy arrays."""
    if isinstance(tree, dict):
        return {k: jax_tree_to_numpy(v) for k, v in tree.items()}
    return np.asarray(tree)
