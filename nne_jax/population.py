"""Evaluating a whole population of masked-MLP genotypes: genotypes ``(N, n)`` → logits ``(N, B, C)``.

Three paths compute the same function (tests check they agree to float tolerance):

``"dense"``
    Reference: ``W x`` per genotype, then the single-network forward pass vmapped over ``N``.
``"sparse"``
    Exploits both sparsities. Weights come from a CSR sparse–dense product ``W @ Xᵀ``
    (``O(nnz(W)·N)``), laid out per hidden unit; the first layer is a batched matmul over hidden
    units, ``(B, K) @ (K, N)`` each, i.e. ``≈ density`` of the dense flops.
``"fused"`` (default on CPU)
    The sparse path scanned over blocks of hidden units, so weights and activations stay in cache;
    units are grouped by fan-in and each group trimmed to the links it has (:mod:`nne_jax.blocks`).
``"genespace"`` (default on GPU/TPU)
    Never materialises first-layer weights: by linearity ``pre[g, b, j] = Σ_i x[g, i] Z[i, b, j]``
    with ``Z[i, b, j] = Σ_k W[(j, k), i] · input[b, in(j, k)]`` computed once per minibatch. The
    population's first layer is then ONE dense matmul ``(N, n) @ (n, B·h)`` that keeps matrix
    units busy; genotypes are exact in bfloat16, so ``matmul_dtype="bfloat16"`` only rounds ``Z``.

Memory is bounded by ``pop_chunk``: the population is evaluated in chunks with ``lax.map``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from nne_jax.blocks import UnitGroup
from nne_jax.chunks import map_in_chunks
from nne_jax.networks import MaskedMLP, _gather_inputs, _inputs_by_feature, k_cap, mlp_forward, mlp_forward_population, split_slots
from nne_jax.registry import Registry
from nne_jax.weights import GENE_MAPS, WeightGeneration, check_gene_map, generate_weights, generate_weights_t

Array = jax.Array
Blocks = tuple[UnitGroup, ...] | None

__all__ = ["PATHS", "PopulationPath", "population_logits", "default_path", "dense_equivalent_flops", "map_in_chunks"]


def _dense(
    arch: MaskedMLP, wg: WeightGeneration, blocks: Blocks, genotypes: Array, inputs: Array, dtype: str, offset: Array | None, gene_map: str
) -> Array:
    weights = _finish(generate_weights(wg, genotypes), offset, gene_map)  # (N, S)
    return jax.vmap(lambda w: mlp_forward(arch, w, inputs))(weights)


def _sparse(
    arch: MaskedMLP, wg: WeightGeneration, blocks: Blocks, genotypes: Array, inputs: Array, dtype: str, offset: Array | None, gene_map: str
) -> Array:
    weights_t = generate_weights_t(wg, genotypes.T)  # (S, N)
    return mlp_forward_population(arch, _finish(weights_t, None if offset is None else offset[:, None], gene_map), inputs)


def _fused(
    arch: MaskedMLP, wg: WeightGeneration, blocks: Blocks, genotypes: Array, inputs: Array, dtype: str, offset: Array | None, gene_map: str
) -> Array:
    """The sparse path, one block of hidden units at a time (``lax.scan``): each block's weights
    are generated, used for its first-layer activations and added into the logits while still in
    cache, so neither the ``(S, N)`` weights nor the ``(h, B, N)`` activations are materialised.
    Units come in groups of similar fan-in (:mod:`nne_jax.blocks`), one scan per group, each
    trimmed to its own ``K_g``. With a k-cap (which needs every hidden unit of an example at once)
    the scans return each block's activations and output weights instead, and the cap and output
    layer follow them."""
    if blocks is None:
        return _sparse(arch, wg, blocks, genotypes, inputs, dtype, offset, gene_map)
    c, batch, pop = arch.num_classes, inputs.shape[0], genotypes.shape[0]
    x_t = genotypes.T.astype(jnp.float32)
    by_feature = _inputs_by_feature(arch, inputs)  # (d + 1, B)

    def group_scan(group: UnitGroup) -> tuple[Callable, tuple]:
        k, hb = group.slots_per_unit, group.block_units

        def block_layer(blk: tuple) -> tuple[Array, Array]:
            w_in, w_out, xg_b, off_in, off_out = blk
            w1 = _finish(generate_weights_t(w_in, x_t), None if off_in is None else off_in[:, None], gene_map).reshape(hb, k, pop)
            w2 = _finish(generate_weights_t(w_out, x_t), None if off_out is None else off_out[:, None], gene_map).reshape(hb, c, pop)
            return jax.nn.relu(jnp.einsum("jkb,jkg->jbg", xg_b, w1)), w2  # (hb, B, N), (hb, C, N)

        offsets = (None, None) if offset is None else (offset[group.rows_in], offset[group.rows_out])
        # whole rows of the (d + 1, B) inputs: (num_blocks, hb, K_g, B)
        return block_layer, (group.wg_in, group.wg_out, by_feature[group.in_idx], *offsets)

    if arch.k_cap is not None:
        outs = [jax.lax.map(*group_scan(g)) for g in blocks]
        hidden = k_cap(jnp.concatenate([h.reshape(-1, batch, pop) for h, _ in outs]), arch.k_cap, axis=0)  # (h, B, N)
        return jnp.einsum("jbg,jcg->gbc", hidden, jnp.concatenate([w2.reshape(-1, c, pop) for _, w2 in outs]))

    logits = jnp.zeros((batch, c, pop), jnp.float32)
    for group in blocks:  # a few groups (static): one scan each
        block_layer, xs = group_scan(group)

        def body(acc: Array, blk: tuple, block_layer: Callable = block_layer) -> tuple[Array, None]:
            return acc + _output_layer(*block_layer(blk)), None

        logits, _ = jax.lax.scan(body, logits, xs)
    return jnp.transpose(logits, (2, 0, 1))


def _output_layer(hidden: Array, w2: Array) -> Array:
    """``Σ_j hidden[j, b, g] · w2[j, c, g]``: ``(hb, B, N), (hb, C, N) -> (B, C, N)``.

    Every genotype has its own output weights, so this is ``N`` tiny ``(B, hb) @ (hb, C)``
    products. As an ``einsum`` XLA transposes both operands to put ``N`` first and runs ``N``
    batched dots; a sum of ``hb`` broadcast products (``hb`` is small and static) stays
    vectorised along ``N`` and is 5-10 % faster end to end on CPU.
    """
    return sum(hidden[j][:, None, :] * w2[j][None, :, :] for j in range(hidden.shape[0]))


def _finish(weights: Array, offset: Array | None, gene_map: str) -> Array:
    """``g(W x + offset)``: the fixed genes' weights added, then the gene→weight map."""
    return GENE_MAPS[gene_map](weights if offset is None else weights + offset)


