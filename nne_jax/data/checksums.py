"""Known sha256 digests of the MNIST files and a memoised file hasher."""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Mapping
from pathlib import Path

from nne_jax.data.errors import DataError

__all__ = ["MNIST_SHA256", "Sha256Table", "file_sha256", "verify_file"]

#: File name -> expected sha256. ``None`` (no table) means "do not verify".
Sha256Table = Mapping[str, str]

#: sha256 of the original MNIST files, gzip-compressed and raw (what ``gunzip`` gives).
MNIST_SHA256: Mapping[str, str] = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}


@functools.lru_cache(maxsize=256)
def _sha256_of(path: str, size: int, mtime_ns: int, inode: int) -> str:
    del size, mtime_ns, inode  # only part of the cache key
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, computed once per process per (path, size, mtime, inode)."""
    p = Path(path).resolve()
    st = p.stat()
    return _sha256_of(str(p), st.st_size, st.st_mtime_ns, st.st_ino)


def verify_file(path: str | os.PathLike, sha256: Sha256Table | None) -> None:
    """Check ``path`` against ``sha256[path.name]``; no-op without a table or entry.

    Raises:
      DataError: naming the file and both digests if they differ.
    """
    path = Path(path)
    expected = None if sha256 is None else sha256.get(path.name)
    if expected is None:
        return
    got = file_sha256(path)
    if got != expected.lower():
        raise DataError(
            f"{path}: sha256 mismatch: expected {expected}, got {got}. The file is corrupt "
            "or not the expected data set; replace or delete it."
        )
