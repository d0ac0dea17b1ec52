"""Evaluating a whole population of masked-MLP genotypes: genotypes ``(N, n)`` → logits ``(N, B, C)``.

Three paths compute the same function (tests check they agree to float tolerance):

``"dense"``
    Reference: ``W x`` per genotype, then the single-network forward pass vmapped over ``N``.
``"sparse"``
    Exploits both sparsities. Weights come from a CSR sparse–dense product ``W @ Xᵀ``
    (``O(nnz(W)·N)``), laid out per hidden unit; the first layer is a batched matmul over hidden
    units, ``(B, K) @ (K, N)`` each, i.e. ``≈ density`` of the dense flops.
``"fused"`` (default on CPU)
    The sparse path scanned over blocks of hidden units, so weights and activations stay in cache.
``"genespace"`` (default on GPU/TPU)
    Never materialises first-layer weights: by linearity ``pre[g, b, j] = Σ_i x[g, i] Z[i, b, j]``
    with ``Z[i, b, j] = Σ_k W[(j, k), i] · input[b, in(j, k)]`` computed once per minibatch. The
    population's first layer is then ONE dense matmul ``(N, n) @ (n, B·h)`` that keeps matrix
    units busy; genotypes are exact in bfloat16, so ``matmul_dtype="bfloat16"`` only rounds ``Z``.

Memory is bounded by ``pop_chunk``: the population is evaluated in chunks with ``lax.map``.
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from nne_jax.networks import MaskedMLP, _gather_inputs, k_cap, mlp_forward, mlp_forward_population, split_slots
from nne_jax.weights import GENE_MAPS, WeightGeneration, generate_weights, generate_weights_t

Array = jax.Array

__all__ = ["PATHS", "population_logits", "default_path", "map_in_chunks"]


def _dense(arch: MaskedMLP, wg: WeightGeneration, blocks: WeightGeneration | None, genotypes: Array, inputs: Array, dtype: str, offset: Array | None, gene_map: str) -> Array:
    weights = _finish(generate_weights(wg, genotypes), offset, gene_map)  # (N, S)
    return jax.vmap(lambda w: mlp_forward(arch, w, inputs))(weights)


def _sparse(arch: MaskedMLP, wg: WeightGeneration, blocks: WeightGeneration | None, genotypes: Array, inputs: Array, dtype: str, offset: Array | None, gene_map: str) -> Array:
    weights_t = generate_weights_t(wg, genotypes.T)  # (S, N)
    return mlp_forward_population(arch, _finish(weights_t, None if offset is None else offset[:, None], gene_map), inputs)


def _fused(arch: MaskedMLP, wg: WeightGeneration, blocks: WeightGeneration | None, genotypes: Array, inputs: Array, dtype: str, offset: Array | None, gene_map: str) -> Array:
    """The sparse path, one block of hidden units at a time (``lax.scan``): each block's weights
    are generated, used for its first-layer activations and added into the logits while still in
    cache, so neither the ``(S, N)`` weights nor the ``(h, B, N)`` activations are materialised.
    With a k-cap (which needs every hidden unit of an example at once) the scan returns each
    block's activations and output weights instead, and the cap and output layer follow it."""
    if blocks is None:
        return _sparse(arch, wg, blocks, genotypes, inputs, dtype, offset, gene_map)
    k, c, hb = arch.slots_per_unit, arch.num_classes, blocks.num_rows // arch.slots_per_row
    offsets = jnp.zeros((blocks.indptr.shape[0], blocks.num_rows), jnp.float32) if offset is None else offset.reshape(-1, blocks.num_rows)
    xg = jnp.transpose(_gather_inputs(arch, inputs), (1, 0, 2))  # (h, B, K)
    xg = xg.reshape(-1, hb, *xg.shape[1:])  # (num_blocks, hb, B, K)
    x_t = genotypes.T.astype(jnp.float32)

    def block_layer(blk: tuple[WeightGeneration, Array, Array]) -> tuple[Array, Array]:
        block, xg_b, off = blk
        w = _finish(generate_weights_t(block, x_t), off[:, None], gene_map).reshape(hb, k + c, -1)  # (hb, K + C, N)
        return jax.nn.relu(jnp.einsum("jbk,jkg->jbg", xg_b, w[:, :k])), w[:, k:]  # (hb, B, N), (hb, C, N)

    if arch.k_cap is not None:
        hidden, w2 = jax.lax.map(block_layer, (blocks, xg, offsets))
        hidden = k_cap(hidden.reshape(arch.num_hidden, *hidden.shape[2:]), arch.k_cap, axis=0)  # (h, B, N)
        return jnp.einsum("jbg,jcg->gbc", hidden, w2.reshape(arch.num_hidden, c, -1))

    def body(logits: Array, blk: tuple[WeightGeneration, Array, Array]) -> tuple[Array, None]:
        hidden, w2 = block_layer(blk)
        return logits + jnp.einsum("jbg,jcg->bcg", hidden, w2), None

    init = jnp.zeros((inputs.shape[0], c, genotypes.shape[0]), jnp.float32)
    logits, _ = jax.lax.scan(body, init, (blocks, xg, offsets))
    return jnp.transpose(logits, (2, 0, 1))


