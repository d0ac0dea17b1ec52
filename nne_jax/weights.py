"""The weight-generation matrix ``W`` (paper, Section 2): link weights are ``W x``.

``W`` is ``m × n`` (links × genes); each entry is nonzero independently with probability ``β``,
and a nonzero entry is uniform on [-1, 1]. It is stored sparsely in CSR form (about ``m·n·β``
nonzeros, never ``m·n`` floats). Rows are *link slots*: a network may reserve slots that are not
links (padding); those rows are kept empty, so their weight is always 0.
"""
from __future__ import annotations

from collections.abc import Callable

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
    "block_rows",
    "GENE_MAPS",
    "check_gene_map",
    "select_columns",
]

# Gene -> weight maps ``g`` of "weights = g(W x)" (the paper's further work). Each has g(0) = 0, so
# empty rows (padding slots) keep weight 0 under every map.
GENE_MAPS: dict[str, Callable[[jax.Array], jax.Array]] = {"identity": lambda w: w, "tanh": jnp.tanh, "relu": jax.nn.relu}


def check_gene_map(gene_map: str) -> str:
    """``gene_map`` if it names one of :data:`GENE_MAPS`; a ``ValueError`` listing the choices otherwise."""
    if not isinstance(gene_map, str) or gene_map not in GENE_MAPS:
        raise ValueError(f"unknown gene_map {gene_map!r}; choose from {sorted(GENE_MAPS)}")
    return gene_map


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


def block_rows(wg: WeightGeneration, rows: np.ndarray, length: int | None = None) -> WeightGeneration:
    """``W[rows[b]]`` for every block ``b``: a stack of CSR matrices (host-side, once).

    Args:
      wg: the ``(m, n)`` weight-generation matrix.
      rows: ``(num_blocks, R)`` row indices; block ``b``'s matrix is ``W[rows[b]]`` (``R × n``).
      length: pad every block's ``data``/``indices`` to this many entries (fixed shapes across
        re-built matrices, see :mod:`nne_jax.fixation`); ``None``: the largest block's nonzeros.

    Returns:
      A :class:`WeightGeneration` whose arrays have a leading block axis — ``data``, ``indices``:
      ``(num_blocks, L)`` (zeros past each block's nonzeros, which no row pointer references),
      ``indptr``: ``(num_blocks, R + 1)`` block-local — so a ``lax.scan`` over it generates one
      block of weights at a time (the fused path).
    """
    rows = np.asarray(rows, np.int64)
    if rows.ndim != 2 or rows.size == 0 or rows.min() < 0 or rows.max() >= wg.num_rows:
        raise ValueError(f"rows must be a non-empty (num_blocks, R) array of row indices in [0, {wg.num_rows})")
    indptr = np.asarray(wg.indptr, np.int64)
    data, indices = np.asarray(wg.data), np.asarray(wg.indices)
    counts = indptr[rows + 1] - indptr[rows]  # (num_blocks, R)
    needed = max(int(counts.sum(axis=1).max()), 1)
    if length is not None and length < needed:
        raise ValueError(f"length={length} is below the largest block's {needed} nonzeros")
    length = needed if length is None else length
    nb, r = rows.shape
    bdata = np.zeros((nb, length), np.float32)
    bidx = np.zeros((nb, length), np.int32)
    bptr = np.zeros((nb, r + 1), np.int32)
    bptr[:, 1:] = np.cumsum(counts, axis=1)
    for b in range(nb):  # one-off host-side construction
        total = int(bptr[b, -1])
        starts = np.repeat(indptr[rows[b]] - bptr[b, :-1], counts[b])  # source position - destination position
        src = starts + np.arange(total)
        bdata[b, :total], bidx[b, :total] = data[src], indices[src]
    return WeightGeneration(jnp.asarray(bdata), jnp.asarray(bidx), jnp.asarray(bptr), wg.num_genes)


def row_blocks(wg: WeightGeneration, rows_per_block: int, length: int | None = None) -> WeightGeneration:
    """``W`` cut into blocks of ``rows_per_block`` consecutive rows (:func:`block_rows`)."""
    if wg.num_rows % rows_per_block:
        raise ValueError(f"rows_per_block={rows_per_block} does not divide the {wg.num_rows} rows of W")
    return block_rows(wg, np.arange(wg.num_rows).reshape(-1, rows_per_block), length)


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
