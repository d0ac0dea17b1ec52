"""Allele fixation's compaction: a task over the free genes only (the paper's further work).

Measured on the ``fused`` CPU path, the compacted task is today *slower* than the full one (0.78–0.99×;
the fixed genes' offset inside the fused blocks costs more than the smaller ``W`` saves; see
docs/further_work.md): fixation pays in accuracy of sampled genotypes, not in time.

With ``NNE(fixation=τ)`` a gene whose ``min(p, 1 − p) <= τ`` is *fixed*: its allele is the same in
every genotype from then on. Its share of the link weights, ``W[:, fixed] · round(p[fixed])``, is
then one constant ``(S,)`` vector, so a generation need not touch its column of ``W`` at all:

    W x = W[:, free] x[free] + offset,    offset = W[:, fixed] round(p[fixed])

:func:`compact_task` builds that task: ``wg`` keeps only the free genes' columns (the
``O(nnz · N)`` weight generation shrinks with them), ``genes`` says which genes they are and
``offset`` carries the rest. :func:`nne_jax.generation.run_generations` re-compacts at every chunk
boundary. Shapes are rounded up to ``1 / buckets`` of the full ones, so a run compiles at most
about ``buckets`` versions of its generation, not one per chunk. The compacted task computes the
same logits as the full one for every genotype that agrees with the fixed alleles (tested); the
strategy (sampling, allele rewards, update) still works on all ``n`` genes, so a compacted run
follows the same random stream as an uncompacted one.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import jax.numpy as jnp
import numpy as np

from nne_jax.blocks import regroup
from nne_jax.strategy import NNEState
from nne_jax.weights import generate_weights, select_columns

if TYPE_CHECKING:
    from nne_jax.tasks.mlp import MLPTask

__all__ = ["compact_task", "free_fraction"]


def _round_up(value: int, step: int) -> int:
    step = max(step, 1)  # an empty W (no nonzeros) rounds to 1, not a division by zero
    return max(step, -(-value // step) * step)


def compact_task(task: MLPTask, state: NNEState, buckets: int = 16) -> MLPTask:
    """The task restricted to the genes ``state`` has not fixed (host-side; a few ms).

    Args:
      task: the full task (not an already compacted one).
      state: an NNE state; ``state.fixed`` ``(n,)`` marks fixed genes, whose alleles are
        ``round(state.allele_freqs)``.
      buckets: shapes (gene count, nonzeros, block length) are rounded up to multiples of
        ``1 / buckets`` of the full task's, bounding recompilation.

    Returns:
      An :class:`MLPTask` with ``genes`` ``(n',)``, ``offset`` ``(S,)`` and ``wg`` ``(S, n')``,
      ``n' >= #free``; its ``num_genes`` is still ``n``.
    """
    if task.genes is not None or task.offset is not None:
        raise ValueError("compact_task needs the full task (this one is already compacted)")
    if buckets < 1:
        raise ValueError(f"buckets must be >= 1, got {buckets}")
    n = task.wg.num_genes
    fixed = np.asarray(state.fixed, bool)
    if fixed.shape != (n,):
        raise ValueError(f"state.fixed must have shape ({n},), got {fixed.shape}")
    alleles = np.where(fixed, np.round(np.asarray(state.allele_freqs)), 0.0).astype(np.float32)
    offset = generate_weights(task.wg, jnp.asarray(alleles))
    free = np.flatnonzero(~fixed)
    width = min(n, _round_up(free.size, -(-n // buckets)))
    kept = int(np.sum(~fixed[np.asarray(task.wg.indices)[: int(task.wg.indptr[-1])]]))
    wg = select_columns(task.wg, free, nnz=min(task.wg.nnz, _round_up(kept, -(-task.wg.nnz // buckets))))
    wg = wg.replace(num_genes=width)  # extra columns are empty: padding genes add nothing
    genes = np.zeros(width, np.int32)
    genes[: free.size] = free
    blocks = None if task.blocks is None else regroup(task.blocks, wg, buckets)
    return task.replace(wg=wg, blocks=blocks, genes=jnp.asarray(genes), offset=offset, total_genes=n)


def free_fraction(task: MLPTask) -> float:
    """Fraction of ``W``'s columns a (compacted) task still multiplies."""
    return 1.0 if task.genes is None else task.wg.num_genes / task.num_genes
