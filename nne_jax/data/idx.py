"""Reader for the IDX format of the original MNIST files (gzip-compressed or raw).

An IDX file is a 4-byte big-endian magic number ``0x0000TTDD`` (``TT`` the
element type, ``DD`` the number of dimensions), then one big-endian uint32 per
dimension, then the elements in row-major order. MNIST uses unsigned bytes
(``TT = 0x08``): magic 2051 (``0x00000803``) for images ``(N, rows, cols)`` and
2049 (``0x00000801``) for labels ``(N,)``. Any MNIST-format set (Fashion-MNIST,
KMNIST, ...) is read by the same code.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from nne_jax.data.errors import DataError

__all__ = ["IMAGES_MAGIC", "LABELS_MAGIC", "decode_idx", "read_idx", "read_idx_pair"]

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049
_GZIP_MAGIC = b"\x1f\x8b"
_UBYTE = 0x08


def decode_idx(data: bytes, name: str, *, magic: int | None = None) -> np.ndarray:
    """Decode the bytes of an IDX file (gzip-compressed or raw) into a uint8 array.

    Args:
      data: the file's bytes. Gzip is detected by its magic bytes ``1f 8b``
        or by ``name`` ending in ``.gz``.
      name: shown in error messages (a path or a URL).
      magic: if given, the required magic number (2051 images, 2049 labels).

    Returns:
      A writable uint8 array shaped as the header says, e.g. ``(N, 28, 28)``
      for MNIST images and ``(N,)`` for labels.

    Raises:
      DataError: corrupt or truncated gzip data, a truncated header or body,
        a wrong magic number, an unsupported element type, or trailing bytes.
    """
    if data[:2] == _GZIP_MAGIC or name.endswith(".gz"):
        try:
            data = gzip.decompress(data)
        except (EOFError, OSError, zlib.error) as e:  # BadGzipFile is an OSError
            raise DataError(f"{name}: corrupt or truncated gzip data ({e})") from e
    if len(data) < 4:
        raise DataError(f"{name}: truncated IDX file: {len(data)} bytes, no complete header")
    found = int.from_bytes(data[:4], "big")
    if magic is not None and found != magic:
        kind = {IMAGES_MAGIC: "images", LABELS_MAGIC: "labels"}.get(magic, "IDX")
        raise DataError(
            f"{name}: wrong magic number {found} (0x{found:08x}), expected {magic} "
            f"(0x{magic:08x}, MNIST {kind} file)"
        )
    if data[0] != 0 or data[1] != 0:
        raise DataError(f"{name}: wrong magic number 0x{found:08x}: not an IDX file")
    if data[2] != _UBYTE:
        raise DataError(f"{name}: unsupported IDX element type 0x{data[2]:02x} (only 0x08, uint8)")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(
            f"{name}: truncated IDX header: {len(data)} bytes, {ndim} dimensions need {header}"
        )
    dims = struct.unpack(f">{ndim}I", data[4:header])
    expected = header + math.prod(dims)
    if len(data) < expected:
        raise DataError(
            f"{name}: truncated IDX file: header says shape {dims} ({expected} bytes), "
            f"got only {len(data)} bytes"
        )
    if len(data) > expected:
        raise DataError(
            f"{name}: IDX length mismatch: header says shape {dims} ({expected} bytes), "
            f"got {len(data)} bytes ({len(data) - expected} trailing)"
        )
    return np.frombuffer(data, np.uint8, count=expected - header, offset=header).reshape(dims).copy()


def read_idx(path: str | os.PathLike, *, magic: int | None = None) -> np.ndarray:
    """Read one IDX file (``*.gz`` or raw) into a uint8 array; see :func:`decode_idx`.

    Returns ``(N, rows, cols)`` for an images file, ``(N,)`` for a labels file
    (rows and cols come from the header). Errors are :class:`DataError` naming ``path``.
    """
    path = Path(path)
    return decode_idx(path.read_bytes(), str(path), magic=magic)


def read_idx_pair(
    images_path: str | os.PathLike, labels_path: str | os.PathLike
) -> tuple[np.ndarray, np.ndarray]:
    """Read an images file (magic 2051) and its labels file (magic 2049).

    Returns:
      ``(images, labels)``: uint8 ``(N, rows, cols)`` and uint8 ``(N,)``.

    Raises:
      DataError: either file is invalid, or their counts ``N`` differ.
    """
    images = read_idx(images_path, magic=IMAGES_MAGIC)
    labels = read_idx(labels_path, magic=LABELS_MAGIC)
    if images.shape[0] != labels.shape[0]:
        raise DataError(
            f"image/label count mismatch: {images_path} holds {images.shape[0]} images, "
            f"{labels_path} holds {labels.shape[0]} labels"
        )
    return images, labels
