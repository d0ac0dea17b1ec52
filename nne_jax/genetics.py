"""Population genetics of NNE: genotype sampling, allele rewards and allele-frequency updates.

Notation follows the paper (Gorantla et al., Section 2): ``n`` genes with two alleles 0/1, allele
frequencies ``p`` (``allele_freqs``, shape ``(n,)``), a population of ``N`` genotypes ``x`` (shape
``(N, n)``, entries 0.0 / 1.0), the fitness of each genotype (shape ``(N,)``, higher is better),
and the per-gene allele rewards ``f(i)`` / ``f̄(i)``: the mean fitness of the genotypes that carry
allele 1 / allele 0 of gene ``i``.

Every function here is pure and jit-able; PRNG keys are always passed in.
"""
from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from nne_jax.batch_invariant import fixed_order_sum
from nne_jax.registry import Registry

Array = jax.Array

__all__ = [
    "sample_genotypes",
    "allele_rewards",
    "update_allele_freqs",
    "multiplicative_weights_update",
    "UPDATE_RULES",
    "clipped_fraction",
]


def sample_genotypes(key: Array, allele_freqs: Array, pop_size: int, antithetic: bool = False) -> Array:
    """Samples ``pop_size`` genotypes with ``x(i) ~ Bernoulli(p(i))`` independently.

    Args:
      key: a PRNG key.
      allele_freqs: ``(n,)`` allele-1 frequencies in [0, 1].
      pop_size: number of genotypes ``N`` (a static Python int; even when ``antithetic``).
      antithetic: if True, genotypes come in mirrored pairs sharing one uniform draw ``u``:
        ``x = [u < p]`` and ``x' = [1 - u < p]``. Each genotype is still exactly Bernoulli(p), but the
        pair is negatively correlated, which lowers the variance of the allele rewards.

    Returns:
      ``(pop_size, n)`` float32 array of 0.0 / 1.0.
    """
    n = allele_freqs.shape[-1]
    if not antithetic:
        u = jax.random.uniform(key, (pop_size, n))
        return (u < allele_freqs).astype(jnp.float32)
    if pop_size % 2:
        raise ValueError(f"antithetic sampling needs an even pop_size, got {pop_size}")
    u = jax.random.uniform(key, (pop_size // 2, n))
    return jnp.concatenate([u < allele_freqs, (1.0 - u) < allele_freqs]).astype(jnp.float32)


def allele_rewards(genotypes: Array, fitness: Array) -> tuple[Array, Array]:
    """Allele rewards ``f(i)`` and ``f̄(i)`` of the paper (Section 3.1).

    ``f(i) = Σ_x δ_x x(i) / Σ_x x(i)`` and ``f̄(i) = Σ_x δ_x (1 - x(i)) / Σ_x (1 - x(i))``.

    Degenerate genes: if allele 1 (or allele 0) of gene ``i`` is absent from the whole sample, its
    mean is undefined. We then set it equal to the other allele's mean (which is the population
    mean fitness), so ``f(i) = f̄(i)`` and every update rule in this module leaves ``p(i)``
    unchanged that generation. No NaN is ever produced.

    Args:
      genotypes: ``(N, n)`` array of 0/1.
      fitness: ``(N,)`` fitness of each genotype, higher is better.

    Returns:
      ``(f, f_bar)``, each ``(n,)`` float32.
    """
    x = genotypes.astype(jnp.float32)
    fitness = fitness.astype(jnp.float32)
    ones = jnp.sum(x, axis=0)
    zeros = x.shape[0] - ones
    fit_ones = fitness @ x
    fit_zeros = fixed_order_sum(fitness) - fit_ones  # not jnp.sum: the same bits inside vmap
    f = fit_ones / jnp.maximum(ones, 1.0)
    f_bar = fit_zeros / jnp.maximum(zeros, 1.0)
    f = jnp.where(ones > 0, f, f_bar)
    f_bar = jnp.where(zeros > 0, f_bar, f)
    return f, f_bar


def update_allele_freqs(allele_freqs: Array, f: Array, f_bar: Array, eps: float | Array) -> Array:
    """The weak-selection update, equation (3) of the paper.

    ``p' = p (1 + ε f) / (p (1 + ε f) + (1 - p)(1 + ε f̄))``.

    Equation (3) assumes weak selection, i.e. ``1 + ε f > 0``. For fitness values where a
    multiplier ``1 + ε f`` would be negative (possible for user fitness functions that are not
    non-negative), the multiplier is clipped at 0 (that allele leaves no progeny), so the result
    always lies in [0, 1]. If both multipliers are 0 the frequency is left unchanged.

    Args:
      allele_freqs: ``(n,)`` in [0, 1].
      f, f_bar: ``(n,)`` allele rewards (see :func:`allele_rewards`).
      eps: selection strength ``ε > 0`` (scalar, may be traced).

    Returns:
      ``(n,)`` updated allele frequencies in [0, 1].
    """
    p = allele_freqs
    a = p * jnp.maximum(1.0 + eps * f, 0.0)
    b = (1.0 - p) * jnp.maximum(1.0 + eps * f_bar, 0.0)
    total = a + b
    new_p = a / jnp.where(total > 0, total, 1.0)
    return jnp.clip(jnp.where(total > 0, new_p, p), 0.0, 1.0)


def multiplicative_weights_update(allele_freqs: Array, f: Array, f_bar: Array, eps: float | Array) -> Array:
    """Exponential (multiplicative-weights) form of equation (3).

    ``p' = p e^{ε f} / (p e^{ε f} + (1 - p) e^{ε f̄})``, i.e. ``logit p' = logit p + ε (f - f̄)``.
    It agrees with equation (3) to first order in ``ε`` (the weak-selection limit) and is well
    defined for any real fitness and any ``ε > 0``. Computed in a numerically stable way; ``p`` equal
    to exactly 0 or 1 stays there.

    Shapes as in :func:`update_allele_freqs`.
    """
    p = allele_freqs
    d = eps * (f - f_bar)
    a = jnp.exp(-jnp.abs(d))  # in (0, 1]: no overflow for any d
    num = jnp.where(d >= 0, p, p * a)
    den = num + jnp.where(d >= 0, (1.0 - p) * a, 1.0 - p)
    new_p = num / jnp.where(den > 0, den, 1.0)
    return jnp.clip(jnp.where(den > 0, new_p, p), 0.0, 1.0)


def clipped_fraction(f: Array, f_bar: Array, eps: float | Array) -> Array:
    """Fraction of equation (3)'s ``2n`` multipliers ``1 + ε f(i)``, ``1 + ε f̄(i)`` below 0 (clipped to 0).

    Non-zero only for fitness that can be negative (a user's own); such an allele leaves no progeny, and
    where every multiplier clips nothing learns. Scalar float32 in [0, 1].
    """
    return jnp.mean(jnp.concatenate([1.0 + eps * f < 0.0, 1.0 + eps * f_bar < 0.0]).astype(jnp.float32))


UpdateRule = Callable[[Array, Array, Array, "float | Array"], Array]

UPDATE_RULES: Registry[UpdateRule] = Registry(
    "update_rule", {"weak_selection": update_allele_freqs, "multiplicative_weights": multiplicative_weights_update}
)
"""Update rules ``(p, f, f̄, ε) -> p'`` (all ``(n,)``, ``ε`` a scalar) by name; ``UPDATE_RULES.register`` adds one."""
