"""Reductions whose result does not depend on the leading (batch) shape, so ``vmap`` changes no bit (ours).

XLA:CPU orders a reduction (``jnp.sum``, ``jnp.mean``) differently for different leading shapes: the
same row sums to results 1 ulp apart inside and outside ``jax.vmap``. A vmapped sweep
(``examples/sweep.py``) then drifts from its single runs: the ulps move ``p`` by ~1e-7, which flips a
few of the ``N·n`` Bernoulli draws of the next generation, and the runs part. The fitness and the
allele rewards therefore sum with :func:`fixed_order_sum`.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

Array = jax.Array

__all__ = ["fixed_order_sum"]


def fixed_order_sum(values: Array) -> Array:
    """Sum over the last axis in an order that does not depend on the leading shape (ours): ``(..., K) -> (...)``.

    A pairwise tree of elementwise adds (the last axis zero-padded to a power of two, then halved
    ``ceil(log2 K)`` times): the same for every leading shape, and no less accurate than a sequential sum.
    """
    k = values.shape[-1]
    if k == 0:
        return jnp.zeros(values.shape[:-1], values.dtype)
    width = 1 << (k - 1).bit_length()
    if width != k:
        values = jnp.concatenate([values, jnp.zeros(values.shape[:-1] + (width - k,), values.dtype)], axis=-1)
    while values.shape[-1] > 1:
        half = values.shape[-1] // 2
        values = values[..., :half] + values[..., half:]
    return values[..., 0]
