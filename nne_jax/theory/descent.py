"""Theorem 1 (descent of the expected loss under equation (3)) for the linear target.

Theorem 1: if ``∇²ℒ ⪯ H·I`` on the cube, ``U = sup_{[0,1]^n} ℒ`` and
``ε <= min{1/max{2U, 1}, 2/H, 1}``, then for some ``η > 0``
``ℒ(p^{t+1}) <= ℒ(p^t) - η Σ_{i∈S_t} (∇_iℒ(p^t))²`` with ``S_t = {i : δ <= p^t(i) <= 1-δ}``.

For the linear target ℒ is multilinear and quadratic, so (see :mod:`nne_jax.theory.dynamics`)
``Δp_i = -κ_t D_i g_i`` with ``g = ∇ℒ(p^t)``, ``D_i = p_i(1-p_i) <= 1/4``, ``κ_t = ε/(1 - εℒ(p^t))``,
and, exactly, ``ℒ(p^{t+1}) - ℒ(p^t) = gᵀΔ + ½ Δᵀ∇²ℒ Δ <= -Σ_i κ_t D_i g_i² (1 - H κ_t D_i / 2)``.
Since ``0 <= ℒ <= U`` and ``εU <= 1/2``, ``κ_t <= 2ε`` and ``H κ_t D_i / 2 <= Hε/4 <= 1/2``, hence
the inequality holds with ``η_t = ε δ(1-δ) / (2 (1 - ε ℒ(p^t)))`` (our derivation; any
``η <= εδ(1-δ)/2`` then works for every ``t``). The brief's "paper constant"
``η = εδ(1-δ)/(2(1-εB))`` with ``B = U`` (a bound on ``|f|``: ``-U <= f, f̄ <= 0``) is *larger* than
``η_t`` whenever ``ℒ(p^t) < U``, so the derivation above does not cover it; :func:`check_descent`
tests any given ``η`` and reports per generation whether the inequality held.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from nne_jax.theory.dynamics import exact_dynamics
from nne_jax.theory.linear import enumerate_genotypes, loss_gradient, loss_hessian, validate

Array = jax.Array

__all__ = ["DescentCheck", "loss_sup", "hessian_bound", "theorem1_eps", "theorem1_eta", "check_descent"]


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
    """``η = ε δ(1-δ) / (2 (1 - ε B))``; needs ``0 < δ <= 1/2`` and ``ε B < 1``.

    ``B = U`` gives the brief's printed constant; ``B = ℒ(p^t)`` (an array) gives the per-generation
    ``η_t`` proven in this module's docstring.
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
      eta: a number, or ``"proof"`` for the per-generation ``η_t = εδ(1-δ)/(2(1-εℒ(p^t)))``.
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
