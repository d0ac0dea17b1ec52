"""Deeper NNE: a masked MLP with several hidden layers whose link weights are ``g(W x)``.

Architecture: ``d`` inputs → hidden layers ``h_1 … h_L`` (ReLU) → ``C`` logits, no biases. Hidden
unit ``j`` of layer ``ℓ`` reads a fixed random subset (each edge present w.p. ``density``) of the
``f_ℓ`` units below it (``f_1 = d``, ``f_ℓ = h_{ℓ-1}``), stored as ``in_idx[ℓ]`` of shape
``(h_ℓ, K_ℓ)``; ``K_ℓ`` is the largest fan-in rounded up to ``pad_to``, and padding slots read
index ``f_ℓ``, a constant-zero feature appended below. The output layer ``h_L → C`` is dense.

Slot layout (length ``S = Σ_ℓ h_ℓ·K_ℓ + h_L·C``), one block per layer, in order::

    [ layer 1: h_1·K_1 | layer 2: h_2·K_2 | … | layer L: h_L·K_L | output: h_L·C ]

Each hidden block is unit-major (``block.reshape(h_ℓ, K_ℓ)``: row ``j`` = unit ``j``'s incoming
links); the output block is ``reshape(h_L, C)`` (row ``j`` = unit ``j``'s ``C`` outgoing links).
``arch.offsets`` gives the blocks' start slots; ``arch.active`` marks the real links (the rows of
``W`` that are not padding). Unlike :class:`~nne_jax.networks.MaskedMLP`, which keeps each unit's
incoming and outgoing slots together, the blocks here are per layer.
"""
from __future__ import annotations

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from nne_jax.chunks import map_in_chunks
from nne_jax.networks import check_logit_scale, sample_in_idx
from nne_jax.tasks.options import ExecOptions, WithOptions, replace_with_options
from nne_jax.weights import GENE_MAPS, WeightGeneration, _numpy_rng, check_gene_map, generate_weights, generate_weights_t, weight_generation

Array = jax.Array

__all__ = ["DeepMLP", "deep_mlp", "deep_split_slots", "deep_forward", "deep_forward_population", "DeepTask", "deep_task"]


@flax.struct.dataclass
class DeepMLP:
    """Architecture of the masked multi-layer net (static structure, no weights).

    Attributes:
      in_idx: one ``(h_ℓ, K_ℓ)`` int32 array per hidden layer: the unit of the layer below read by
        each slot (padding: the fan-in ``f_ℓ``, a constant-zero feature).
      num_inputs, hidden, num_classes: ``d``, ``(h_1, …, h_L)``, ``C`` (static).
      layer_scales: ``L + 1`` fixed multipliers of each layer's generated weights (the last for
        the output layer), or ``None`` (all 1, the paper's convention), static.
    """

    in_idx: tuple[Array, ...]
    num_inputs: int = flax.struct.field(pytree_node=False)
    hidden: tuple[int, ...] = flax.struct.field(pytree_node=False)
    num_classes: int = flax.struct.field(pytree_node=False)
    layer_scales: tuple[float, ...] | None = flax.struct.field(pytree_node=False, default=None)

    @property
    def fan_ins(self) -> tuple[int, ...]:
        """``(f_1, …, f_L) = (d, h_1, …, h_{L-1})``: units each hidden layer reads from."""
        return (self.num_inputs, *self.hidden[:-1])

    @property
    def block_sizes(self) -> tuple[int, ...]:
        """Slots per block: ``(h_1·K_1, …, h_L·K_L, h_L·C)``."""
        return (*(int(np.prod(i.shape)) for i in self.in_idx), self.hidden[-1] * self.num_classes)

    @property
    def offsets(self) -> tuple[int, ...]:
        """Start slot of each block, plus ``S`` at the end (``L + 2`` entries)."""
        return tuple(int(o) for o in np.cumsum((0, *self.block_sizes)))

    @property
    def num_slots(self) -> int:
        return self.offsets[-1]

    @property
    def active(self) -> np.ndarray:
        """``(S,)`` bool: which slots are real links (padding slots are False)."""
        hidden = [(np.asarray(i) < f).ravel() for i, f in zip(self.in_idx, self.fan_ins)]
        return np.concatenate([*hidden, np.ones(self.block_sizes[-1], bool)])

    @property
    def num_links(self) -> int:
        return int(self.active.sum())


