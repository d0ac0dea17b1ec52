"""The linear-target setting of Section 2.1 (Theorem 2) and its exact expected loss.

Setting:

* ``n`` genes, genotype ``x ∈ {0, 1}^n`` drawn as ``x(i) ~ Bernoulli(p(i))`` (``allele_freqs``).
* ``m`` links; the link weights are ``W x`` with the ``(m, n)`` weight-generation matrix ``W``
  whose entries are i.i.d. ``+sqrt(m/d)`` w.p. ``d/(2m)``, ``-sqrt(m/d)`` w.p. ``d/(2m)``, and 0
  otherwise (:func:`sample_weight_matrix`). Every column then has ``E‖W_{:,i}‖² = m``.
* Inputs ``y`` uniform in the unit ball of ``R^m`` (the paper writes "n-dimensional unit ball";
  the network has ``m`` inputs, so the ball lives in ``R^m``). Sampler: Gaussian direction times
  radius ``U^(1/m)``, ``U ~ Uniform[0, 1]`` (:func:`sample_unit_ball`). Then ``E[y yᵀ] = I/(m+2)``.
* Target ``a ∈ R^m`` with ``‖a‖ <= 1``, label ``ℓ(y) = aᵀy``; output ``NNE_x(y) = xᵀWᵀy``;
  squared loss ``(xᵀWᵀy - aᵀy)²``.

Closed forms (``c_i = ‖W_{:,i}‖²``, ``r = W p - a``)::

    E_y loss(x)  = ‖W x - a‖² / (m+2)
    ℒ(p)         = (‖r‖² + Σ_i p_i (1 - p_i) c_i) / (m+2)
    ∇ℒ(p)_i      = (2 W_{:,i}ᵀ r + (1 - 2 p_i) c_i) / (m+2)
    ∇²ℒ          = 2 (WᵀW - diag(c)) / (m+2)           (constant; zero diagonal: ℒ is multilinear)

and the allele rewards of equations (1)-(2) with fitness ``-loss``: ``f(i) = -ℒ(p with p_i := 1)``,
``f̄(i) = -ℒ(p with p_i := 0)`` (:func:`exact_allele_rewards`), computed directly from the
conditional expectations, not from the gradient, so Lemma 1 can be checked against them.

All functions are pure and jit-able and keep the input dtype (use ``jax.enable_x64(True)`` as a
context manager for float64 checks). Shape validation happens on concrete (non-traced) inputs.
"""
from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np

from nne_jax.networks import linear_forward

Array = jax.Array

__all__ = [
    "validate",
    "sample_unit_ball",
    "sample_weight_matrix",
    "sample_target",
    "genotype_loss",
    "minibatch_loss",
    "expected_loss",
    "loss_gradient",
    "loss_hessian",
    "exact_allele_rewards",
    "enumerate_genotypes",
    "enumerated_expected_loss",
    "enumerated_allele_rewards",
    "cosine",
]


def validate(weight_matrix: Array, target: Array, allele_freqs: Array | None = None) -> None:
    """Raises ``ValueError`` unless ``W`` is ``(m, n)``, ``a`` is ``(m,)`` and ``p`` is ``(n,)`` in [0, 1].

    The range check on ``p`` is skipped for traced values (inside ``jit``).
    """
    w_shape, a_shape = np.shape(weight_matrix), np.shape(target)
    if len(w_shape) != 2 or min(w_shape) < 1:
        raise ValueError(f"weight_matrix must be a non-empty (m, n) matrix, got shape {w_shape}")
    if a_shape != (w_shape[0],):
        raise ValueError(f"target must have shape (m,) = ({w_shape[0]},) to match W {w_shape}, got {a_shape}")
    if allele_freqs is None:
        return
    if np.shape(allele_freqs) != (w_shape[1],):
        raise ValueError(f"allele_freqs must have shape (n,) = ({w_shape[1]},), got {np.shape(allele_freqs)}")
    if not isinstance(allele_freqs, jax.core.Tracer):
        p = np.asarray(allele_freqs)
        if not np.all((p >= 0.0) & (p <= 1.0)):
            raise ValueError(f"allele_freqs must lie in [0, 1]; got min {p.min():.3g}, max {p.max():.3g}")


