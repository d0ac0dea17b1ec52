"""Tiny preprocessing helpers."""

from __future__ import annotations

import numpy as np

__all__ = ["flatten"]


def flatten(images: np.ndarray) -> np.ndarray:
    """``(N, rows, cols)`` images -> ``(N, rows * cols)`` float32 (e.g. ``(N, 784)``); no rescaling."""
    images = np.asarray(images)
    return images.reshape(images.shape[0], -1).astype(np.float32, copy=False)
