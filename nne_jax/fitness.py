"""Fitness of a genotype's network on a minibatch, and fitness shaping.

The paper's fitness (Section 3.1): ``δ_x = mean_s max(0, α² − L_s²)`` with ``α = log C`` (the
cross-entropy of a uniform guess) and ``L_s`` the cross-entropy on example ``s``. It is
non-negative and at most ``α²``.

Shaping functions map a population's raw fitness ``(N,)`` to the fitness used by the allele
rewards; all are invariant to the scale of the raw fitness except ``"none"``.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp

from nne_jax.batch_invariant import fixed_order_sum
from nne_jax.registry import Registry

Array = jax.Array

__all__ = [
    "cross_entropy",
    "delta_fitness",
    "neg_cross_entropy",
    "neg_squared_error",
    "accuracy",
    "FITNESSES",
    "Fitness",
    "SHAPINGS",
    "standardize",
    "centered_ranks",
    "replace_nonfinite",
]


def log_softmax(logits: Array) -> Array:
    """``log_softmax`` over the last axis whose result does not depend on the leading shape (ours).

    ``jax.nn.log_softmax`` sums ``exp`` in one XLA reduction, whose order depends on the leading
    shape (see :func:`fixed_order_sum`, used here instead).
    """
    logits = logits.astype(jnp.float32)
    shifted = logits - jax.lax.stop_gradient(jnp.max(logits, axis=-1, keepdims=True))
    return shifted - jnp.log(fixed_order_sum(jnp.exp(shifted)))[..., None]


def example_mean(values: Array) -> Array:
    """Mean over the last (examples) axis, the same inside and outside ``vmap``: ``(..., B) -> (...)``.

    A :func:`fixed_order_sum` divided by ``B``.
    """
    return fixed_order_sum(values) / values.shape[-1]


def cross_entropy(logits: Array, labels: Array) -> Array:
    """Per-example cross-entropy: logits ``(..., B, C)``, int labels ``(B,)`` → ``(..., B)``."""
    logp = log_softmax(logits)
    return -jnp.take_along_axis(logp, jnp.broadcast_to(labels[..., None], logp.shape[:-1] + (1,)), axis=-1)[..., 0]


def delta_fitness(logits: Array, labels: Array) -> Array:
    """The paper's ``δ_x``: logits ``(..., B, C)``, labels ``(B,)`` → ``(...)`` in ``[0, (log C)²]``."""
    alpha = jnp.log(logits.shape[-1])
    loss = cross_entropy(logits, labels)
    return example_mean(jnp.maximum(0.0, alpha**2 - loss**2))


def neg_cross_entropy(logits: Array, labels: Array) -> Array:
    """``−mean_s L_s``: logits ``(..., B, C)``, labels ``(B,)`` → ``(...)`` (no clipping: a signal on every example)."""
    return -example_mean(cross_entropy(logits, labels))


def accuracy(logits: Array, labels: Array) -> Array:
    """Fraction of correct argmax predictions: ``(..., B, C), (B,) → (...)``."""
    return jnp.mean(jnp.argmax(logits, axis=-1) == labels, axis=-1)


def replace_nonfinite(fitness: Array) -> tuple[Array, Array]:
    """The non-finite fitness policy of :meth:`~nne_jax.strategy.NNE.tell`: ``(N,) -> ((N,), count)``.

    A non-finite value (NaN, ``±inf``) becomes the generation's worst *finite* fitness, so it ranks
    last and adds no information beyond "worst"; finite values are returned bit for bit. ``count`` is
    the int32 number replaced. If no value is finite, the result is all zeros (the caller skips the
    update; see ``tell``).
    """
    finite = jnp.isfinite(fitness)
    worst = jnp.min(jnp.where(finite, fitness, jnp.inf))
    worst = jnp.where(jnp.isfinite(worst), worst, 0.0)
    return jnp.where(finite, fitness, worst), jnp.sum(~finite).astype(jnp.int32)


def standardize(fitness: Array) -> Array:
    """``(δ − mean) / std`` over the population (0 where all fitness values are equal)."""
    n = fitness.shape[-1]
    centred = fitness - fixed_order_sum(fitness) / n
    std = jnp.sqrt(fixed_order_sum(centred * centred) / n)
    return jnp.where(std > 0, centred / jnp.where(std > 0, std, 1.0), 0.0)


def centered_ranks(fitness: Array) -> Array:
    """Ranks mapped linearly onto [-0.5, 0.5] (ties broken by index), as in OpenAI-ES.

    NaN ranks as the worst (like ``-inf``), never as the best (``argsort`` alone would put it last).
    """
    n = fitness.shape[0]
    fitness = jnp.where(jnp.isnan(fitness), -jnp.inf, fitness)
    ranks = jnp.argsort(jnp.argsort(fitness)).astype(jnp.float32)
    return ranks / max(n - 1, 1) - 0.5


def neg_squared_error(outputs: Array, targets: Array) -> Array:
    """Regression fitness ``-mean_b (out_b - target_b)²``: outputs ``(..., B, 1)``, targets ``(B,)`` → ``(...)``.

    For one-output tasks such as :class:`~nne_jax.tasks.linear.LinearTask` (not for classification).
    """
    if outputs.shape[-1] != 1:
        raise ValueError(f"neg_squared_error needs one output per example, got outputs of shape {outputs.shape}")
    return -jnp.mean((outputs[..., 0] - targets) ** 2, axis=-1)


FITNESSES: dict[str, Callable[[Array, Array], Array]] = {"delta": delta_fitness, "neg_cross_entropy": neg_cross_entropy}


@dataclasses.dataclass(frozen=True)
class Fitness:
    """A named fitness of ``(logits (N, B, C), labels (B,)) -> (N,)`` with a softmax temperature.

    ``temperature`` divides the logits before the loss (the predictions, i.e. the argmax, do not
    change). The paper's δ is ``Fitness("delta", 1.0)``. Hashable, so jit can treat it as static.
    """

    name: str = "delta"
    temperature: float = 1.0

    def __post_init__(self) -> None:
        if self.name not in FITNESSES:
            raise ValueError(f"unknown fitness {self.name!r}; choose from {sorted(FITNESSES)}")
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")

    def __call__(self, logits: Array, labels: Array) -> Array:
        return FITNESSES[self.name](logits / self.temperature, labels)


def no_shaping(fitness: Array) -> Array:
    """The paper: the raw fitness, unchanged."""
    return fitness


SHAPINGS: Registry[Callable[[Array], Array]] = Registry(
    "fitness_shaping", {"none": no_shaping, "standardize": standardize, "centered_ranks": centered_ranks}
)
"""Fitness shapings ``(N,) -> (N,)`` by name; ``SHAPINGS.register(name, fn)`` adds one."""
