"""Shared plumbing for experiment modules: run metadata and result files (JSON, never pickle)."""
from __future__ import annotations

import dataclasses
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np

from nne_jax.checkpoint import latest_step
from nne_jax.records import append_jsonl, read_jsonl

RESULTS = Path(__file__).resolve().parent.parent / "results"
SEGMENTS = "segments.jsonl"


def git_commit(root: str | Path | None = None) -> str:
    """The current commit (with ``-dirty`` if tracked files outside ``results/`` have uncommitted changes), or ``unknown``.

    Changes under ``results/`` do not count: an experiment rewriting its own result files must not mark
    the code that produced them as modified. ``root``: the checkout (default: this repository).
    """
    root = Path(__file__).resolve().parent.parent if root is None else Path(root)
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)results"],
                               cwd=root, capture_output=True, text=True, check=True).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


#: set by :func:`require_clean`; :func:`metadata` records it in every result written afterwards.
_PROVENANCE: dict[str, Any] = {"allow_dirty": False}


def add_allow_dirty(parser: Any) -> None:
    """Adds ``--allow-dirty`` to an experiment's ``argparse`` parser."""
    parser.add_argument("--allow-dirty", action="store_true",
                        help="write into results/ even from a git tree with uncommitted changes (recorded in the JSON)")


def require_clean(out: str | Path, allow_dirty: bool = False) -> str:
    """Refuses to write into ``results/`` from a dirty (or unknown) git tree unless ``allow_dirty``.

    Call it at the start of an experiment's ``main`` with its output directory. Writing elsewhere
    (e.g. a temporary directory) is always allowed. When ``allow_dirty`` lets a dirty tree through,
    every later :func:`metadata` records ``"allow_dirty": true`` beside the ``-dirty`` commit, and nested
    experiments in the same process (e.g. ``ablations`` calling ``table1.main``) inherit the permission.

    Returns:
      the commit, as :func:`git_commit` gives it.

    Raises:
      SystemExit: ``out`` lies under ``results/`` and the tree is dirty / not a git checkout.
    """
    allow_dirty = allow_dirty or _PROVENANCE["allow_dirty"]
    commit = git_commit()
    clean = commit != "unknown" and not commit.endswith("-dirty")
    target = Path(out).resolve()
    inside = target == RESULTS.resolve() or RESULTS.resolve() in target.parents
    if inside and not clean and not allow_dirty:
        raise SystemExit(f"refusing to write into {out}: the git tree has uncommitted changes outside results/ "
                         f"(commit {commit}); commit first, or pass --allow-dirty (recorded in the result JSON)")
    _PROVENANCE["allow_dirty"] = bool(allow_dirty and not clean)
    return commit


def device_description() -> str:
    """E.g. ``cpu: Intel(R) Xeon(R) Processor x2`` or ``gpu: NVIDIA H100 80GB HBM3``."""
    dev = jax.devices()[0]
    if dev.platform == "cpu":
        name = platform.processor() or platform.machine()
        try:
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                    break
        except OSError:
            pass
        return f"cpu: {name} x{os.cpu_count()} cores, {jax.device_count()} jax device(s)"
    return f"{dev.platform}: {getattr(dev, 'device_kind', dev.platform)} x{jax.device_count()}"


def _invocation() -> str:
    """The command line that started this process, as ``python -m package.module args``."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    module = spec.name if spec is not None else Path(sys.argv[0]).stem
    if module.endswith(".__main__"):
        module = module[: -len(".__main__")]
    return "python -m " + " ".join([module] + sys.argv[1:])


def metadata(command: str | None = None) -> dict[str, Any]:
    """Provenance fields every result file carries."""
    return {
        "git_commit": git_commit(),
        "device": device_description(),
        "jax_version": jax.__version__,
        "python": sys.version.split()[0],
        "command": command or _invocation(),
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "allow_dirty": _PROVENANCE["allow_dirty"],
    }


def _jsonable(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):  # e.g. an ε schedule: its fields, named
        return {"type": type(obj).__name__, **_jsonable(dataclasses.asdict(obj))}
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.ndarray, jax.Array)):
        return _jsonable(np.asarray(obj).tolist())
    if isinstance(obj, (np.floating, float)):
        return None if not np.isfinite(obj) else float(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj


def record_segment(ckpt_dir: str | Path, command: str) -> None:
    """Notes that this process (re)starts the run in ``ckpt_dir``: one line ``{commit, from_generation, command,
    timestamp}`` appended to ``ckpt_dir/segments.jsonl``. A run resumed across sessions is thus made of
    segments, each by a known commit (see :func:`run_segments`)."""
    record = {"git_commit": git_commit(), "from_generation": latest_step(ckpt_dir), "command": command,
              "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    Path(ckpt_dir).mkdir(parents=True, exist_ok=True)
    append_jsonl(Path(ckpt_dir) / SEGMENTS, record)


def run_segments(ckpt_dir: str | Path, final_generation: int) -> list[dict[str, Any]]:
    """The segments of a finished run, oldest first: each ``record_segment`` line with ``to_generation`` (the
    next segment's start, or ``final_generation``); segments that added no generation are left out."""
    lines = read_jsonl(Path(ckpt_dir) / SEGMENTS)
    ends = [r["from_generation"] for r in lines[1:]] + [final_generation]
    return [{**r, "to_generation": end} for r, end in zip(lines, ends) if end > r["from_generation"]]


def replace_rows(path: str | Path, rows: list[dict[str, Any]], key: tuple[str, ...]) -> Path:
    """Writes ``rows`` into the JSON list at ``path``, replacing every existing row with the same ``key`` fields."""
    path = Path(path)
    new = {tuple(str(r.get(k)) for k in key) for r in rows}
    existing = json.loads(path.read_text()) if path.exists() else []
    kept = [r for r in existing if tuple(str(r.get(k)) for k in key) not in new]
    return write_json(path, sorted(kept + rows, key=lambda r: tuple(str(r.get(k)) for k in key)))


def write_json(path: str | Path, payload: Any) -> Path:
    """Writes ``payload`` as JSON atomically (temp file + rename); arrays become lists."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(_jsonable(payload), indent=1) + "\n")
    os.replace(tmp, path)
    return path
