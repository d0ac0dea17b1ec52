"""Find the IDX files of a data set: given directory, ``$NNE_DATA_DIR``, then a download cache."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path

from nne_jax.data.checksums import Sha256Table, file_sha256, verify_file
from nne_jax.data.download import OFFLINE_REASON, DownloadError, download_file, offline
from nne_jax.data.errors import DataError, DataNotFoundError
from nne_jax.data.idx import decode_idx

__all__ = ["default_cache_dir", "locate_files"]


def default_cache_dir() -> Path:
    """The download cache for MNIST.

    ``$NNE_CACHE_DIR`` if set (used as is: the files go straight in it), else
    ``$XDG_CACHE_HOME/nne_jax/mnist``, else ``~/.cache/nne_jax/mnist``.
    """
    if os.environ.get("NNE_CACHE_DIR"):
        return Path(os.environ["NNE_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base).expanduser() / "nne_jax" / "mnist"


def _candidates(directory: Path, stem: str) -> list[Path]:
    """Existing ``stem.gz`` / ``stem`` files in ``directory``, gzip first."""
    return [p for p in (directory / f"{stem}.gz", directory / stem) if p.is_file()]


def _idx_magic(stem: str) -> int | None:
    """IDX magic implied by a file name like ``*-idx3-ubyte``: 0x0800 + number of dims."""
    m = re.search(r"idx(\d)-ubyte", stem)
    return 0x0800 + int(m.group(1)) if m else None


def _idx_validator(magic: int | None) -> Callable[[bytes, str], None]:
    def validate(data: bytes, name: str) -> None:
        decode_idx(data, name, magic=magic)

    return validate


def locate_files(
    stems: Sequence[str],
    *,
    data_dir: str | os.PathLike | None,
    cache_dir: str | os.PathLike | None,
    mirrors: Sequence[str],
    sha256: Sha256Table | None,
    timeout: float,
) -> list[Path]:
    """Paths of the files ``stems`` (each as ``stem.gz`` or raw ``stem``), fetching missing ones.

    Looks, in order, in ``data_dir``, ``$NNE_DATA_DIR`` and the cache
    (``cache_dir`` or :func:`default_cache_dir`). The first of the first two
    that holds all ``stems`` wins and its files must match ``sha256``. In
    the cache, a file failing its check counts as missing; missing files are
    downloaded there (``stem.gz``) from ``mirrors`` in order, verified and
    written atomically. Each file is hashed once per process (memoised).

    Raises:
      DataError: a file in ``data_dir`` / ``$NNE_DATA_DIR`` fails its sha256
        check (the message names the file and both digests).
      DataNotFoundError: files missing and not downloadable; the message
        lists the missing files, the places searched, the mirror failures and
        how to supply the files.
    """
    looked: list[str] = []
    env_dir = os.environ.get("NNE_DATA_DIR") or None
    places = (("data_dir argument", data_dir, "not given"), ("$NNE_DATA_DIR", env_dir, "not set"))
    for label, directory, unset in places:
        if directory is None:
            looked.append(f"{label}: {unset}")
            continue
        directory = Path(directory).expanduser()
        if not directory.is_dir():
            looked.append(f"{label} {directory}: not a directory")
            continue
        found = [_candidates(directory, stem) for stem in stems]
        if all(found):
            paths = [c[0] for c in found]
            for path in paths:
                verify_file(path, sha256)
            return paths
        missing = [stem for stem, c in zip(stems, found) if not c]
        looked.append(f"{label} {directory}: missing {', '.join(_both(s) for s in missing)}")

    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    paths: list[Path | None] = []
    cache_notes: list[str] = []
    for stem in stems:
        good = None
        for path in _candidates(cache, stem):
            try:
                verify_file(path, sha256)
            except DataError:
                cache_notes.append(f"{path.name} failed its sha256 check (got {file_sha256(path)})")
                continue
            good = path
            break
        paths.append(good)
    missing = [stem for stem, p in zip(stems, paths) if p is None]
    if not missing:
        return paths  # type: ignore[return-value]
    cache_notes.insert(0, f"missing {', '.join(_both(s) for s in missing)}")
    looked.append(f"cache dir {cache}: {'; '.join(cache_notes)}")

    failures: list[str] = []
    if not mirrors:
        failures.append("downloads disabled (no mirrors given)")
    elif offline():
        failures.append(OFFLINE_REASON)
    for i, stem in enumerate(stems):
        if paths[i] is not None or not mirrors or offline():
            continue
        name = f"{stem}.gz"
        try:
            paths[i] = download_file(
                name,
                cache,
                mirrors,
                sha256=None if sha256 is None else sha256.get(name),
                validate=_idx_validator(_idx_magic(stem)),
                timeout=timeout,
            )
        except DownloadError as e:
            failures.extend(f"{name} from {f}" for f in e.failures)
        except OSError as e:  # the cache directory cannot be created or written
            failures.append(f"{name}: cannot write to {cache}: {e}")
    still = [stem for stem, p in zip(stems, paths) if p is None]
    if not still:
        return paths  # type: ignore[return-value]
    raise DataNotFoundError(_not_found_message(still, looked, failures, cache))


def _both(stem: str) -> str:
    return f"{stem}.gz (or {stem})"


def _not_found_message(
    missing: Sequence[str], looked: Sequence[str], failures: Sequence[str], cache: Path
) -> str:
    names = ", ".join(f"{s}.gz" for s in missing)
    lines = [f"data files not found and could not be downloaded: {names}", "Looked in:"]
    lines += [f"  - {x}" for x in looked]
    lines.append("Downloads tried:")
    lines += [f"  - {x}" for x in failures]
    lines += [
        "To supply the files: put them (gzip or uncompressed, original names) in a directory",
        "and set NNE_DATA_DIR=/that/dir or pass data_dir='/that/dir', "
        f"or copy them into the cache dir {cache} .",
    ]
    return "\n".join(lines)
