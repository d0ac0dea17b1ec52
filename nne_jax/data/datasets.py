"""Any MNIST-format data set from a directory: IDX files (gzip or raw) or one ``.npz``, class subsets by spec.

A *data set directory* holds either

* four IDX files: the training and test images (``*idx3-ubyte``) and labels (``*idx1-ubyte``), ``.gz`` or
  raw, named as MNIST's (``train-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``, ...) or with any prefix and
  ``train`` / ``test`` or ``t10k`` in the name (KMNIST, Fashion-MNIST, ``emnist-digits-train-images-idx3-ubyte``);
* or one ``.npz`` file with arrays ``x_train, y_train, x_test, y_test`` (Keras' ``mnist.npz`` layout); the
  directory may also be given as the ``.npz`` file itself.

Images are ``(N, rows, cols)`` or ``(N, D)``, uint8 pixels (scaled by 1/255) or floats in [0, 1]; labels are
non-negative integers. Every file's sha256 is checked against a table (``--sha256 FILE``) or not at all
(``--sha256 none``), and recorded in :func:`dataset_info` either way.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from nne_jax.data.checksums import MNIST_SHA256, Sha256Table, file_sha256
from nne_jax.data.errors import DataError
from nne_jax.data.idx import read_idx_pair

__all__ = ["class_spec", "dataset_files", "dataset_info", "load_dataset_split", "parse_classes", "read_sha256_table"]

_SPLIT_WORDS = {"train": ("train",), "test": ("test", "t10k")}
_NPZ_KEYS = {"train": ("x_train", "y_train"), "test": ("x_test", "y_test")}


def parse_classes(spec: str | Sequence[int]) -> tuple[int, ...]:
    """Class labels from ``"0,3,5"``, ``"0-4"`` or a mix (``"0-2,7"``), sorted; a sequence of ints passes through.

    Raises:
      ValueError: an empty spec, a part that is not an integer or ``a-b`` range, a range with ``a > b``, a
        negative label, or a label given twice (the message names the part).
    """
    if not isinstance(spec, str):
        labels = [int(c) for c in spec]
    else:
        labels = []
        for part in (p.strip() for p in spec.split(",")):
            m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
            if not m:
                raise ValueError(f"classes {spec!r}: {part!r} is not a label or a range a-b (e.g. 0,3,5 or 0-4)")
            lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
            if lo > hi:
                raise ValueError(f"classes {spec!r}: range {part!r} runs backwards")
            labels += range(lo, hi + 1)
    if not labels:
        raise ValueError(f"classes {spec!r}: no class given")
    if min(labels) < 0:
        raise ValueError(f"classes {spec!r}: labels must be >= 0")
    dupes = sorted({c for c in labels if labels.count(c) > 1})
    if dupes:
        raise ValueError(f"classes {spec!r}: {dupes} given more than once")
    return tuple(sorted(labels))


def class_spec(classes: Sequence[int]) -> str:
    """The canonical spec of a class set: runs of consecutive labels as ``a-b``, e.g. ``(0, 1, 2, 5) -> "0-2,5"``."""
    parts, run = [], [classes[0]]
    for c in classes[1:]:
        if c == run[-1] + 1:
            run.append(c)
            continue
        parts.append(run)
        run = [c]
    parts.append(run)
    return ",".join(f"{r[0]}-{r[-1]}" if len(r) > 2 else ",".join(map(str, r)) for r in parts)


def read_sha256_table(path: str | os.PathLike) -> dict[str, str]:
    """A sha256 table from a file: ``sha256sum`` output (``<hex>  <name>`` per line) or a JSON object.

    Raises:
      DataError: the file is missing or a line / value is not a 64-digit hex digest (naming the line).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"--sha256 {path}: no such file (give a sha256sum-style file, a JSON table, or 'none')")
    text = path.read_text()
    if text.lstrip().startswith("{"):
        table = {str(k): str(v) for k, v in json.loads(text).items()}
    else:
        table = {}
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.split(maxsplit=1)
            if len(parts) != 2:
                raise DataError(f"{path}:{n}: expected '<sha256>  <file name>', got {line!r}")
            table[Path(parts[1].strip().lstrip("*")).name] = parts[0]
    for name, digest in table.items():
        if not re.fullmatch(r"[0-9a-fA-F]{64}", digest):
            raise DataError(f"{path}: {digest!r} for {name} is not a sha256 digest (64 hex digits)")
    return table


