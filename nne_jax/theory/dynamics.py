"""Equation (3) dynamics on the linear target: exact (infinite population) and finite population.

**Exact dynamics.** With the exact rewards of :func:`~nne_jax.theory.linear.exact_allele_rewards`,
equation (3) (:func:`nne_jax.genetics.update_allele_freqs`) maps ``p^t → p^{t+1}``. By Lemma 1 the
denominator ``p(1 + ε f) + (1 - p)(1 + ε f̄)`` equals ``1 - ε ℒ(p)`` for every gene, so::

    p^{t+1}(i) - p^t(i) = -ε p(i)(1 - p(i)) ∇_i ℒ(p^t) / (1 - ε ℒ(p^t)),

a preconditioned gradient step. It is well defined (``1 + ε f > 0``, all multipliers positive) iff
``ε · max_i ℒ(p with p_i := 0 or 1) < 1``; ``ε <= 1/(2U)`` with ``U = sup ℒ`` (Theorem 1's regime)
guarantees ``1 + ε f >= 1/2`` at every ``p``. For larger ``ε`` the core update clips a negative
multiplier at 0 (that allele leaves no progeny); :func:`exact_dynamics` reports how often.

**Finite population.** Each generation samples ``N`` genotypes (``sample_genotypes``) and a
minibatch of ``B`` inputs uniform in the ball; fitness is ``-`` the minibatch mean squared loss;
``allele_rewards`` and equation (3) update ``p``. Runs as a jitted ``lax.scan``.

Why not ``NNE.ask``/``tell``: the theory checks run in float64 (``jax.enable_x64``) with ``p`` in the
dtype of ``W``, while :class:`~nne_jax.NNE` keeps float32 state. The loop is built from the same three
primitives ``NNE.tell`` uses (``sample_genotypes``, ``allele_rewards``, ``update_allele_freqs``) with
the paper's plain equation (3): no shaping, no bounds, no fixation; ``tests/test_theory.py`` checks it
against ``NNE`` in float32.
"""
from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp

from nne_jax.genetics import allele_rewards, sample_genotypes, update_allele_freqs
from nne_jax.theory.linear import (
    cosine,
    exact_allele_rewards,
    expected_loss,
    minibatch_loss,
    sample_unit_ball,
    validate,
)

Array = jax.Array

__all__ = [
    "ExactTrace",
    "FiniteTrace",
    "weak_selection_eps",
    "exact_step",
    "exact_dynamics",
    "finite_population_dynamics",
]


class ExactTrace(NamedTuple):
    """Output of :func:`exact_dynamics` for ``T`` generations recorded every ``k``.

    Attributes:
      allele_freqs: ``(T//k + 1, n)`` ``p`` at generations ``0, k, 2k, ...``.
      loss: ``(T + 1,)`` ``ℒ(p^t)`` at every generation.
      clipped: ``(T,)`` bool, whether some multiplier ``1 + ε f`` or ``1 + ε f̄`` was ``<= 0``.
    """

    allele_freqs: Array
    loss: Array
    clipped: Array


class FiniteTrace(NamedTuple):
    """Output of :func:`finite_population_dynamics` (``R = T//k + 1`` records, generations ``0, k, ...``).

    Attributes:
      allele_freqs: ``(R, n)`` ``p`` at the recorded generations.
      loss: ``(R,)`` exact expected loss ``ℒ(p)``.
      cosine: ``(R,)`` cosine of the mean weights ``W p`` with ``a``.
      rounded_cosine: ``(R,)`` cosine of ``W round(p)`` with ``a``.
      minibatch_loss: ``(T,)`` mean minibatch loss of the sampled population each generation.
      clip_frac: ``(T,)`` fraction of sampled genotypes with ``1 - ε·loss <= 0`` (multiplier clipped).
    """

    allele_freqs: Array
    loss: Array
    cosine: Array
    rounded_cosine: Array
    minibatch_loss: Array
    clip_frac: Array


def weak_selection_eps(allele_freqs: Array, weight_matrix: Array, target: Array, margin: float = 0.5) -> Array:
    """Largest ``ε`` with ``1 + ε f >= margin`` for the exact rewards at ``p``: ``(1 - margin) / max_i,b ℒ(p | x_i = b)``.

    Theorem 1 uses the global ``ε = 1/(2U)`` (``margin = 1/2`` at every ``p``); this local choice at
    ``p^0`` is much larger for big ``n`` and stays valid while the conditional losses do not grow
    (:func:`exact_dynamics` reports any clipping).
    """
    f, f_bar = exact_allele_rewards(allele_freqs, weight_matrix, target)
    worst = jnp.maximum(jnp.max(-f), jnp.max(-f_bar))
    return (1.0 - margin) / jnp.maximum(worst, 1e-12)


def exact_step(allele_freqs: Array, weight_matrix: Array, target: Array, eps: float | Array) -> Array:
    """One generation of equation (3) with the exact rewards; ``(n,) → (n,)``."""
    f, f_bar = exact_allele_rewards(allele_freqs, weight_matrix, target)
    return update_allele_freqs(allele_freqs, f, f_bar, eps)