def sample_unit_ball(key: Array, num: int, dim: int) -> Array:
    """``(num, dim)`` points uniform in the unit ball of ``R^dim``: ``g/‖g‖ · U^(1/dim)``."""
    k_dir, k_rad = jax.random.split(key)
    g = jax.random.normal(k_dir, (num, dim))
    direction = g / jnp.linalg.norm(g, axis=1, keepdims=True)
    radius = jax.random.uniform(k_rad, (num, 1), dtype=g.dtype) ** (1.0 / dim)
    return direction * radius


def sample_weight_matrix(key: Array, num_links: int, num_genes: int, d: float) -> Array:
    """``(m, n)`` matrix with i.i.d. entries ``±sqrt(m/d)`` w.p. ``d/m`` (each sign half) else 0.

    Requires ``0 < d <= m``.
    """
    if not 0.0 < d <= num_links:
        raise ValueError(f"need 0 < d <= m = {num_links}, got d = {d}")
    k_mask, k_sign = jax.random.split(key)
    dtype = jnp.zeros(()).dtype  # float64 under enable_x64, else float32
    nonzero = jax.random.uniform(k_mask, (num_links, num_genes), dtype=dtype) < d / num_links
    sign = jnp.where(jax.random.bernoulli(k_sign, 0.5, (num_links, num_genes)), 1.0, -1.0)
    return jnp.where(nonzero, sign * np.sqrt(num_links / d), 0.0).astype(dtype)


def sample_target(key: Array, num_links: int, in_ball: bool = False) -> Array:
    """Target ``a``: uniform on the unit sphere of ``R^m`` (``‖a‖ = 1``), or in the ball if ``in_ball``."""
    return sample_unit_ball(key, 1, num_links)[0] if in_ball else _unit(jax.random.normal(key, (num_links,)))


def _unit(v: Array) -> Array:
    return v / jnp.linalg.norm(v)


def genotype_loss(genotypes: Array, weight_matrix: Array, target: Array) -> Array:
    """Exact input-averaged loss ``‖W x - a‖²/(m+2)`` of genotypes ``(..., n)`` → ``(...)``."""
    m = weight_matrix.shape[0]
    residual = genotypes @ weight_matrix.T - target
    return jnp.sum(residual**2, axis=-1) / (m + 2)


def minibatch_loss(genotypes: Array, weight_matrix: Array, target: Array, inputs: Array) -> Array:
    """Mean squared loss over a minibatch: genotypes ``(N, n)``, inputs ``(B, m)`` → ``(N,)``.

    Uses :func:`nne_jax.networks.linear_forward` per genotype (weights ``W x``).
    """
    weights = genotypes @ weight_matrix.T  # (N, m): the link weights of each genotype
    outputs = jax.vmap(linear_forward, in_axes=(0, None))(weights, inputs)  # (N, B)
    labels = linear_forward(target, inputs)  # (B,)
    return jnp.mean((outputs - labels) ** 2, axis=1)


def _column_sq_norms(weight_matrix: Array) -> Array:
    return jnp.sum(weight_matrix**2, axis=0)


def expected_loss(allele_freqs: Array, weight_matrix: Array, target: Array) -> Array:
    """``ℒ(p) = E_{x~p} E_y (xᵀWᵀy - aᵀy)² = (‖Wp - a‖² + Σ p(1-p) c) / (m+2)``; scalar."""
    m = weight_matrix.shape[0]
    p = allele_freqs
    residual = weight_matrix @ p - target
    variance = jnp.sum(p * (1.0 - p) * _column_sq_norms(weight_matrix))
    return (jnp.sum(residual**2) + variance) / (m + 2)


def loss_gradient(allele_freqs: Array, weight_matrix: Array, target: Array) -> Array:
    """Analytic ``∇ℒ(p)``, ``(n,)``: ``(2 Wᵀ(Wp - a) + (1 - 2p) c) / (m+2)``."""
    m = weight_matrix.shape[0]
    p = allele_freqs
    residual = weight_matrix @ p - target
    return (2.0 * weight_matrix.T @ residual + (1.0 - 2.0 * p) * _column_sq_norms(weight_matrix)) / (m + 2)


