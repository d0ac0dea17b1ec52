"""The fused path's blocks: hidden units grouped by fan-in and cut into blocks of ``hb`` units.

The slot layout (:mod:`nne_jax.networks`) pads every hidden unit's incoming links to ``K``, the
*largest* fan-in: 112 slots at the paper's shape (784 inputs at density 0.1), where the mean fan-in
is 78.4. The padding slots are empty rows of ``W`` and read a constant-zero input, so they change
nothing, but the first layer's batched matmul ``(B, K) @ (K, N)`` per unit still spends 30 % of its
flops on them. Here the units are sorted by fan-in and cut into blocks of ``hb``; each block needs
only its own largest fan-in (rounded up to ``pad_to``), and consecutive blocks that need the same
``K_g`` form a :class:`UnitGroup` — one ``lax.scan`` of the fused path (7 groups, mean
``K_g`` ≈ 82 at the paper's shape). Only empty rows of ``W`` are dropped, so every group computes
exactly what the full layout does.
"""
from __future__ import annotations

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from nne_jax.networks import MaskedMLP
from nne_jax.weights import WeightGeneration, block_rows

Array = jax.Array

__all__ = ["UnitGroup", "unit_groups", "regroup"]


@flax.struct.dataclass
class UnitGroup:
    """Blocks of hidden units that all have fan-in ``<= K_g``.

    Attributes:
      in_idx: ``(num_blocks, hb, K_g)`` int32, the input read by each unit's first ``K_g``
        first-layer slots (as ``MaskedMLP.in_idx``; ``num_inputs`` = the constant-zero input).
      rows_in: ``(num_blocks, hb·K_g)`` int32, the slots (rows of ``W``) of each block's incoming
        links, unit by unit; ``rows_out``: ``(num_blocks, hb·C)``, those of its outgoing links.
      wg_in, wg_out: ``W[rows_in[b]]`` and ``W[rows_out[b]]`` for each block ``b``, stacked CSR
        matrices (:func:`~nne_jax.weights.block_rows`); kept apart so that each block's two weight
        matrices come out of the sparse product as separate arrays (no slicing copies).
    """

    in_idx: Array
    rows_in: Array
    rows_out: Array
    wg_in: WeightGeneration
    wg_out: WeightGeneration

    @property
    def slots_per_unit(self) -> int:
        """``K_g``."""
        return self.in_idx.shape[-1]

    @property
    def block_units(self) -> int:
        """``hb``."""
        return self.in_idx.shape[1]

    @property
    def num_units(self) -> int:
        return self.in_idx.shape[0] * self.in_idx.shape[1]


def unit_groups(arch: MaskedMLP, wg: WeightGeneration, block_units: int = 8, pad_to: int = 8) -> tuple[UnitGroup, ...]:
    """Sorts ``arch``'s hidden units by fan-in into blocks and groups the blocks by ``K_g`` (host-side).

    Args:
      arch: the masked net; ``wg`` its ``(S, n)`` weight-generation matrix.
      block_units: units per block; the largest divisor of ``num_hidden`` not above it is used.
      pad_to: each block's ``K_g`` is its largest fan-in rounded up to a multiple of this (at most
        ``arch.slots_per_unit``).

    Returns:
      The groups in increasing ``K_g``; together they hold every hidden unit exactly once.
    """
    if wg.num_rows != arch.num_slots:
        raise ValueError(f"W has {wg.num_rows} rows but the network has {arch.num_slots} link slots")
    if block_units < 1 or pad_to < 1:
        raise ValueError(f"block_units and pad_to must be >= 1, got {block_units}, {pad_to}")
    h, k, c = arch.num_hidden, arch.slots_per_unit, arch.num_classes
    hb = max(u for u in range(1, min(block_units, h) + 1) if h % u == 0)
    in_idx = np.asarray(arch.in_idx)
    fan_in = (in_idx < arch.num_inputs).sum(axis=1)
    units = np.argsort(fan_in, kind="stable").reshape(-1, hb)  # (num_blocks, hb)
    need = np.minimum(k, np.maximum(pad_to, -(-fan_in[units].max(axis=1) // pad_to) * pad_to))  # (num_blocks,)
    groups = []
    for kg in np.unique(need):  # blocks are sorted, so each K_g is a run of consecutive blocks
        u = units[need == kg]  # (nb, hb)
        first = u[:, :, None] * (k + c)  # (nb, hb, 1): each unit's first slot
        rows_in = (first + np.arange(kg)).reshape(u.shape[0], -1)
        rows_out = (first + k + np.arange(c)).reshape(u.shape[0], -1)
        groups.append(UnitGroup(jnp.asarray(in_idx[u, :kg]), jnp.asarray(rows_in, jnp.int32), jnp.asarray(rows_out, jnp.int32),
                                block_rows(wg, rows_in), block_rows(wg, rows_out)))
    return tuple(groups)


def regroup(groups: tuple[UnitGroup, ...], wg: WeightGeneration, buckets: int | None = None) -> tuple[UnitGroup, ...]:
    """The same groups over another ``W`` with the same rows (e.g. some columns dropped).

    ``buckets``: each group's block length is rounded up to a multiple of ``1 / buckets`` of its
    current length (and capped at it), so re-built groups share a few shapes; ``None``: exact.
    """
    indptr = np.asarray(wg.indptr, np.int64)

    def rebuilt(rows: Array, old: WeightGeneration) -> WeightGeneration:
        rows = np.asarray(rows)
        if buckets is None:
            return block_rows(wg, rows)
        full, needed = old.data.shape[-1], max(int((indptr[rows + 1] - indptr[rows]).sum(axis=1).max()), 1)
        step = -(-full // buckets)
        return block_rows(wg, rows, min(full, max(step, -(-needed // step) * step)))

    return tuple(g.replace(wg_in=rebuilt(g.rows_in, g.wg_in), wg_out=rebuilt(g.rows_out, g.wg_out)) for g in groups)