def _row_of_nonzero(wg: WeightGeneration) -> Array:
    """``(nnz,)`` row index of each CSR nonzero."""
    return jnp.searchsorted(wg.indptr, jnp.arange(wg.nnz), side="right") - 1


def _genespace(
    arch: MaskedMLP, wg: WeightGeneration, blocks: Blocks, genotypes: Array, inputs: Array, dtype: str, offset: Array | None, gene_map: str
) -> Array:
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


PathFn = Callable[[MaskedMLP, WeightGeneration, Blocks, Array, Array, str, "Array | None", str], Array]
FlopFn = Callable[[MaskedMLP, WeightGeneration, Blocks, int, int], float]


def _flops_sparse(arch: MaskedMLP, wg: WeightGeneration, blocks: Blocks, pop: int, batch: int) -> float:
    """``W x`` over the nonzeros, then each unit's ``K`` slots and its ``C`` output links."""
    return 2.0 * wg.nnz * pop + 2.0 * pop * batch * arch.num_hidden * (arch.slots_per_unit + arch.num_classes)


def _flops_fused(arch: MaskedMLP, wg: WeightGeneration, blocks: Blocks, pop: int, batch: int) -> float:
    """As sparse, but each fan-in group trimmed to its own ``K_g`` (sparse without blocks)."""
    if blocks is None:
        return _flops_sparse(arch, wg, blocks, pop, batch)
    slots = sum(g.num_units * g.slots_per_unit for g in blocks) + arch.num_hidden * arch.num_classes
    return 2.0 * wg.nnz * pop + 2.0 * pop * batch * slots


