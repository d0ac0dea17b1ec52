"""Theorem 2: existence of allele frequencies ``p ∈ [0,1]^n`` with ``W p = a``, and of 0/1 genotypes
whose weights ``W x`` point along ``a``.

* :func:`feasible_allele_freqs` solves the LP feasibility problem ``W p = a, 0 <= p <= 1``
  (``scipy.optimize.linprog``, ``method="highs"``) and verifies the answer.
* :func:`max_scale_allele_freqs` solves ``max λ s.t. W p = λ a, p ∈ [0,1]^n``: the direction claim
  of Theorem 2 only concerns ``Wx ∝ a``, and a large ``λ`` makes the (at most ``m``) fractional
  coordinates of the LP's vertex solution matter little after rounding.
* :func:`best_of_k_rounding` rounds ``p`` randomly ``k`` times (``x ~ Bernoulli(p)``, vmapped) and
  keeps the genotype with the best cosine.

The LPs run in scipy (host, float64; scipy is imported lazily); they are not jit-able.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from nne_jax.genetics import sample_genotypes
from nne_jax.theory.linear import cosine, sample_target, sample_weight_matrix, validate

Array = jax.Array

__all__ = [
    "feasible_allele_freqs",
    "max_scale_allele_freqs",
    "best_of_k_rounding",
    "feasibility_curve",
    "feasibility_fraction",
]


def feasible_allele_freqs(weight_matrix: Array, target: Array, atol: float = 1e-7) -> np.ndarray | None:
    """Some ``p ∈ [0,1]^n`` with ``W p = a`` (``(n,)`` float64), or ``None`` if the LP is infeasible.

    HiGHS returns a vertex of the feasible polytope, so at most ``m`` coordinates are fractional.
    A returned ``p`` satisfies ``‖Wp - a‖_∞ <= atol`` and ``0 <= p <= 1`` (checked; else ``RuntimeError``).
    """
    from scipy.optimize import linprog  # scipy is an optional dependency (test/experiments extras)

    validate(weight_matrix, target)
    w, a = np.asarray(weight_matrix, np.float64), np.asarray(target, np.float64)
    res = linprog(np.zeros(w.shape[1]), A_eq=w, b_eq=a, bounds=(0.0, 1.0), method="highs")
    if res.status == 2:  # infeasible
        return None
    if res.status != 0:
        raise RuntimeError(f"linprog failed: status {res.status}: {res.message}")
    p = np.clip(res.x, 0.0, 1.0)
    err = np.max(np.abs(w @ p - a))
    if err > atol * max(1.0, np.abs(w).max()):
        raise RuntimeError(f"LP solution violates W p = a by {err:.3g}")
    return p


def max_scale_allele_freqs(weight_matrix: Array, target: Array) -> tuple[float, np.ndarray]:
    """``(λ*, p)`` maximizing ``λ`` subject to ``W p = λ a``, ``p ∈ [0, 1]^n``, ``λ >= 0`` (always feasible: p = 0).

    ``λ*`` is how far along ``a`` the zonotope ``W[0,1]^n`` reaches; returns ``p`` as ``(n,)`` float64.
    """
    from scipy.optimize import linprog

    validate(weight_matrix, target)
    w, a = np.asarray(weight_matrix, np.float64), np.asarray(target, np.float64)
    m, n = w.shape
    c = np.zeros(n + 1)
    c[-1] = -1.0  # maximize λ
    a_eq = np.hstack([w, -a[:, None]])
    bounds = [(0.0, 1.0)] * n + [(0.0, None)]
    res = linprog(c, A_eq=a_eq, b_eq=np.zeros(m), bounds=bounds, method="highs")
    if res.status != 0:
        raise RuntimeError(f"linprog failed: status {res.status}: {res.message}")
    return float(res.x[-1]), np.clip(res.x[:n], 0.0, 1.0)


def best_of_k_rounding(key: Array, allele_freqs: Array, weight_matrix: Array, target: Array, k: int) -> tuple[Array, Array]:
    """Samples ``k`` genotypes ``x ~ Bernoulli(p)`` and returns ``(best x (n,), its cosine)``."""
    validate(weight_matrix, target, allele_freqs)
    w = jnp.asarray(weight_matrix)
    genotypes = sample_genotypes(key, jnp.asarray(allele_freqs, jnp.float32), k).astype(w.dtype)  # (k, n)
    cos = cosine(genotypes, w, jnp.asarray(target, w.dtype))
    best = jnp.argmax(cos)
    return genotypes[best], cos[best]


def feasibility_curve(
    key: Array, num_links: int, genes: list[int], d: float, draws: int, in_ball: bool = False
) -> np.ndarray:
    """Fraction of ``draws`` random ``(W, a)`` for which ``W p = a`` has a solution in the cube, per ``n`` in ``genes``.

    ``W`` as in :func:`~nne_jax.theory.linear.sample_weight_matrix` (density ``d/m``), ``a`` uniform
    on the unit sphere (or in the ball if ``in_ball``). Instances are *nested*: draw ``k`` samples one
    ``(m, max(genes))`` matrix and the instance with ``n`` genes is its first ``n`` columns (entries are
    i.i.d., so each instance has the stated law; feasibility is then monotone in ``n`` per draw).
    One LP per (draw, n), in a host loop (LPs are not jit-able). Returns ``(len(genes),)``.
    """
    if draws < 1 or not genes or min(genes) < 1:
        raise ValueError(f"need draws >= 1 and genes >= 1, got draws={draws}, genes={genes}")
    n_max = max(genes)
    k_w, k_a = jax.random.split(key)
    ws = sample_weight_matrix(k_w, num_links, n_max * draws, d).reshape(num_links, draws, n_max)
    targets = jax.vmap(lambda k: sample_target(k, num_links, in_ball))(jax.random.split(k_a, draws))
    ws, targets = np.asarray(ws, np.float64), np.asarray(targets, np.float64)
    return np.array([
        np.mean([feasible_allele_freqs(ws[:, j, :n], targets[j]) is not None for j in range(draws)]) for n in genes
    ])


def feasibility_fraction(key: Array, num_links: int, num_genes: int, d: float, draws: int, in_ball: bool = False) -> float:
    """:func:`feasibility_curve` at a single ``n``."""
    return float(feasibility_curve(key, num_links, [num_genes], d, draws, in_ball)[0])
