"""The weight-generation matrix ``W`` (paper, Section 2): link weights are ``W x``.

``W`` is ``m × n`` (links × genes); each entry is nonzero independently with probability ``β``,
and a nonzero entry is uniform on [-1, 1]. It is stored sparsely in CSR form (about ``m·n·β``
nonzeros, never ``m·n`` floats). Rows are *link slots*: a network may reserve slots that are not
links (padding); those rows are kept empty, so their weight is always 0.
"""
from __future__ import annotations

from typing import Callable

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import sparse as jsparse

Array = jax.Array

__all__ = [
    "WeightGeneration",
    "weight_generation",
    "generate_weights",
    "generate_weights_t",
    "dense_matrix",
    "row_blocks",
    "GENE_MAPS",
    "select_columns",
]

# Gene -> weight maps ``g`` of "weights = g(W x)" (the paper's further work). Each has g(0) = 0, so
# empty rows (padding slots) keep weight 0 under every map.
GENE_MAPS: dict[str, Callable[[jax.Array], jax.Array]] = {"identity": lambda w: w, "tanh": jnp.tanh, "relu": jax.nn.relu}


@flax.struct.dataclass
class WeightGeneration:
    """A sparse ``(num_rows, num_genes)`` weight-generation matrix in CSR form.

    A *stack* of such matrices (a leading axis on all three arrays, e.g. from :func:`row_blocks`)
    is a valid pytree too: ``lax.scan`` over it yields one matrix per step.

    Attributes:
      data: ``(nnz,)`` float32 nonzero values, uniform on [-1, 1].
      indices: ``(nnz,)`` int32 gene (column) index of each nonzero, sorted within a row.
      indptr: ``(num_rows + 1,)`` int32 row pointers.
      num_genes: ``n`` (static).
    """

    data: Array
    indices: Array
    indptr: Array
    num_genes: int = flax.struct.field(pytree_node=False)

    @property
    def num_rows(self) -> int:
        return self.indptr.shape[-1] - 1

    @property
    def nnz(self) -> int:
        return self.data.shape[-1]

    def as_bcsr(self) -> jsparse.BCSR:
        return jsparse.BCSR((self.data, self.indices, self.indptr), shape=(self.num_rows, self.num_genes))


def _numpy_rng(key: Array) -> np.random.Generator:
    """A NumPy generator seeded deterministically from a JAX key (for one-off host-side sampling)."""
    return np.random.default_rng(np.asarray(jax.random.key_data(key)).ravel().tolist())