def _flops_genespace(arch: MaskedMLP, wg: WeightGeneration, blocks: Blocks, pop: int, batch: int) -> float:
    """``Z`` once per minibatch, the ``(N, n) @ (n, B·h)`` matmul, ``W₂ x`` and the output layer."""
    n, h, c = wg.num_genes, arch.num_hidden, arch.num_classes
    return 2.0 * wg.nnz * batch + 2.0 * pop * n * h * batch + 2.0 * pop * n * h * c + 2.0 * pop * batch * h * c


def dense_equivalent_flops(arch: MaskedMLP, wg: WeightGeneration, pop: int, batch: int) -> float:
    """Flops of the naive generation: dense ``W x`` per genotype and dense masked layers."""
    d, h, c = arch.num_inputs, arch.num_hidden, arch.num_classes
    return 2.0 * pop * wg.num_genes * arch.num_links + 2.0 * pop * batch * (d * h + h * c)


class PopulationPath(NamedTuple):
    """One way to evaluate a population: a :data:`PATHS` entry.

    Attributes:
      fn: ``(arch, wg, blocks, genotypes (N, n), inputs (B, d), matmul_dtype, offset, gene_map) -> (N, B, C)``.
      linear_genes: the path needs link weights linear in the genes (``gene_map="identity"``).
      flops: ``(arch, wg, blocks, N, B) -> float``, the flops one evaluation does (the benchmark's roofline).

    Calling the entry calls ``fn``.
    """

    fn: PathFn
    linear_genes: bool
    flops: FlopFn

    def __call__(self, *args: object) -> Array:
        return self.fn(*args)  # type: ignore[arg-type]


PATHS: Registry[PopulationPath] = Registry(
    "population path",
    {
        "dense": PopulationPath(_dense, False, _flops_sparse),  # the reference: W x over nonzeros, the same slot work
        "sparse": PopulationPath(_sparse, False, _flops_sparse),
        "fused": PopulationPath(_fused, False, _flops_fused),
        "genespace": PopulationPath(_genespace, True, _flops_genespace),
    },
)
"""Population paths by name; :meth:`~nne_jax.registry.Registry.register` a :class:`PopulationPath` to add one."""


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
    blocks: tuple[UnitGroup, ...] | None = None,
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
      blocks: the hidden units in blocks, grouped by fan-in (:func:`nne_jax.blocks.unit_groups`),
        used by the ``"fused"`` path (which falls back to ``"sparse"`` without them).
      offset: ``(S,)`` weights added to every genotype's ``W x`` (fixed genes' share, see
        :mod:`nne_jax.fixation`); ``None`` = 0.
      gene_map: a key of :data:`~nne_jax.weights.GENE_MAPS`: link weights are ``g(W x + offset)``.

    Returns:
      ``(N, B, C)`` float32 logits.
    """
    if path not in PATHS:
        raise ValueError(f"unknown path {path!r}; choose from {sorted(PATHS)}")
    if PATHS[path].linear_genes and gene_map != "identity":
        raise ValueError(f"the {path} path needs weights linear in the genes (gene_map='identity'), got gene_map={gene_map!r}")
    if wg.num_rows != arch.num_slots:
        raise ValueError(f"W has {wg.num_rows} rows but the network has {arch.num_slots} link slots")
    if genotypes.ndim != 2 or genotypes.shape[1] != wg.num_genes:
        raise ValueError(f"genotypes must have shape (N, {wg.num_genes}), got {genotypes.shape}")
    check_gene_map(gene_map)
    if offset is not None and offset.shape != (arch.num_slots,):
        raise ValueError(f"offset must have shape ({arch.num_slots},), got {offset.shape}")
    if blocks is not None and (
        sum(g.num_units for g in blocks) != arch.num_hidden or any(w.num_genes != wg.num_genes for g in blocks for w in (g.wg_in, g.wg_out))
    ):
        raise ValueError("blocks do not match this network and W (rebuild them with nne_jax.blocks.unit_groups or regroup)")
    fn = PATHS[path].fn
    return map_in_chunks(lambda g: fn(arch, wg, blocks, g, inputs, matmul_dtype, offset, gene_map), genotypes, pop_chunk)

