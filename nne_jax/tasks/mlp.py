"""The paper's network task: a masked one-hidden-layer MLP whose link weights are ``g(W x)``.

:class:`MLPTask` is data (the mask, ``W``, its fan-in blocks, the compaction's ``genes`` and
``offset``, the logit scale) plus a static :class:`~nne_jax.tasks.options.ExecOptions`;
:func:`mlp_task` samples one as Section 3.1 describes (input mask of density 0.1, ``W`` β-sparse
with ``U[-1, 1]`` entries).
"""
from __future__ import annotations

import flax.struct
import jax
import jax.numpy as jnp

from nne_jax.blocks import UnitGroup, unit_groups
from nne_jax.fixation import compact_task
from nne_jax.networks import MaskedMLP, check_logit_scale, masked_mlp, mlp_forward
from nne_jax.population import PATHS, default_path, population_logits
from nne_jax.strategy import NNEState
from nne_jax.tasks.options import ExecOptions, WithOptions, replace_with_options
from nne_jax.weights import GENE_MAPS, WeightGeneration, check_gene_map, generate_weights, weight_generation

Array = jax.Array

__all__ = ["MLPTask", "mlp_task"]


@flax.struct.dataclass
class MLPTask(WithOptions):
    """The fixed parts of an NNE-on-MLP problem: architecture, ``W``, and how to evaluate.

    Attributes:
      arch: the masked MLP (input mask).
      wg: the ``(S, n)`` weight-generation matrix over the network's link slots.
      blocks: the hidden units in blocks grouped by fan-in, with their rows of ``wg``, for the
        ``"fused"`` path (:mod:`nne_jax.blocks`).
      genes: ``(n',)`` int32, the genes that ``wg``'s columns stand for (``None``: all ``n``, in
        order). Set by allele-fixation compaction (:mod:`nne_jax.fixation`), like ``offset``.
      offset: ``(S,)`` weights contributed by genes outside ``genes`` (fixed genes), or ``None``.
      gene_map: link weights are ``g(W x + offset)`` for ``g = GENE_MAPS[gene_map]``, static.
      options: how the population is evaluated (:class:`~nne_jax.tasks.options.ExecOptions`:
        path, pop_chunk, matmul_dtype, mesh), static; ``task.path`` etc. read it, and
        ``task.replace(path=...)`` changes it.
      logit_scale: the network's output scale ``s``: logits are ``s · (W₂ relu(W₁ u))`` (ours; the
        paper does not state the scale of weights or inputs). The net is ReLU without biases, so
        scaling layer 1 by ``a`` and layer 2 by ``b`` is the same function as ``s = a·b``: this one
        number is every per-layer weight scale. Predictions (argmax) do not depend on it; the
        softmax, hence the fitness, SignSGD's gradients and the ceiling, do. A pytree leaf: a new
        value does not recompile.
    """

    arch: MaskedMLP
    wg: WeightGeneration
    blocks: tuple[UnitGroup, ...] | None = None
    genes: Array | None = None
    offset: Array | None = None
    gene_map: str = flax.struct.field(pytree_node=False, default="identity")
    total_genes: int | None = flax.struct.field(pytree_node=False, default=None)
    options: ExecOptions = flax.struct.field(pytree_node=False, default=ExecOptions())
    logit_scale: float | Array = 1.0

    @property
    def num_genes(self) -> int:
        """``n``, the genotype length this task takes (``wg`` may hold fewer columns after compaction)."""
        return self.wg.num_genes if self.total_genes is None else self.total_genes

    @property
    def num_inputs(self) -> int:
        return self.arch.num_inputs

    def select(self, genotypes: Array) -> Array:
        """``(..., n) -> (..., n')``: the genes ``wg``'s columns stand for."""
        return genotypes if self.genes is None else jnp.take(genotypes, self.genes, axis=-1)

    def weights(self, genotypes: Array) -> Array:
        """Link weights ``g(W x + offset)`` in slot layout: ``(n,) -> (S,)`` or ``(N, n) -> (N, S)``.

        Also takes allele frequencies: ``weights(p)`` is the mean-weight network (``g(W p)``).
        """
        w = generate_weights(self.wg, self.select(genotypes))
        return GENE_MAPS[self.gene_map](w if self.offset is None else w + self.offset)

    def forward(self, weights: Array, inputs: Array) -> Array:
        """One network: slot weights ``(S,)``, inputs ``(B, d)`` → logits ``(B, C)``."""
        return self.logit_scale * mlp_forward(self.arch, weights, inputs)

    def population_logits(self, genotypes: Array, inputs: Array) -> Array:
        """Every genotype's network: ``(N, n), (B, d) -> (N, B, C)`` logits (via ``path``)."""
        logits = population_logits(
            self.arch,
            self.wg,
            self.select(genotypes),
            inputs,
            path=self.path,
            pop_chunk=self.pop_chunk,
            matmul_dtype=self.matmul_dtype,
            blocks=self.blocks,
            offset=self.offset,
            gene_map=self.gene_map,
        )
        return self.logit_scale * logits

    def compact(self, state: NNEState) -> MLPTask:
        """This task without the genes ``state`` has fixed (:func:`nne_jax.fixation.compact_task`);
        itself if it is already compacted."""
        return self if self.genes is not None else compact_task(self, state)


MLPTask.replace = replace_with_options  # type: ignore[method-assign]  # path=, mesh=, ... go into options


def mlp_task(
    key: Array,
    num_genes: int,
    beta: float = 0.0025,
    num_inputs: int = 784,
    num_hidden: int = 1000,
    num_classes: int = 10,
    density: float = 0.1,
    k_cap: int | None = None,
    path: str = "auto",
    pop_chunk: int | None = None,
    matmul_dtype: str = "float32",
    block_units: int = 8,
    gene_map: str = "identity",
    logit_scale: float = 1.0,
) -> MLPTask:
    """Samples the input mask and ``W`` (β-sparse, ``U[-1, 1]``) for the paper's network.

    ``gene_map``: link weights are ``g(W x)`` with ``g`` one of ``GENE_MAPS`` (the paper: identity).
    ``logit_scale``: the network's output scale (see :class:`MLPTask`; 1 = unscaled).
    """
    check_logit_scale(logit_scale)
    check_gene_map(gene_map)
    if path != "auto" and path not in PATHS:
        raise ValueError(f"unknown path {path!r}; choose from ['auto', {', '.join(map(repr, sorted(PATHS)))}]")
    if path != "auto" and PATHS[path].linear_genes and gene_map != "identity":
        raise ValueError(f"the {path} path needs gene_map='identity' (weights linear in the genes), got {gene_map!r}")
    path = default_path(gene_map=gene_map) if path == "auto" else path
    options = ExecOptions(path=path, pop_chunk=pop_chunk, matmul_dtype=matmul_dtype)  # validates them
    mask_key, w_key = jax.random.split(key)
    arch = masked_mlp(mask_key, num_inputs, num_hidden, num_classes, density, k_cap)
    wg = weight_generation(w_key, arch.num_slots, num_genes, beta, active_rows=arch.active)
    blocks = unit_groups(arch, wg, block_units)
    return MLPTask(arch, wg, blocks, gene_map=gene_map, options=options, logit_scale=float(logit_scale))