def weight_generation(
    key: Array, num_rows: int, num_genes: int, beta: float, active_rows: np.ndarray | None = None
) -> WeightGeneration:
    """Samples a weight-generation matrix ``W``.

    Every entry of an active row is nonzero with probability ``beta`` independently, with value
    ``U[-1, 1]``; inactive rows (padding slots) are empty.

    Args:
      key: PRNG key (the structure is sampled once, on the host, from this key).
      num_rows: number of link slots ``m`` (rows).
      num_genes: number of genes ``n`` (columns).
      beta: density ``β`` in (0, 1].
      active_rows: optional ``(num_rows,)`` bool mask; rows that are False stay empty.

    Returns:
      A :class:`WeightGeneration` with ``≈ β · n · #active`` nonzeros.
    """
    if not 0.0 < beta <= 1.0:
        raise ValueError(f"beta must be in (0, 1], got {beta}")
    if num_rows < 1 or num_genes < 1:
        raise ValueError(f"need num_rows >= 1 and num_genes >= 1, got {num_rows}, {num_genes}")
    rows = np.arange(num_rows) if active_rows is None else np.flatnonzero(np.asarray(active_rows, bool))
    if active_rows is not None and np.asarray(active_rows).shape != (num_rows,):
        raise ValueError(f"active_rows must have shape ({num_rows},), got {np.asarray(active_rows).shape}")
    rng = _numpy_rng(key)
    total = rows.size * num_genes
    count = rng.binomial(total, beta)
    flat = np.sort(rng.choice(total, size=count, replace=False))
    row = rows[flat // num_genes]
    col = (flat % num_genes).astype(np.int32)
    values = rng.uniform(-1.0, 1.0, size=count).astype(np.float32)
    indptr = np.zeros(num_rows + 1, np.int64)
    np.add.at(indptr, row + 1, 1)
    indptr = np.cumsum(indptr).astype(np.int32)
    return WeightGeneration(jnp.asarray(values), jnp.asarray(col), jnp.asarray(indptr), num_genes)


def generate_weights_t(wg: WeightGeneration, genotypes_t: Array) -> Array:
    """Link weights of a population, transposed: ``W @ x^T``.

    Args:
      wg: the weight-generation matrix, ``(m, n)``.
      genotypes_t: ``(n, N)`` genotypes, one column per individual.

    Returns:
      ``(m, N)`` float32 weights (a sparse-dense product: ``O(nnz · N)`` work).
    """
    if genotypes_t.shape[0] != wg.num_genes:
        raise ValueError(f"genotypes have {genotypes_t.shape[0]} genes, W has {wg.num_genes}")
    return wg.as_bcsr() @ genotypes_t.astype(jnp.float32)


def generate_weights(wg: WeightGeneration, genotypes: Array) -> Array:
    """Link weights ``W x`` for a batch of genotypes: ``(N, n) -> (N, m)``."""
    if genotypes.ndim == 1:
        return generate_weights_t(wg, genotypes[:, None])[:, 0]
    return generate_weights_t(wg, genotypes.T).T


def dense_matrix(wg: WeightGeneration) -> Array:
    """The dense ``(m, n)`` form of ``W`` (for tests and small problems)."""
    return wg.as_bcsr().todense()


def row_blocks(wg: WeightGeneration, rows_per_block: int, length: int | None = None) -> WeightGeneration:
    """``W`` cut into blocks of ``rows_per_block`` consecutive rows: a stack of CSR matrices.

    Returns a :class:`WeightGeneration` whose arrays have a leading block axis — ``data``,
    ``indices``: ``(num_blocks, L)`` (padded with zeros past each block's nonzeros, which no row
    pointer references), ``indptr``: ``(num_blocks, rows_per_block + 1)`` block-local — so a
    ``lax.scan`` over it generates one block of weights at a time (the fused path). Host-side, once.
    ``length`` pads ``L`` further (fixed shapes across re-built matrices, see :mod:`nne_jax.fixation`).
    """
    if wg.num_rows % rows_per_block:
        raise ValueError(f"rows_per_block={rows_per_block} does not divide the {wg.num_rows} rows of W")
    indptr = np.asarray(wg.indptr, np.int64)
    data, indices = np.asarray(wg.data), np.asarray(wg.indices)
    starts = indptr[:-1:rows_per_block]
    ends = indptr[rows_per_block::rows_per_block]
    needed = max(int((ends - starts).max()), 1)
    if length is not None and length < needed:
        raise ValueError(f"length={length} is below the largest block's {needed} nonzeros")
    length = needed if length is None else length
    nb = len(starts)
    bdata = np.zeros((nb, length), np.float32)
    bidx = np.zeros((nb, length), np.int32)
    bptr = np.zeros((nb, rows_per_block + 1), np.int32)
    for b, (lo, hi) in enumerate(zip(starts, ends)):  # one-off host-side construction
        bdata[b, : hi - lo], bidx[b, : hi - lo] = data[lo:hi], indices[lo:hi]
        bptr[b] = indptr[b * rows_per_block : (b + 1) * rows_per_block + 1] - lo
    return WeightGeneration(jnp.asarray(bdata), jnp.asarray(bidx), jnp.asarray(bptr), wg.num_genes)


def select_columns(wg: WeightGeneration, columns: np.ndarray, nnz: int | None = None) -> WeightGeneration:
    """``W[:, columns]`` as a new CSR matrix over ``len(columns)`` genes (host-side).

    ``columns`` may repeat an index only if that column is empty; ``nnz`` pads ``data``/``indices``
    with zeros past the last row pointer (fixed shapes across re-built matrices).
    """
    columns = np.asarray(columns, np.int64)
    if columns.ndim != 1 or (columns.size and (columns.min() < 0 or columns.max() >= wg.num_genes)):
        raise ValueError(f"columns must be a 1-D array of gene indices in [0, {wg.num_genes})")
    new_index = np.full(wg.num_genes, -1, np.int64)
    new_index[columns[::-1]] = np.arange(columns.size)[::-1]  # first occurrence wins
    indptr = np.asarray(wg.indptr, np.int64)
    col = np.asarray(wg.indices)[: indptr[-1]]
    keep = new_index[col] >= 0
    rows = np.repeat(np.arange(wg.num_rows), np.diff(indptr))[keep]
    new_ptr = np.zeros(wg.num_rows + 1, np.int64)
    np.add.at(new_ptr, rows + 1, 1)
    new_ptr = np.cumsum(new_ptr).astype(np.int32)
    count = int(keep.sum())
    size = max(count, 1) if nnz is None else nnz
    if size < count:
        raise ValueError(f"nnz={nnz} is below the {count} nonzeros kept")
    data = np.zeros(size, np.float32)
    indices = np.zeros(size, np.int32)
    data[:count] = np.asarray(wg.data)[: indptr[-1]][keep]
    indices[:count] = new_index[col[keep]]  # rows stay sorted by row; columns keep their order
    return WeightGeneration(jnp.asarray(data), jnp.asarray(indices), jnp.asarray(new_ptr), int(columns.size))
