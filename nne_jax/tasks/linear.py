"""The linear network of Section 2.1 (the theory's setting) as a network task.

Output ``NNE_x(y) = xᵀ Wᵀ y`` for inputs ``y ∈ R^m``: link weights ``W x`` (``(m, n)`` dense ``W``,
e.g. :func:`nne_jax.theory.linear.sample_weight_matrix`), one output. With the fitness
:func:`nne_jax.fitness.neg_squared_error` and labels ``aᵀ y`` the generation of
:func:`nne_jax.make_generation` is the finite-population process whose expected loss
:func:`nne_jax.theory.linear.expected_loss` gives in closed form.
"""
from __future__ import annotations

import flax.struct
import jax

from nne_jax.chunks import map_in_chunks
from nne_jax.networks import linear_forward
from nne_jax.tasks.options import ExecOptions, WithOptions, replace_with_options

Array = jax.Array

__all__ = ["LinearTask"]


@flax.struct.dataclass
class LinearTask(WithOptions):
    """A linear network with generated weights.

    Attributes:
      weight_matrix: ``(m, n)`` ``W``: link weights are ``W x``.
      options: execution policy (:class:`~nne_jax.tasks.options.ExecOptions`; ``pop_chunk``
        and ``mesh`` apply), static.
    """

    weight_matrix: Array
    options: ExecOptions = flax.struct.field(pytree_node=False, default=ExecOptions())

    @property
    def num_genes(self) -> int:
        return self.weight_matrix.shape[1]

    @property
    def num_inputs(self) -> int:
        return self.weight_matrix.shape[0]


    def weights(self, genotypes: Array) -> Array:
        """Link weights ``W x``: ``(..., n) -> (..., m)`` (``weights(p)`` is the mean-weight net)."""
        return genotypes @ self.weight_matrix.T

    def forward(self, weights: Array, inputs: Array) -> Array:
        """One network: weights ``(m,)``, inputs ``(B, m)`` → outputs ``(B, 1)``."""
        return linear_forward(weights, inputs)[:, None]

    def population_logits(self, genotypes: Array, inputs: Array) -> Array:
        """Every genotype's output: ``(N, n), (B, m) -> (N, B, 1)``, ``pop_chunk`` at a time."""
        if genotypes.ndim != 2 or genotypes.shape[1] != self.num_genes:
            raise ValueError(f"genotypes must have shape (N, {self.num_genes}), got {genotypes.shape}")
        if inputs.ndim != 2 or inputs.shape[1] != self.num_inputs:
            raise ValueError(f"inputs must have shape (B, {self.num_inputs}), got {inputs.shape}")

        def outputs(g: Array) -> Array:
            return (self.weights(g.astype(self.weight_matrix.dtype)) @ inputs.T)[..., None]

        return map_in_chunks(outputs, genotypes, self.options.pop_chunk)


LinearTask.replace = replace_with_options  # type: ignore[method-assign]
