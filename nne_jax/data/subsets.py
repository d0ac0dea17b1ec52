"""Class subsets: balanced random draws and class filtering (e.g. the digits 0-4 task)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import jax
import numpy as np

from nne_jax.data.errors import DataError

__all__ = ["balanced_subset", "balanced_subset_indices", "filter_classes", "filter_classes_indices"]

A = TypeVar("A")


def _check_classes(labels: np.ndarray, classes: Sequence[int]) -> list[int]:
    classes = [int(c) for c in classes]
    if not classes:
        raise DataError("classes must not be empty")
    if len(set(classes)) != len(classes):
        raise DataError(f"classes has duplicates: {classes}")
    if labels.ndim != 1:
        raise DataError(f"labels must be 1-D (N,), got shape {labels.shape}")
    return classes


def balanced_subset_indices(
    labels: np.ndarray, per_class: int, classes: Sequence[int], key: jax.Array
) -> np.ndarray:
    """Indices of ``per_class`` random examples of each class, without replacement.

    The draw is a ``jax.random.permutation`` of all ``N`` indices under
    ``key``; each class takes its first ``per_class`` indices in that order.
    So it is deterministic per key, and a class's draw does not depend on
    which other classes are asked for.

    Args:
      labels: ``(N,)`` integer labels.
      per_class: examples per class, >= 1.
      classes: the class values to draw, e.g. ``range(5)``.
      key: a ``jax.random`` key.

    Returns:
      ``(per_class * len(classes),)`` int64 indices into ``labels``, ascending.

    Raises:
      DataError: ``classes`` empty or duplicated, ``per_class`` < 1, or a
        class with fewer than ``per_class`` examples.
    """
    labels = np.asarray(labels)
    classes = _check_classes(labels, classes)
    if per_class < 1:
        raise DataError(f"per_class must be >= 1, got {per_class}")
    perm = np.asarray(jax.random.permutation(key, labels.shape[0]))
    shuffled = labels[perm]
    chosen = []
    for c in classes:
        idx = perm[shuffled == c]
        if idx.size < per_class:
            raise DataError(f"class {c} has only {idx.size} examples, fewer than per_class={per_class}")
        chosen.append(idx[:per_class])
    return np.sort(np.concatenate(chosen)).astype(np.int64)


def balanced_subset(
    images: A, labels: A, per_class: int, classes: Sequence[int], key: jax.Array
) -> tuple[A, A]:
    """Exactly ``per_class`` random examples of each class in ``classes``.

    Args:
      images: ``(N, ...)`` numpy or jax array, e.g. ``(N, 28, 28)``.
      labels: ``(N,)`` labels; kept as the original class values.
      per_class, classes, key: see :func:`balanced_subset_indices`.

    Returns:
      ``(images[idx], labels[idx])``, shapes ``(per_class * len(classes), ...)``
      and ``(per_class * len(classes),)``, in original dataset order.
    """
    _check_lengths(images, labels)
    idx = balanced_subset_indices(np.asarray(labels), per_class, classes, key)
    return images[idx], labels[idx]  # type: ignore[index]


def filter_classes_indices(labels: np.ndarray, classes: Sequence[int]) -> np.ndarray:
    """Ascending indices of all examples whose label is in ``classes``.

    Raises:
      DataError: ``classes`` empty or duplicated, or a class has no examples.
    """
    labels = np.asarray(labels)
    classes = _check_classes(labels, classes)
    absent = [c for c in classes if not np.any(labels == c)]
    if absent:
        raise DataError(f"no examples of class(es) {absent}")
    return np.flatnonzero(np.isin(labels, classes))


def filter_classes(images: A, labels: A, classes: Sequence[int]) -> tuple[A, A]:
    """All examples of ``classes`` (e.g. ``range(5)`` for the 0-4 task), original order.

    Returns ``(images[idx], labels[idx])``: ``(M, ...)`` and ``(M,)``, labels unchanged.
    """
    _check_lengths(images, labels)
    idx = filter_classes_indices(np.asarray(labels), classes)
    return images[idx], labels[idx]  # type: ignore[index]


def _check_lengths(images: object, labels: object) -> None:
    n, m = len(images), len(labels)  # type: ignore[arg-type]
    if n != m:
        raise DataError(f"images and labels differ in length: {n} vs {m}")