def deep_mlp(
    key: Array,
    num_inputs: int = 784,
    hidden: tuple[int, ...] = (1000, 1000),
    num_classes: int = 10,
    density: float = 0.1,
    pad_to: int = 8,
    fan_in_scale: bool = False,
) -> DeepMLP:
    """Samples each hidden layer's fixed random input mask (on the host, from ``key``).

    ``fan_in_scale``: multiply the generated weights of every layer after the first by
    ``1 / sqrt(expected fan-in)`` (``density · h_{ℓ-1}`` for hidden layers, ``h_L`` for the output),
    so activations do not grow with depth; the first layer keeps the paper's scale.
    """
    hidden = tuple(int(h) for h in hidden)
    if not hidden:
        raise ValueError("hidden must list at least one hidden layer size, got ()")
    if min(num_inputs, num_classes, *hidden) < 1:
        raise ValueError(f"num_inputs, num_classes and all hidden sizes must be >= 1, got {num_inputs}, {num_classes}, {hidden}")
    if not 0.0 < density <= 1.0:
        raise ValueError(f"density must be in (0, 1], got {density}")
    if pad_to < 1:
        raise ValueError(f"pad_to must be >= 1, got {pad_to}")
    rng = _numpy_rng(key)
    fan_ins = (num_inputs, *hidden[:-1])
    in_idx = tuple(jnp.asarray(sample_in_idx(rng, h, f, density, pad_to)) for h, f in zip(hidden, fan_ins))
    scales = None
    if fan_in_scale:
        scales = (1.0, *(1.0 / float(np.sqrt(density * f)) for f in hidden[:-1]), 1.0 / float(np.sqrt(hidden[-1])))
    return DeepMLP(in_idx, num_inputs, hidden, num_classes, scales)


def deep_split_slots(arch: DeepMLP, weights: Array) -> tuple[tuple[Array, ...], Array]:
    """Slot weights ``(S, ...)`` → per hidden layer ``(h_ℓ, K_ℓ, ...)`` and output ``(h_L, C, ...)``."""
    if weights.shape[0] != arch.num_slots:
        raise ValueError(f"weights have {weights.shape[0]} slots, the network has {arch.num_slots}")
    o, rest = arch.offsets, weights.shape[1:]
    scales = arch.layer_scales or (1.0,) * (len(arch.hidden) + 1)
    layers = tuple(scales[i] * weights[o[i] : o[i + 1]].reshape(*idx.shape, *rest) for i, idx in enumerate(arch.in_idx))
    return layers, scales[-1] * weights[o[-2] :].reshape(arch.hidden[-1], arch.num_classes, *rest)


def _check_inputs(arch: DeepMLP, inputs: Array) -> Array:
    if inputs.ndim != 2 or inputs.shape[1] != arch.num_inputs:
        raise ValueError(f"inputs must have shape (B, {arch.num_inputs}), got {inputs.shape}")
    return inputs.astype(jnp.float32)


def deep_forward(arch: DeepMLP, weights: Array, inputs: Array) -> Array:
    """One network: slot weights ``(S,)``, inputs ``(B, d)`` → logits ``(B, C)``."""
    layers, w_out = deep_split_slots(arch, weights)
    act = _check_inputs(arch, inputs)  # (B, f)
    for idx, w in zip(arch.in_idx, layers):  # unrolled at trace time
        read = jnp.pad(act, ((0, 0), (0, 1)))[:, idx]  # (B, h, K)
        act = jax.nn.relu(jnp.einsum("bjk,jk->bj", read, w))
    return act @ w_out


def deep_forward_population(arch: DeepMLP, weights_t: Array, inputs: Array) -> Array:
    """All networks at once: weights ``(S, N)`` (one column per genotype), inputs ``(B, d)``.

    Layer 1 is a batched matmul over units, ``(B, K_1) @ (K_1, N)`` each (inputs are shared by the
    population). In deeper layers every genotype reads its *own* activations, so each genotype's
    masked weights are scattered into a dense ``(h_{ℓ-1}, h_ℓ)`` matrix and the layer is one batched
    matmul ``(N, B, h_{ℓ-1}) @ (N, h_{ℓ-1}, h_ℓ)``: dense flops, but GEMM-shaped (gathering each
    genotype's ``(h_ℓ, K_ℓ, B)`` inputs instead is far slower and, unfused, needs ``h·K·B·N``
    floats). Memory: ``N·h_{ℓ-1}·h_ℓ`` floats — bound it with ``DeepTask.pop_chunk``.
    Returns logits ``(N, B, C)``.
    """
    layers, w_out = deep_split_slots(arch, weights_t)
    x = _check_inputs(arch, inputs)
    xg = jnp.transpose(jnp.pad(x, ((0, 0), (0, 1)))[:, arch.in_idx[0]], (1, 0, 2))  # (h_1, B, K_1)
    act = jnp.transpose(jax.nn.relu(jnp.einsum("jbk,jkg->jbg", xg, layers[0])), (2, 1, 0))  # (N, B, h_1)
    for idx, w in zip(arch.in_idx[1:], layers[1:]):
        fan_in, (h, k) = act.shape[-1], idx.shape
        rows = jnp.broadcast_to(jnp.arange(h)[:, None], (h, k))
        dense = jnp.zeros((act.shape[0], fan_in + 1, h), act.dtype).at[:, idx, rows].add(jnp.moveaxis(w, -1, 0))  # (N, f+1, h)
        act = jax.nn.relu(jnp.einsum("gbi,gij->gbj", act, dense[:, :fan_in]))  # (N, B, h)
    return jnp.einsum("gbj,jcg->gbc", act, w_out)


