"""``load_mnist``: MNIST (or any MNIST-format set) as numpy arrays, found, fetched and cached."""

from __future__ import annotations

import functools
import os
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from nne_jax.data.checksums import MNIST_SHA256, Sha256Table
from nne_jax.data.errors import DataNotFoundError
from nne_jax.data.idx import read_idx_pair
from nne_jax.data.locate import locate_files

__all__ = ["DEFAULT_MIRRORS", "MNIST_FILES", "load_mnist"]

#: Base URLs tried in order; the file name is appended.
DEFAULT_MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "https://yann.lecun.com/exdb/mnist/",
)

#: split -> (images file, labels file), without the ``.gz`` suffix.
MNIST_FILES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def load_mnist(
    split: Literal["train", "test"],
    data_dir: str | os.PathLike | None = None,
    *,
    source: Literal["idx", "tfds"] = "idx",
    normalize: bool = True,
    mirrors: Sequence[str] | None = None,
    cache_dir: str | os.PathLike | None = None,
    sha256: Sha256Table | None = MNIST_SHA256,
    timeout: float = 30.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Load the MNIST ``"train"`` (60000) or ``"test"`` (10000) split.

    With ``source="idx"`` the four original IDX files (``*.gz`` or raw) are
    looked for, in order, in ``data_dir``, ``$NNE_DATA_DIR`` and the cache
    (``cache_dir``, default :func:`default_cache_dir`); files there are
    checked against ``sha256`` once per process. Files missing from all
    three are downloaded into the cache from ``mirrors`` (default
    :data:`DEFAULT_MIRRORS`; ``()`` disables downloading). Any MNIST-format
    set (e.g. Fashion-MNIST) loads the same way: pass its ``data_dir`` (or
    mirrors and a separate ``cache_dir``) and its own ``sha256`` table, or
    ``sha256=None`` to skip checksums. Decoded arrays are kept in an
    in-process LRU cache keyed by resolved file path (and size/mtime), so
    repeated calls are cheap; the returned arrays are therefore read-only
    (``.copy()`` them to modify in place).

    ``source="tfds"`` loads ``mnist`` through tensorflow-datasets instead
    (``pip install nne_jax[tfds]``; ``data_dir`` is passed on as its data
    dir); same shapes and dtypes. If tfds has no prepared copy and its
    server is unreachable it fails at once (:class:`DataNotFoundError`)
    instead of retrying for minutes.

    Args:
      split: ``"train"`` or ``"test"``.
      data_dir: directory holding the IDX files; searched first.
      source: ``"idx"`` (default) or ``"tfds"``.
      normalize: if True (default) images are float32 ``x / 255`` in
        [0, 1]; if False the raw uint8 pixels.
      mirrors: base URLs to download missing files from, in order.
      cache_dir: download cache; overrides ``$NNE_CACHE_DIR`` etc.
      sha256: file name -> expected sha256 (default: MNIST's); None: no check.
      timeout: per-request download timeout in seconds.

    Returns:
      ``(images, labels)``: images ``(N, 28, 28)`` float32 in [0, 1] (uint8
      if ``normalize=False``), labels ``(N,)`` int32 digit values 0..9.

    Raises:
      ValueError: unknown ``split`` or ``source``.
      DataError: a file is corrupt, truncated or fails its sha256 check.
      DataNotFoundError: files missing and not downloadable (message says
        where it looked, which mirrors failed and how to supply the files).
      ImportError: ``source="tfds"`` without tensorflow-datasets.
      DataNotFoundError: also for ``source="tfds"`` offline without a prepared copy.
    """
    if split not in MNIST_FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if source == "tfds":
        if mirrors is not None or cache_dir is not None:
            raise ValueError("mirrors and cache_dir only apply to source='idx'")
        return _load_tfds(split, data_dir, normalize)
    if source != "idx":
        raise ValueError(f"source must be 'idx' or 'tfds', got {source!r}")
    images_path, labels_path = locate_files(
        MNIST_FILES[split],
        data_dir=data_dir,
        cache_dir=cache_dir,
        mirrors=DEFAULT_MIRRORS if mirrors is None else tuple(mirrors),
        sha256=sha256,
        timeout=timeout,
    )
    keys = [_file_key(p) for p in (images_path, labels_path)]
    if normalize:
        return _normalized(*keys)
    return _decoded(*keys)


_FileKey = tuple[str, int, int, int]


def _file_key(path: Path) -> _FileKey:
    p = path.resolve()
    st = p.stat()
    return str(p), st.st_size, st.st_mtime_ns, st.st_ino


@functools.lru_cache(maxsize=4)
def _decoded(images: _FileKey, labels: _FileKey) -> tuple[np.ndarray, np.ndarray]:
    """Read-only uint8 images ``(N, rows, cols)`` and int32 labels ``(N,)``."""
    x, y = read_idx_pair(images[0], labels[0])
    y = y.astype(np.int32)
    x.flags.writeable = False
    y.flags.writeable = False
    return x, y


@functools.lru_cache(maxsize=2)
def _normalized(images: _FileKey, labels: _FileKey) -> tuple[np.ndarray, np.ndarray]:
    """Read-only float32 images ``x / 255`` ``(N, rows, cols)`` and int32 labels ``(N,)``."""
    x, y = _decoded(images, labels)
    x = x.astype(np.float32) / np.float32(255)
    x.flags.writeable = False
    return x, y


#: Where tensorflow-datasets downloads MNIST from (probed before it is asked to download).
TFDS_HOST = ("storage.googleapis.com", 443)


def _online(host: tuple[str, int] = TFDS_HOST, timeout: float = 3.0) -> bool:
    """Whether a TCP connection to ``host`` opens within ``timeout`` seconds."""
    try:
        socket.create_connection(host, timeout=timeout).close()
    except OSError:
        return False
    return True


def _load_tfds(
    split: str, data_dir: str | os.PathLike | None, normalize: bool
) -> tuple[np.ndarray, np.ndarray]:
    """MNIST through tensorflow-datasets: the prepared copy in ``data_dir`` (tfds' default if None), else a
    download, but only when tfds' server answers; offline it fails at once, pointing at the IDX route."""
    try:
        import tensorflow_datasets as tfds
    except ImportError as e:
        raise ImportError(
            "load_mnist(source='tfds') needs tensorflow-datasets and TensorFlow, which are not installed: "
            f"pip install nne_jax[tfds]  (or use the default source='idx'; import error: {e})"
        ) from e
    kwargs = {"split": split, "batch_size": -1, "as_supervised": True,
              "data_dir": None if data_dir is None else os.fspath(data_dir)}
    try:
        ds = tfds.load("mnist", download=False, **kwargs)
    except Exception as e:  # tfds raises AssertionError / DatasetNotFoundError when nothing is prepared
        if not _online():
            raise DataNotFoundError(
                f"tensorflow-datasets has no prepared MNIST in {kwargs['data_dir'] or 'its default data dir'} "
                f"({type(e).__name__}) and cannot download it: {TFDS_HOST[0]} is unreachable. Use the IDX route "
                "instead: load_mnist(split) with the four MNIST files in $NNE_DATA_DIR or data_dir=..., or "
                "`nne-jax run --data-dir DIR` (see docs/data.md)."
            ) from e
        ds = tfds.load("mnist", download=True, **kwargs)
    images, labels = tfds.as_numpy(ds)
    x = np.asarray(images, np.uint8).reshape(-1, 28, 28)
    x = x.astype(np.float32) / np.float32(255) if normalize else x
    return x, np.asarray(labels, np.int32)
