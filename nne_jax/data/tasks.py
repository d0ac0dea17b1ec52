"""The paper's MNIST tasks: digits 0–4 or 0–9, a small balanced training set, the task's test set."""
from __future__ import annotations

import jax
import numpy as np

from nne_jax.data.mnist import load_mnist
from nne_jax.data.subsets import balanced_subset_indices, filter_classes

__all__ = ["TASK_CLASSES", "load_task_data"]

TASK_CLASSES: dict[str, tuple[int, ...]] = {"0-4": tuple(range(5)), "0-9": tuple(range(10))}


def load_task_data(task: str, per_class: int = 200, seed: int = 0, validation: int = 1000, data_dir: str | None = None) -> dict[str, np.ndarray]:
    """Arrays for one task, images flattened to ``(M, 784)`` float32 in [0, 1]:

    * ``train_x, train_y``: ``per_class`` random training images of each digit (Section 3.1: 200),
      drawn with ``jax.random.PRNGKey(10_000 + seed)``;
    * ``val_x, val_y``: ``validation`` other training images of the task's digits (for choosing
      step sizes without touching the test set);
    * ``test_x, test_y``: every test image of the task's digits.
    """
    if task not in TASK_CLASSES:
        raise ValueError(f"unknown task {task!r}; choose from {sorted(TASK_CLASSES)}")
    classes = TASK_CLASSES[task]
    x, y = load_mnist("train", data_dir)
    x = x.reshape(len(x), -1)
    key = jax.random.PRNGKey(10_000 + seed)
    train_idx = np.asarray(balanced_subset_indices(y, per_class, classes, key))
    rest = np.setdiff1d(np.flatnonzero(np.isin(y, classes)), train_idx)
    val_idx = np.sort(np.asarray(jax.random.choice(jax.random.fold_in(key, 1), rest, (validation,), replace=False)))
    xt, yt = filter_classes(*load_mnist("test", data_dir), classes)
    return {
        "train_x": x[train_idx], "train_y": y[train_idx], "val_x": x[val_idx], "val_y": y[val_idx],
        "test_x": np.asarray(xt).reshape(len(xt), -1), "test_y": np.asarray(yt),
    }
