"""The paper's MNIST tasks (digits 0–4 or 0–9), or any class subset of any MNIST-format set: a small
balanced training set, a validation set and the task's test set."""
from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np

from nne_jax.data.checksums import MNIST_SHA256, Sha256Table, file_sha256
from nne_jax.data.datasets import (
    dataset_info,
    load_dataset_split,
    mnist_info,
    parse_classes,
)
from nne_jax.data.errors import DataError
from nne_jax.data.locate import locate_files
from nne_jax.data.mnist import MNIST_FILES, load_mnist
from nne_jax.data.subsets import balanced_subset_indices, filter_classes

__all__ = ["TASK_CLASSES", "load_task_data"]

TASK_CLASSES: dict[str, tuple[int, ...]] = {"0-4": tuple(range(5)), "0-9": tuple(range(10))}


def load_task_data(task: str | Sequence[int] = "0-9", per_class: int = 200, seed: int = 0, validation: int = 1000,
                   data_dir: str | os.PathLike | None = None, *, sha256: Sha256Table | None = MNIST_SHA256,
                   sha256_source: str = "MNIST's known digests") -> dict[str, Any]:
    """Arrays for one task, images flattened to ``(M, D)`` float32 in [0, 1] (``D = 784`` for MNIST):

    * ``train_x, train_y``: ``per_class`` random training images of each class (Section 3.1: 200),
      drawn with ``jax.random.PRNGKey(10_000 + seed)``;
    * ``val_x, val_y``: up to ``validation`` other training images of the task's classes (for choosing
      step sizes without touching the test set);
    * ``test_x, test_y``: every test image of the task's classes;
    * ``classes``: the task's original labels, sorted; labels above are their positions ``0 … C-1`` (the
      identity for ``"0-4"`` and ``"0-9"``), so a network needs ``C`` outputs;
    * ``dataset``: name, format and each file's sha256 (see :func:`~nne_jax.data.datasets.dataset_info`).

    Args:
      task: ``"0-4"``, ``"0-9"`` or any class spec (``"0,3,5"``, ``"2-7"``) or sequence of labels.
      data_dir: ``None``: MNIST, found as :func:`~nne_jax.data.load_mnist` finds it; else a data set
        directory (IDX files or an ``.npz``, see :mod:`nne_jax.data.datasets`), read from there only.
      sha256: for ``data_dir``: file name -> digest, every file must match; ``None``: no check.

    Raises:
      ValueError: a bad class spec. DataError: bad files, a failed digest, a class missing from the data
        or with fewer than ``per_class`` training images.
    """
    classes = parse_classes(TASK_CLASSES.get(task, task) if isinstance(task, str) else task)
    if data_dir is None:
        (x, y), (xt, yt) = load_mnist("train"), load_mnist("test")
        info = mnist_info(_mnist_digests())
    else:
        x, y = load_dataset_split(data_dir, "train", sha256, sha256_source)
        xt, yt = load_dataset_split(data_dir, "test", sha256, sha256_source)
        info = dataset_info(data_dir, sha256, sha256_source)
    absent = [c for c in classes if not np.any(y == c)]
    if absent:
        raise DataError(f"{info['name']}: classes {absent} have no training images (labels present: {np.unique(y).tolist()})")
    x = x.reshape(len(x), -1)
    key = jax.random.PRNGKey(10_000 + seed)
    train_idx = np.asarray(balanced_subset_indices(y, per_class, classes, key))
    rest = np.setdiff1d(np.flatnonzero(np.isin(y, classes)), train_idx)
    val_idx = np.sort(np.asarray(jax.random.choice(jax.random.fold_in(key, 1), rest, (min(validation, len(rest)),), replace=False)))
    xt, yt = filter_classes(xt, yt, classes)
    position = np.full(max(int(y.max()), int(np.max(yt, initial=0)), max(classes)) + 1, -1, np.int32)
    position[list(classes)] = np.arange(len(classes), dtype=np.int32)
    return {
        "train_x": x[train_idx], "train_y": position[y[train_idx]], "val_x": x[val_idx], "val_y": position[y[val_idx]],
        "test_x": np.asarray(xt).reshape(len(xt), -1), "test_y": position[np.asarray(yt)],
        "classes": np.asarray(classes), "dataset": {**info, "classes": list(classes)},
    }


def _mnist_digests() -> dict[str, str]:
    """sha256 of the MNIST files just loaded (found again without downloading; hashes are memoised)."""
    paths = [p for split in ("train", "test") for p in locate_files(MNIST_FILES[split], data_dir=None, cache_dir=None, mirrors=(),
                                                                      sha256=MNIST_SHA256, timeout=30.0)]
    return {p.name: file_sha256(p) for p in paths}
