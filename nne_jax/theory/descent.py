"""Theorem 1 (descent of the expected loss under equation (3)) for the linear target.

Theorem 1 (the paper): if ``∇²ℒ ⪯ H·I`` on the cube, ``U = sup_{[0,1]^n} ℒ`` and
``ε <= min{1/max{2U, 1}, 2/H, 1}``, then *there is* an ``η > 0`` with
``E ℒ(p^{t+1}) <= ℒ(p^t) - η Σ_{i∈S_t} (∇_iℒ(p^t))²``, ``S_t = {i : δ <= p^t(i) <= 1-δ}``. The paper
prints no value of ``η``; every explicit ``η`` below is **ours**.

**Our derivation (infinite population).** For the linear target ℒ is multilinear and quadratic, so
(see :mod:`nne_jax.theory.dynamics`) ``Δp_i = -κ_t D_i g_i`` with ``g = ∇ℒ(p^t)``,
``D_i = p_i(1-p_i) <= 1/4``, ``κ_t = ε/(1 - εℒ(p^t))``, and, exactly,
``ℒ(p^{t+1}) - ℒ(p^t) = gᵀΔ + ½ Δᵀ∇²ℒ Δ <= -Σ_i κ_t D_i g_i² (1 - H κ_t D_i / 2)``.
Since ``0 <= ℒ <= U`` and ``εU <= 1/2``, ``κ_t <= 2ε`` and ``H κ_t D_i / 2 <= Hε/4 <= 1/2``, hence
the inequality holds with ``η_t = ε δ(1-δ) / (2 (1 - ε ℒ(p^t)))`` (ours; any ``η <= εδ(1-δ)/2`` then
works for every ``t``). Checking ``η_t`` along exact runs is therefore a *consistency check* of our
own algebra and code, not a test of the paper. The candidate constant ``η = εδ(1-δ)/(2(1-εB))`` with
``B = U`` (a bound on ``|f|``: ``-U <= f, f̄ <= 0``) is also ours (it is not printed in the paper); it
is *larger* than ``η_t`` whenever ``ℒ(p^t) < U``, so the derivation above does not cover it;
:func:`check_descent` tests any given ``η`` and reports per generation whether the inequality held.

**The paper's statement with a finite population.** Theorem 1 has an expectation on the left: with
``N`` sampled genotypes, ``p^{t+1}`` is random. :func:`monte_carlo_descent` estimates
``E ℒ(p^{t+1})`` from independent replicates of one sampled generation and gives a confidence
interval for ``ℒ(p^t) - E ℒ(p^{t+1})`` next to ``Σ_{i∈S_t} (∇_iℒ(p^t))²``.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from nne_jax.genetics import allele_rewards, sample_genotypes, update_allele_freqs
from nne_jax.theory.dynamics import exact_dynamics, exact_step
from nne_jax.theory.linear import (
    enumerate_genotypes,
    expected_loss,
    genotype_loss,
    loss_gradient,
    loss_hessian,
    minibatch_loss,
    sample_unit_ball,
    validate,
)

Array = jax.Array

__all__ = [
    "DescentCheck",
    "MonteCarloDescent",
    "check_descent",
    "hessian_bound",
    "loss_sup",
    "monte_carlo_descent",
    "sampled_step",
    "theorem1_eps",
    "theorem1_eta",
]


class DescentCheck(NamedTuple):
    """Per-generation record of Theorem 1's inequality over ``T`` exact generations.

    Attributes:
      loss: ``(T+1,)`` ``ℒ(p^t)``.
      decrease: ``(T,)`` ``ℒ(p^t) - ℒ(p^{t+1})``.
      grad_sq_s: ``(T,)`` ``Σ_{i∈S_t} (∇_iℒ(p^t))²``.
      set_size: ``(T,)`` ``|S_t|``.
      eta: ``(T,)`` the ``η`` used at each generation.
      holds: ``(T,)`` bool, ``decrease >= η · grad_sq_s - tol``.
      monotone: ``(T,)`` bool, ``decrease >= -tol``.
      clipped: ``(T,)`` bool, a multiplier ``1 + εf`` was ``<= 0`` (outside equation (3)'s regime).
    """

    loss: np.ndarray
    decrease: np.ndarray
    grad_sq_s: np.ndarray
    set_size: np.ndarray
    eta: np.ndarray
    holds: np.ndarray
    monotone: np.ndarray
    clipped: np.ndarray


def loss_sup(weight_matrix: Array, target: Array, max_enumerate: int = 16) -> tuple[float, bool]:
    """``U = sup_{p∈[0,1]^n} ℒ(p)`` and whether it is exact.

    ℒ is multilinear, so the sup is attained at a vertex, where ℒ(x) = ‖Wx - a‖²/(m+2). For
    ``n <= max_enumerate`` all ``2^n`` vertices are enumerated (exact). Otherwise we return the
    valid upper bound ``Σ_j max{(P_j - a_j)², (N_j - a_j)²}/(m+2)``, where ``P_j`` / ``N_j`` are the
    sums of the positive / negative entries of row ``j`` (each coordinate of ``Wx - a`` lies in
    ``[N_j - a_j, P_j - a_j]``; maximizing each coordinate separately can only overshoot).
    """
    validate(weight_matrix, target)
    w, a = np.asarray(weight_matrix, np.float64), np.asarray(target, np.float64)
    m, n = w.shape
    if n <= max_enumerate:
        genotypes = np.asarray(enumerate_genotypes(n), np.float64)
        return float(np.max(np.sum((genotypes @ w.T - a) ** 2, axis=1)) / (m + 2)), True
    pos, neg = np.clip(w, 0, None).sum(axis=1), np.clip(w, None, 0).sum(axis=1)
    return float(np.sum(np.maximum((pos - a) ** 2, (neg - a) ** 2)) / (m + 2)), False


def hessian_bound(weight_matrix: Array, kind: str = "eigenvalue") -> float:
    """``H`` with ``∇²ℒ ⪯ H·I``: the largest eigenvalue of the constant Hessian (``kind="eigenvalue"``,
    tight; it is ``>= 0`` because the Hessian has zero trace) or its spectral norm (``"spectral"``)."""
    hess = np.asarray(loss_hessian(jnp.asarray(np.asarray(weight_matrix, np.float64))), np.float64)
    eig = np.linalg.eigvalsh(hess)
    if kind == "eigenvalue":
        return float(max(eig[-1], 0.0))
    if kind == "spectral":
        return float(np.max(np.abs(eig)))
    raise ValueError(f"kind must be 'eigenvalue' or 'spectral', got {kind!r}")


def theorem1_eps(sup_loss: float, hessian: float) -> float:
    """Theorem 1's largest allowed ``ε = min{1/max{2U, 1}, 2/H, 1}``."""
    return float(min(1.0 / max(2.0 * sup_loss, 1.0), 2.0 / hessian if hessian > 0 else np.inf, 1.0))


def theorem1_eta(eps: float, delta: float, reward_bound: float | np.ndarray) -> float | np.ndarray:
    """``η = ε δ(1-δ) / (2 (1 - ε B))`` (ours: the paper only says some ``η > 0`` exists).

    Needs ``0 < δ <= 1/2`` and ``ε B < 1``. ``B = U`` gives our candidate constant (not covered by our
    derivation); ``B = ℒ(p^t)`` (an array) gives the per-generation ``η_t`` of our derivation in this
    module's docstring (checking it is a consistency check).
    """
    if not 0.0 < delta <= 0.5:
        raise ValueError(f"delta must be in (0, 1/2], got {delta}")
    b = np.asarray(reward_bound, np.float64)
    if np.any(eps * b >= 1.0):
        raise ValueError(f"need eps * B < 1, got eps={eps}, max B={b.max()}")
    return eps * delta * (1.0 - delta) / (2.0 * (1.0 - eps * b))


def check_descent(
    allele_freqs: Array,
    weight_matrix: Array,
    target: Array,
    eps: float,
    delta: float,
    eta: float | str,
    num_generations: int,
    rtol: float = 1e-10,
) -> DescentCheck:
    """Runs the exact dynamics and checks Theorem 1's inequality at every generation.

    Args:
      allele_freqs ``(n,)``, weight_matrix ``(m, n)``, target ``(m,)``: the instance and ``p^0``.
      eps: ``ε``; delta: ``δ`` defining ``S_t``.
      eta: a number, or ``"proof"`` for our per-generation ``η_t = εδ(1-δ)/(2(1-εℒ(p^t)))``.
      num_generations: ``T``.
      rtol: floating-point slack, ``tol = rtol · max(ℒ(p^t), 1e-300)``; use float64 inputs.
    """
    trace = exact_dynamics(allele_freqs, weight_matrix, target, eps, num_generations)
    ps = trace.allele_freqs[:-1]  # p^0 .. p^{T-1}
    grads = np.asarray(jax.vmap(loss_gradient, in_axes=(0, None, None))(ps, weight_matrix, target))
    ps, loss = np.asarray(ps), np.asarray(trace.loss)
    in_s = (ps >= delta) & (ps <= 1.0 - delta)
    grad_sq_s = np.sum(np.where(in_s, grads**2, 0.0), axis=1)
    if isinstance(eta, str):
        if eta != "proof":
            raise ValueError(f"eta must be a number or 'proof', got {eta!r}")
        eta_t = np.asarray(theorem1_eta(eps, delta, loss[:-1]), np.float64)
    else:
        eta_t = np.full(num_generations, float(eta))
    decrease = loss[:-1] - loss[1:]
    tol = rtol * np.maximum(np.abs(loss[:-1]), 1e-300)
    return DescentCheck(
        loss=loss,
        decrease=decrease,
        grad_sq_s=grad_sq_s,
        set_size=in_s.sum(axis=1),
        eta=eta_t,
        holds=decrease >= eta_t * grad_sq_s - tol,
        monotone=decrease >= -tol,
        clipped=np.asarray(trace.clipped),
    )


class MonteCarloDescent(NamedTuple):
    """Theorem 1 at one ``p^t`` with ``N`` sampled genotypes, estimated from ``R`` replicates.

    Attributes:
      loss: ``ℒ(p^t)``.
      mean_next_loss: Monte-Carlo mean of ``ℒ(p^{t+1})`` over the replicates.
      mean_decrease: ``ℒ(p^t) - mean_next_loss``.
      ci_half_width: half width of the normal-approximation confidence interval of the mean decrease.
      decrease_std: sample standard deviation (ddof = 1) of ``ℒ(p^t) - ℒ(p^{t+1})`` over replicates.
      exact_decrease: ``ℒ(p^t) - ℒ(p^{t+1})`` with the exact rewards (``N = ∞``).
      grad_sq_s: ``Σ_{i∈S_t} (∇_iℒ(p^t))²``.
      set_size: ``|S_t|``.
      clip_frac: fraction of replicates in which some multiplier ``1 + ε f`` was ``<= 0``.
      replicates: ``R``.
    """

    loss: float
    mean_next_loss: float
    mean_decrease: float
    ci_half_width: float
    decrease_std: float
    exact_decrease: float
    grad_sq_s: float
    set_size: int
    clip_frac: float
    replicates: int


def sampled_step(
    key: Array,
    allele_freqs: Array,
    weight_matrix: Array,
    target: Array,
    eps: float | Array,
    pop_size: int,
    batch_size: int | None = None,
) -> tuple[Array, Array]:
    """One generation of equation (3) with ``N = pop_size`` genotypes sampled i.i.d. from ``p``.

    Fitness of genotype ``x`` is ``-ℒ(x)``, the exact input average of equations (1)-(2)
    (``batch_size=None``, the only randomness is the genotype sample), or ``-`` the mean loss over
    ``batch_size`` fresh inputs uniform in the ball. The fitness is centred before
    :func:`~nne_jax.genetics.allele_rewards` (which works in float32; its means are shift-equivariant)
    and the mean added back in the input dtype. Returns ``(p^{t+1} (n,), clipped scalar bool)``.
    """
    k_pop, k_in = jax.random.split(key)
    dtype = weight_matrix.dtype
    genotypes = sample_genotypes(k_pop, allele_freqs, pop_size)
    x = genotypes.astype(dtype)
    if batch_size is None:
        losses = genotype_loss(x, weight_matrix, target)
    else:
        inputs = sample_unit_ball(k_in, batch_size, weight_matrix.shape[0]).astype(dtype)
        losses = minibatch_loss(x, weight_matrix, target, inputs)
    fitness = -losses
    mean = jnp.mean(fitness)
    f_c, f_bar_c = allele_rewards(genotypes, fitness - mean)
    f, f_bar = f_c.astype(dtype) + mean, f_bar_c.astype(dtype) + mean
    clipped = jnp.any(jnp.minimum(1.0 + eps * f, 1.0 + eps * f_bar) <= 0.0)
    return update_allele_freqs(allele_freqs, f, f_bar, eps), clipped


def _replicate_losses(keys, allele_freqs, weight_matrix, target, eps, pop_size, batch_size, chunk):
    def one(k):
        p_next, clipped = sampled_step(k, allele_freqs, weight_matrix, target, eps, pop_size, batch_size)
        return expected_loss(p_next, weight_matrix, target), clipped

    return jax.lax.map(one, keys, batch_size=chunk)


_replicate_losses = jax.jit(_replicate_losses, static_argnames=("pop_size", "batch_size", "chunk"))


def monte_carlo_descent(
    key: Array,
    allele_freqs: Array,
    weight_matrix: Array,
    target: Array,
    eps: float,
    delta: float,
    pop_size: int,
    replicates: int,
    batch_size: int | None = None,
    z: float = 1.959963984540054,
    chunk: int = 64,
) -> MonteCarloDescent:
    """Monte-Carlo estimate of ``E ℒ(p^{t+1})`` (Theorem 1's left side) at ``p^t = allele_freqs``.

    Runs ``replicates`` independent :func:`sampled_step` generations from the same ``p^t`` (vmapped in
    chunks of ``chunk``) and returns a :class:`MonteCarloDescent` whose confidence interval for the
    mean decrease is ``mean ± z·std/√R`` (``z = 1.96``: 95 %). Use float64 inputs.

    Args:
      key: PRNG key; allele_freqs ``(n,)``; weight_matrix ``(m, n)``; target ``(m,)``.
      eps: ``ε > 0``; delta: ``δ`` in ``(0, 1/2]`` defining ``S_t``.
      pop_size: ``N >= 2``; replicates: ``R >= 2``; batch_size: ``None`` (exact input average) or ``B >= 1``.
    """
    validate(weight_matrix, target, allele_freqs)
    if pop_size < 2 or replicates < 2:
        raise ValueError(f"need pop_size >= 2 and replicates >= 2, got {pop_size}, {replicates}")
    if batch_size is not None and batch_size < 1:
        raise ValueError(f"batch_size must be None or >= 1, got {batch_size}")
    if not eps > 0 or not 0.0 < delta <= 0.5:
        raise ValueError(f"need eps > 0 and delta in (0, 1/2], got eps={eps}, delta={delta}")
    dtype = weight_matrix.dtype
    p = jnp.asarray(allele_freqs, dtype)
    eps_arr = jnp.asarray(eps, dtype)
    keys = jax.random.split(key, replicates)
    next_loss, clipped = _replicate_losses(keys, p, weight_matrix, target, eps_arr, pop_size, batch_size, chunk)
    loss = float(expected_loss(p, weight_matrix, target))
    decrease = loss - np.asarray(next_loss, np.float64)
    std = float(np.std(decrease, ddof=1))
    p_np, grad = np.asarray(p), np.asarray(loss_gradient(p, weight_matrix, target))
    in_s = (p_np >= delta) & (p_np <= 1.0 - delta)
    exact_next = float(expected_loss(exact_step(p, weight_matrix, target, eps_arr), weight_matrix, target))
    return MonteCarloDescent(
        loss=loss,
        mean_next_loss=float(np.mean(next_loss)),
        mean_decrease=float(np.mean(decrease)),
        ci_half_width=z * std / np.sqrt(replicates),
        decrease_std=std,
        exact_decrease=loss - exact_next,
        grad_sq_s=float(np.sum(np.where(in_s, grad**2, 0.0))),
        set_size=int(in_s.sum()),
        clip_frac=float(np.mean(np.asarray(clipped))),
        replicates=replicates,
    )
