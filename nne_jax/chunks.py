"""One helper: apply a batched function over the leading axis in chunks, with bounded memory.

Every "evaluate this many rows/genotypes at most ``chunk`` at a time" in nne_jax goes through
:func:`map_in_chunks` (population fitness, test-set accuracy, DNN features and readouts).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

__all__ = ["map_in_chunks"]


def map_in_chunks(fn: Callable[[Any], Any], xs: Any, chunk: int | None) -> Any:
    """``fn(xs)`` computed ``chunk`` rows at a time (``lax.map``); ``None`` or ``chunk >= M``: one call.

    Args:
      fn: a batched function: a pytree of ``(c, ...)`` arrays -> a pytree of ``(c, ...)`` arrays, row ``i``
        of the output depending only on row ``i`` of the input.
      xs: a pytree of arrays sharing the leading size ``M``.
      chunk: rows per step (bounds the temporaries to ``chunk`` rows' worth).

    Returns:
      ``fn``'s outputs for all ``M`` rows, ``(M, ...)`` per leaf. The last chunk is padded with zero
      rows whose outputs are dropped, so ``fn`` must be finite on zeros.
    """
    leaves = jax.tree_util.tree_leaves(xs)
    if not leaves:
        raise ValueError("map_in_chunks needs at least one array")
    m = leaves[0].shape[0]
    if any(leaf.shape[:1] != (m,) for leaf in leaves):
        raise ValueError(f"map_in_chunks: every array needs the same leading size, got {[leaf.shape for leaf in leaves]}")
    if chunk is not None and chunk < 1:
        raise ValueError(f"chunk must be >= 1 or None, got {chunk}")
    if chunk is None or chunk >= m:
        return fn(xs)
    num = -(-m // chunk)

    def split(leaf):
        pad = jnp.pad(leaf, [(0, num * chunk - m)] + [(0, 0)] * (leaf.ndim - 1))
        return pad.reshape(num, chunk, *leaf.shape[1:])

    out = jax.lax.map(fn, jax.tree_util.tree_map(split, xs))
    return jax.tree_util.tree_map(lambda o: o.reshape(num * chunk, *o.shape[2:])[:m], out)