def loss_hessian(weight_matrix: Array) -> Array:
    """The constant Hessian ``2 (WᵀW - diag(c)) / (m+2)``, ``(n, n)``."""
    m = weight_matrix.shape[0]
    gram = weight_matrix.T @ weight_matrix
    return 2.0 * (gram - jnp.diag(jnp.diag(gram))) / (m + 2)


def exact_allele_rewards(allele_freqs: Array, weight_matrix: Array, target: Array) -> tuple[Array, Array]:
    """Exact ``f(i) = -E[loss | x(i)=1]`` and ``f̄(i) = -E[loss | x(i)=0]`` (equations 1-2).

    Conditioning on ``x(i) = b`` sets ``p(i) := b``: the mean residual becomes
    ``r + (b - p_i) W_{:,i}`` and gene ``i`` drops out of the variance term. Returns ``(n,), (n,)``.
    """
    m = weight_matrix.shape[0]
    p = allele_freqs
    c = _column_sq_norms(weight_matrix)
    residual = weight_matrix @ p - target
    proj = weight_matrix.T @ residual  # (n,) W_{:,i}ᵀ r
    sq = jnp.sum(residual**2)
    variance_rest = jnp.sum(p * (1.0 - p) * c) - p * (1.0 - p) * c

    def conditional_loss(b: float) -> Array:
        shift = b - p
        return (sq + 2.0 * shift * proj + shift**2 * c + variance_rest) / (m + 2)

    return -conditional_loss(1.0), -conditional_loss(0.0)


def enumerate_genotypes(num_genes: int, dtype=None) -> Array:
    """All ``2^n`` genotypes as a ``(2^n, n)`` 0/1 array (``n <= 20``)."""
    if not 1 <= num_genes <= 20:
        raise ValueError(f"enumeration needs 1 <= n <= 20, got {num_genes}")
    table = np.array(list(itertools.product((0.0, 1.0), repeat=num_genes)))
    return jnp.asarray(table, dtype=dtype or jnp.zeros(()).dtype)


def _genotype_probs(genotypes: Array, allele_freqs: Array) -> Array:
    p = allele_freqs
    return jnp.prod(jnp.where(genotypes > 0.5, p, 1.0 - p), axis=-1)


def enumerated_expected_loss(allele_freqs: Array, weight_matrix: Array, target: Array) -> Array:
    """``ℒ(p)`` by summing ``Pr_p(x) · ‖Wx - a‖²/(m+2)`` over all ``2^n`` genotypes (small ``n``)."""
    genotypes = enumerate_genotypes(weight_matrix.shape[1], allele_freqs.dtype)
    return jnp.sum(_genotype_probs(genotypes, allele_freqs) * genotype_loss(genotypes, weight_matrix, target))


def enumerated_allele_rewards(allele_freqs: Array, weight_matrix: Array, target: Array) -> tuple[Array, Array]:
    """``f, f̄`` by exhaustive enumeration (small ``n``), division-free.

    ``f(i) = -Σ_x Pr_p(x) loss(x with x(i) := 1)``: summing over ``x(i)`` with the other genes
    distributed as under ``p`` is exactly the conditional expectation given ``x(i) = 1``.
    """
    n = weight_matrix.shape[1]
    genotypes = enumerate_genotypes(n, allele_freqs.dtype)  # (K, n)
    probs = _genotype_probs(genotypes, allele_freqs)  # (K,)
    eye = jnp.eye(n, dtype=genotypes.dtype)

    def reward(b: float) -> Array:
        forced = jnp.where(eye[None] > 0.5, b, genotypes[:, None, :])  # (K, n_i, n)
        return -probs @ genotype_loss(forced, weight_matrix, target)  # (n,)

    return reward(1.0), reward(0.0)


def cosine(genotypes: Array, weight_matrix: Array, target: Array) -> Array:
    """``(Wx)·a / (‖Wx‖ ‖a‖)`` for genotypes (or allele freqs) ``(..., n)`` → ``(...)``; 0 if ``Wx = 0``."""
    v = genotypes @ weight_matrix.T
    norms = jnp.linalg.norm(v, axis=-1) * jnp.linalg.norm(target)
    return jnp.where(norms > 0, (v @ target) / jnp.where(norms > 0, norms, 1.0), 0.0)
