"""Data layer: MNIST-format IDX files, found / downloaded / cached, and class subsets.

Public API: :func:`load_mnist`, :func:`read_idx`, :func:`balanced_subset`,
:func:`filter_classes`, :class:`DataError`, :data:`MNIST_SHA256`,
:data:`DEFAULT_MIRRORS`, :func:`default_cache_dir` (plus a few helpers).
"""

from nne_jax.data.augment import random_shift
from nne_jax.data.checksums import MNIST_SHA256
from nne_jax.data.errors import DataError, DataNotFoundError
from nne_jax.data.idx import read_idx, read_idx_pair
from nne_jax.data.locate import default_cache_dir
from nne_jax.data.mnist import DEFAULT_MIRRORS, load_mnist
from nne_jax.data.preprocess import flatten
from nne_jax.data.subsets import (
    balanced_subset,
    balanced_subset_indices,
    filter_classes,
    filter_classes_indices,
)

__all__ = [
    "DEFAULT_MIRRORS",
    "MNIST_SHA256",
    "DataError",
    "DataNotFoundError",
    "balanced_subset",
    "balanced_subset_indices",
    "default_cache_dir",
    "filter_classes",
    "filter_classes_indices",
    "random_shift",
    "flatten",
    "load_mnist",
    "read_idx",
    "read_idx_pair",
]