@flax.struct.dataclass
class DeepTask(WithOptions):
    """An NNE-on-deep-MLP problem, with the same task protocol as :class:`~nne_jax.tasks.mlp.MLPTask`
    (so ``make_generation``, ``run_generations`` and ``network_accuracy`` take it unchanged).

    Attributes:
      arch: the masked deep MLP; ``wg`` its ``(S, n)`` weight-generation matrix.
      gene_map: link weights are ``g(W x)`` for ``g = GENE_MAPS[gene_map]`` (static).
      options: execution policy (:class:`~nne_jax.tasks.options.ExecOptions`), static; this task
        has one population path and uses ``pop_chunk`` and ``mesh``.
      logit_scale: the network's output scale (as :class:`~nne_jax.tasks.mlp.MLPTask`'s).
    """

    arch: DeepMLP
    wg: WeightGeneration
    gene_map: str = flax.struct.field(pytree_node=False, default="identity")
    options: ExecOptions = flax.struct.field(pytree_node=False, default=ExecOptions())
    logit_scale: float | Array = 1.0

    @property
    def num_genes(self) -> int:
        return self.wg.num_genes

    @property
    def num_inputs(self) -> int:
        return self.arch.num_inputs

    def weights(self, genotypes: Array) -> Array:
        """Slot weights ``g(W x)``: ``(n,) -> (S,)`` or ``(N, n) -> (N, S)`` (``p`` gives the mean-weight net)."""
        return GENE_MAPS[self.gene_map](generate_weights(self.wg, genotypes))

    def forward(self, weights: Array, inputs: Array) -> Array:
        """One network: slot weights ``(S,)``, inputs ``(B, d)`` → logits ``(B, C)``."""
        return self.logit_scale * deep_forward(self.arch, weights, inputs)

    def population_logits(self, genotypes: Array, inputs: Array) -> Array:
        """Every genotype's network: ``(N, n), (B, d) -> (N, B, C)`` logits, ``pop_chunk`` at a time."""
        if genotypes.ndim != 2 or genotypes.shape[1] != self.num_genes:
            raise ValueError(f"genotypes must have shape (N, {self.num_genes}), got {genotypes.shape}")

        def logits(g: Array) -> Array:
            w_t = GENE_MAPS[self.gene_map](generate_weights_t(self.wg, g.T))  # (S, N)
            return deep_forward_population(self.arch, w_t, inputs)

        return self.logit_scale * map_in_chunks(logits, genotypes, self.pop_chunk)


DeepTask.replace = replace_with_options  # type: ignore[method-assign]  # pop_chunk=, mesh=, ... go into options


def deep_task(
    key: Array,
    num_genes: int,
    hidden: tuple[int, ...] = (1000, 1000),
    beta: float = 0.0025,
    num_inputs: int = 784,
    num_classes: int = 10,
    density: float = 0.1,
    gene_map: str = "identity",
    pop_chunk: int | None = None,
    fan_in_scale: bool = False,
    logit_scale: float = 1.0,
) -> DeepTask:
    """Samples the masks and ``W`` (β-sparse, ``U[-1, 1]``, padding rows empty) for a deep masked MLP."""
    check_gene_map(gene_map)
    options = ExecOptions(pop_chunk=pop_chunk)  # validates it
    mask_key, w_key = jax.random.split(key)
    arch = deep_mlp(mask_key, num_inputs, hidden, num_classes, density, fan_in_scale=fan_in_scale)
    wg = weight_generation(w_key, arch.num_slots, num_genes, beta, active_rows=arch.active)
    check_logit_scale(logit_scale)
    return DeepTask(arch, wg, gene_map=gene_map, options=options, logit_scale=float(logit_scale))