def dataset_files(data_dir: str | os.PathLike) -> dict[str, tuple[Path, ...]]:
    """The files of a data set directory: ``{"train": (images, labels), "test": (images, labels)}`` for IDX,
    ``{"train": (npz,), "test": (npz,)}`` for an ``.npz``.

    Raises:
      DataError: the path does not exist, holds no data set, or a file is ambiguous (the message lists the
        candidates and the expected names).
    """
    path = Path(data_dir).expanduser()
    if path.is_file() and path.suffix == ".npz":
        return {"train": (path,), "test": (path,)}
    if not path.is_dir():
        raise DataError(f"--data-dir {path}: not a directory (nor an .npz file)")
    files = sorted(p for p in path.iterdir() if p.is_file())
    idx = [p for p in files if re.search(r"idx[13]-ubyte(\.gz)?$", p.name)]
    npz = [p for p in files if p.suffix == ".npz"]
    if not idx and len(npz) == 1:
        return {"train": npz, "test": npz}
    if not idx:
        raise DataError(f"--data-dir {path}: no IDX files (*-idx3-ubyte[.gz], *-idx1-ubyte[.gz]) and "
                        f"{'several' if npz else 'no'} .npz file(s); found {[p.name for p in files][:10]}")
    out = {}
    for split, words in _SPLIT_WORDS.items():
        pair = []
        for kind, ndim in (("images", 3), ("labels", 1)):
            found = [p for p in idx if f"idx{ndim}-ubyte" in p.name and any(w in p.name.lower() for w in words)]
            found = _prefer_gzip(found)
            if len(found) != 1:
                what = "none" if not found else f"several: {[p.name for p in found]}"
                raise DataError(f"--data-dir {path}: need one {split} {kind} file (a name with "
                                f"{' or '.join(words)} and idx{ndim}-ubyte, e.g. {_example(split, kind)}), found {what}")
            pair.append(found[0])
        out[split] = tuple(pair)
    return out


def _prefer_gzip(paths: list[Path]) -> list[Path]:
    """``x.gz`` and ``x`` side by side are the same file: keep the gzip one."""
    names = {p.name for p in paths}
    return [p for p in paths if not (p.suffix != ".gz" and f"{p.name}.gz" in names)]


def _example(split: str, kind: str) -> str:
    return f"{'train' if split == 'train' else 't10k'}-{kind}-idx{3 if kind == 'images' else 1}-ubyte.gz"


def _check_digests(paths: Sequence[Path], sha256: Sha256Table | None, source: str) -> None:
    """Every file must have an entry in the table and match it (no table: nothing checked)."""
    if sha256 is None:
        return
    for p in paths:
        expected = sha256.get(p.name)
        if expected is None:
            raise DataError(f"{p}: no sha256 for {p.name} in {source}; add it, or pass --sha256 none to skip checks")
        got = file_sha256(p)
        if got != expected.lower():
            raise DataError(f"{p}: sha256 mismatch: expected {expected} ({source}), got {got}. The file is corrupt or "
                            "another data set; pass its own table (--sha256 FILE) or --sha256 none")


def load_dataset_split(data_dir: str | os.PathLike, split: str, sha256: Sha256Table | None = MNIST_SHA256,
                       sha256_source: str = "MNIST's known digests") -> tuple[np.ndarray, np.ndarray]:
    """One split of a data set directory: images ``(N, rows, cols)`` or ``(N, D)`` float32 in [0, 1], labels int32.

    Raises:
      DataError: missing/ambiguous files, a failed or missing digest, malformed arrays (naming file and key).
    """
    paths = dataset_files(data_dir)[split]
    _check_digests(paths, sha256, sha256_source)
    if paths[0].suffix == ".npz":
        return _load_npz(paths[0], split)
    x, y = read_idx_pair(*paths)
    return x.astype(np.float32) / np.float32(255), y.astype(np.int32)


def _load_npz(path: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    with np.load(path, allow_pickle=False) as npz:
        xk, yk = _NPZ_KEYS[split]
        missing = [k for k in (xk, yk) if k not in npz.files]
        if missing:
            raise DataError(f"{path}: no array {missing} (has {npz.files}; expected x_train, y_train, x_test, y_test)")
        x, y = npz[xk], npz[yk]
    if x.ndim < 2 or y.ndim != 1 or len(x) != len(y):
        raise DataError(f"{path}: {xk} {x.shape} and {yk} {y.shape} must be (N, ...) images and (N,) labels")
    if not np.issubdtype(y.dtype, np.integer) or (y.size and y.min() < 0):
        raise DataError(f"{path}: {yk} must hold non-negative integer labels, got dtype {y.dtype}")
    if x.dtype == np.uint8:
        x = x.astype(np.float32) / np.float32(255)
    elif np.issubdtype(x.dtype, np.floating):
        if not np.all(np.isfinite(x)) or x.min() < 0 or x.max() > 1:
            raise DataError(f"{path}: float {xk} must be finite and in [0, 1] (got [{x.min()}, {x.max()}])")
        x = x.astype(np.float32)
    else:
        raise DataError(f"{path}: {xk} must be uint8 pixels or floats in [0, 1], got dtype {x.dtype}")
    return x, y.astype(np.int32)


def dataset_info(data_dir: str | os.PathLike, sha256: Sha256Table | None, sha256_source: str) -> dict[str, object]:
    """What a results file records about a data set directory: name, format, each file's sha256, whether checked."""
    files = dataset_files(data_dir)
    unique = sorted({p for pair in files.values() for p in pair})
    path = Path(data_dir).expanduser().resolve()
    return {"name": path.stem if path.is_file() else path.name, "data_dir": str(path),
            "format": "npz" if unique[0].suffix == ".npz" else "idx",
            "files": {p.name: file_sha256(p) for p in unique},
            "sha256_checked_against": None if sha256 is None else sha256_source}


def mnist_info(paths: Mapping[str, str] | None = None) -> dict[str, object]:
    """The record for MNIST found the default way (``$NNE_DATA_DIR`` / cache / download, checked against its digests)."""
    return {"name": "mnist", "data_dir": None, "format": "idx", "files": dict(paths or {}),
            "sha256_checked_against": "MNIST's known digests"}