def _finish(weights: Array, offset: Array | None, gene_map: str) -> Array:
    """``g(W x + offset)``: the fixed genes' weights added, then the gene→weight map."""
    return GENE_MAPS[gene_map](weights if offset is None else weights + offset)


def _row_of_nonzero(wg: WeightGeneration) -> Array:
    """``(nnz,)`` row index of each CSR nonzero."""
    return jnp.searchsorted(wg.indptr, jnp.arange(wg.nnz), side="right") - 1


def _genespace(arch: MaskedMLP, wg: WeightGeneration, blocks: WeightGeneration | None, genotypes: Array, inputs: Array, dtype: str, offset: Array | None, gene_map: str) -> Array:
    if gene_map != "identity":
        raise ValueError(f"the genespace path needs weights linear in the genes; gene_map={gene_map!r} needs 'fused' or 'sparse'")
    h, k, c = arch.num_hidden, arch.slots_per_unit, arch.num_classes
    n, batch = wg.num_genes, inputs.shape[0]
    rows, cols, vals = _row_of_nonzero(wg), wg.indices, wg.data
    unit, slot = rows // arch.slots_per_row, rows % arch.slots_per_row
    first = slot < k
    # Z[i, j, b] = Σ_k W[(j, k), i] · input[b, in(j, k)]  (scatter over the first layer's nonzeros)
    xg = _gather_inputs(arch, inputs)  # (B, h, K)
    contrib = jnp.where(first, vals, 0.0)[:, None] * xg[:, unit, jnp.minimum(slot, k - 1)].T  # (nnz, B)
    z = jnp.zeros((n, h, batch), jnp.float32).at[cols, unit].add(contrib)
    mm = jnp.dtype(dtype)
    pre = jnp.dot(genotypes.astype(mm), z.reshape(n, h * batch).astype(mm), preferred_element_type=jnp.float32)
    pre = pre.reshape(-1, h, batch)
    if offset is not None:  # the fixed genes' first-layer weights: one (B, h) term shared by all
        off1, off2 = split_slots(arch, offset)
        pre = pre + jnp.einsum("bjk,jk->jb", xg, off1)
    hidden = k_cap(jax.nn.relu(pre), arch.k_cap, axis=1)  # (N, h, B)
    # second-layer weights W2 x: a dense (n, h·C) generation matrix, one matmul
    out_slot = jnp.where(first, 0, unit * c + slot - k)
    w2_gen = jnp.zeros((n, h * c), jnp.float32).at[cols, out_slot].add(jnp.where(first, 0.0, vals))
    w2 = (genotypes.astype(jnp.float32) @ w2_gen).reshape(-1, h, c)
    if offset is not None:
        w2 = w2 + off2
    return jnp.einsum("gjb,gjc->gbc", hidden, w2)


