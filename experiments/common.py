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

RESULTS = Path(__file__).resolve().parent.parent / "results"


def git_commit() -> str:
    """The current commit (with ``-dirty`` if the tree has uncommitted changes), or ``unknown``."""
    root = Path(__file__).resolve().parent.parent
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True, text=True).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


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


def metadata(command: str | None = None) -> dict[str, Any]:
    """Provenance fields every result file carries."""
    return {
        "git_commit": git_commit(),
        "device": device_description(),
        "jax_version": jax.__version__,
        "python": sys.version.split()[0],
        "command": command or "python -m " + " ".join([Path(sys.argv[0]).stem] + sys.argv[1:]),
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
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