@partial(jax.jit, static_argnames=("num_generations", "record_every"))
def _exact_scan(p0, weight_matrix, target, eps, num_generations, record_every):
    def generation(p, _):
        f, f_bar = exact_allele_rewards(p, weight_matrix, target)
        clipped = jnp.any(jnp.minimum(1.0 + eps * f, 1.0 + eps * f_bar) <= 0.0)
        new_p = update_allele_freqs(p, f, f_bar, eps)
        return new_p, (expected_loss(new_p, weight_matrix, target), clipped)

    def chunk(p, _):
        p, (losses, clipped) = jax.lax.scan(generation, p, None, length=record_every)
        return p, (p, losses, clipped)

    _, (ps, losses, clipped) = jax.lax.scan(chunk, p0, None, length=num_generations // record_every)
    loss0 = expected_loss(p0, weight_matrix, target)
    return (
        jnp.concatenate([p0[None], ps]),
        jnp.concatenate([loss0[None], losses.reshape(-1)]),
        clipped.reshape(-1),
    )


def exact_dynamics(
    allele_freqs: Array,
    weight_matrix: Array,
    target: Array,
    eps: float,
    num_generations: int,
    record_every: int = 1,
) -> ExactTrace:
    """Runs ``num_generations`` of the exact (infinite-population) equation-(3) dynamics.

    Args:
      allele_freqs: ``(n,)`` initial ``p^0`` in [0, 1].
      weight_matrix: ``(m, n)``; target: ``(m,)``.
      eps: selection strength ``ε > 0`` (see the module docstring for the valid regime).
      num_generations: ``T``, a multiple of ``record_every``.
      record_every: ``k``; ``p`` is stored every ``k`` generations (the loss every generation).
    """
    validate(weight_matrix, target, allele_freqs)
    if num_generations < 1 or record_every < 1 or num_generations % record_every:
        raise ValueError(f"num_generations ({num_generations}) must be a positive multiple of record_every ({record_every})")
    if not eps > 0:
        raise ValueError(f"eps must be > 0, got {eps}")
    dtype = weight_matrix.dtype
    return ExactTrace(
        *_exact_scan(
            jnp.asarray(allele_freqs, dtype), weight_matrix, jnp.asarray(target, dtype), jnp.asarray(eps, dtype),
            num_generations, record_every,
        )
    )


@partial(jax.jit, static_argnames=("num_generations", "pop_size", "batch_size", "record_every"))
def _finite_scan(key, p0, weight_matrix, target, eps, num_generations, pop_size, batch_size, record_every):
    m = weight_matrix.shape[0]

    def generation(p, k):
        k_pop, k_in = jax.random.split(k)
        genotypes = sample_genotypes(k_pop, p, pop_size)  # (N, n) float32
        inputs = sample_unit_ball(k_in, batch_size, m).astype(weight_matrix.dtype)  # (B, m)
        losses = minibatch_loss(genotypes.astype(weight_matrix.dtype), weight_matrix, target, inputs)  # (N,)
        f, f_bar = allele_rewards(genotypes, -losses)
        new_p = update_allele_freqs(p, f.astype(p.dtype), f_bar.astype(p.dtype), eps)
        return new_p, (jnp.mean(losses), jnp.mean(1.0 - eps * losses <= 0.0))

    def record(p):
        return (
            expected_loss(p, weight_matrix, target),
            cosine(p, weight_matrix, target),
            cosine(jnp.round(p), weight_matrix, target),
        )

    def chunk(p, keys):
        p, (mb, clip) = jax.lax.scan(generation, p, keys)
        return p, (p, record(p), mb, clip)

    keys = jax.random.split(key, num_generations)
    keys = keys.reshape((num_generations // record_every, record_every) + keys.shape[1:])
    _, (ps, recs, mb, clip) = jax.lax.scan(chunk, p0, keys)
    rec0 = record(p0)
    stack = lambda first, rest: jnp.concatenate([first[None], rest])  # noqa: E731
    return (
        stack(p0, ps), stack(rec0[0], recs[0]), stack(rec0[1], recs[1]), stack(rec0[2], recs[2]),
        mb.reshape(-1), clip.reshape(-1),
    )


def finite_population_dynamics(
    key: Array,
    allele_freqs: Array,
    weight_matrix: Array,
    target: Array,
    eps: float,
    num_generations: int,
    pop_size: int,
    batch_size: int,
    record_every: int = 1,
) -> FiniteTrace:
    """NNE with ``N = pop_size`` genotypes and ``B = batch_size`` fresh inputs per generation.

    Fitness of genotype ``x`` is ``-(1/B) Σ_b (xᵀWᵀy_b - aᵀy_b)²``; rewards by
    :func:`nne_jax.genetics.allele_rewards`, update by equation (3). Genotypes are float32 (core
    sampler); ``p`` keeps the dtype of ``weight_matrix``.

    Args:
      key: PRNG key; allele_freqs: ``(n,)`` ``p^0``; weight_matrix ``(m, n)``; target ``(m,)``.
      eps: ``ε > 0``; num_generations: ``T`` (multiple of ``record_every``).
    """
    validate(weight_matrix, target, allele_freqs)
    if num_generations < 1 or record_every < 1 or num_generations % record_every:
        raise ValueError(f"num_generations ({num_generations}) must be a positive multiple of record_every ({record_every})")
    if pop_size < 2 or batch_size < 1:
        raise ValueError(f"need pop_size >= 2 and batch_size >= 1, got {pop_size}, {batch_size}")
    if not eps > 0:
        raise ValueError(f"eps must be > 0, got {eps}")
    dtype = weight_matrix.dtype
    return FiniteTrace(
        *_finite_scan(
            key, jnp.asarray(allele_freqs, dtype), weight_matrix, jnp.asarray(target, dtype), jnp.asarray(eps, dtype),
            num_generations, pop_size, batch_size, record_every,
        )
    )