PathFn = Callable[[MaskedMLP, WeightGeneration, "WeightGeneration | None", Array, Array, str, "Array | None", str], Array]

PATHS: dict[str, PathFn] = {"dense": _dense, "sparse": _sparse, "fused": _fused, "genespace": _genespace}


def default_path(backend: str | None = None, gene_map: str = "identity") -> str:
    """``"fused"`` on CPU, ``"genespace"`` on GPU/TPU (``"sparse"`` there for a nonlinear ``gene_map``)."""
    if (backend or jax.default_backend()) == "cpu":
        return "fused"
    return "genespace" if gene_map == "identity" else "sparse"


def population_logits(
    arch: MaskedMLP,
    wg: WeightGeneration,
    genotypes: Array,
    inputs: Array,
    path: str = "sparse",
    pop_chunk: int | None = None,
    matmul_dtype: str = "float32",
    blocks: WeightGeneration | None = None,
    offset: Array | None = None,
    gene_map: str = "identity",
) -> Array:
    """Logits of every genotype's network on a minibatch.

    Args:
      arch: the masked architecture; ``wg`` its ``(S, n)`` weight-generation matrix.
      genotypes: ``(N, n)`` 0/1.
      inputs: ``(B, d)`` float32.
      path: one of :data:`PATHS`.
      pop_chunk: evaluate at most this many genotypes at once (bounds memory); ``None`` = all.
      matmul_dtype: dtype of the genespace path's big matmul (``"float32"`` or ``"bfloat16"``).
      blocks: ``W`` cut into blocks of hidden units (:func:`nne_jax.weights.row_blocks`), used by
        the ``"fused"`` path (which falls back to ``"sparse"`` without it).
      offset: ``(S,)`` weights added to every genotype's ``W x`` (fixed genes' share, see
        :mod:`nne_jax.fixation`); ``None`` = 0.
      gene_map: a key of :data:`~nne_jax.weights.GENE_MAPS`: link weights are ``g(W x + offset)``.

    Returns:
      ``(N, B, C)`` float32 logits.
    """
    if path not in PATHS:
        raise ValueError(f"unknown path {path!r}; choose from {sorted(PATHS)}")
    if wg.num_rows != arch.num_slots:
        raise ValueError(f"W has {wg.num_rows} rows but the network has {arch.num_slots} link slots")
    if genotypes.ndim != 2 or genotypes.shape[1] != wg.num_genes:
        raise ValueError(f"genotypes must have shape (N, {wg.num_genes}), got {genotypes.shape}")
    if gene_map not in GENE_MAPS:
        raise ValueError(f"unknown gene_map {gene_map!r}; choose from {sorted(GENE_MAPS)}")
    if offset is not None and offset.shape != (arch.num_slots,):
        raise ValueError(f"offset must have shape ({arch.num_slots},), got {offset.shape}")
    fn = PATHS[path]
    return map_in_chunks(lambda g: fn(arch, wg, blocks, g, inputs, matmul_dtype, offset, gene_map), genotypes, pop_chunk)


def map_in_chunks(fn: Callable[[Array], Array], genotypes: Array, chunk: int | None) -> Array:
    """``fn`` over ``(N, n)`` genotypes, at most ``chunk`` at a time (``lax.map``; ``None``: all).

    The last chunk is padded with zero genotypes whose outputs are dropped. Bounds memory by
    ``chunk`` networks' worth of temporaries.
    """
    n_pop = genotypes.shape[0]
    if chunk is None or chunk >= n_pop:
        return fn(genotypes)
    num_chunks = -(-n_pop // chunk)
    padded = jnp.pad(genotypes, ((0, num_chunks * chunk - n_pop), (0, 0))).reshape(num_chunks, chunk, -1)
    out = jax.lax.map(fn, padded)
    return out.reshape(num_chunks * chunk, *out.shape[2:])[:n_pop]
