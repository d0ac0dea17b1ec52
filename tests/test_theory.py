"""Tests of nne_jax.theory: the linear-target closed forms, Lemma 1, Theorems 1 and 2 (small, float64)."""
from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nne_jax.theory import (
    best_of_k_rounding,
    check_descent,
    enumerated_allele_rewards,
    enumerated_expected_loss,
    exact_allele_rewards,
    exact_dynamics,
    exact_step,
    expected_loss,
    feasible_allele_freqs,
    finite_population_dynamics,
    hessian_bound,
    loss_gradient,
    loss_hessian,
    loss_sup,
    max_scale_allele_freqs,
    minibatch_loss,
    monte_carlo_descent,
    sample_target,
    sample_unit_ball,
    sample_weight_matrix,
    sampled_step,
    theorem1_eps,
    theorem1_eta,
    weak_selection_eps,
)


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


@partial(jax.jit, static_argnums=(1, 2, 3))
def _instance(seed, m: int, n: int, boundary: bool = False):
    k_w, k_a, k_p, k_b = jax.random.split(jax.random.PRNGKey(seed), 4)
    w = sample_weight_matrix(k_w, m, n, m / 2)
    a = sample_target(k_a, m, in_ball=True)
    p = jax.random.uniform(k_p, (n,))
    if boundary:  # some genes exactly at 0 or 1
        p = jnp.where(jax.random.uniform(k_b, (n,)) < 0.3, jnp.round(p), p)
    return w, a, p


@jax.jit
def _lemma1_quantities(p, w, a):
    f, f_bar = exact_allele_rewards(p, w, a)
    fe, fbe = enumerated_allele_rewards(p, w, a)
    return {
        "f": f, "f_bar": f_bar, "fe": fe, "fbe": fbe,
        "grad": jax.grad(expected_loss)(p, w, a), "analytic_grad": loss_gradient(p, w, a),
        "loss": expected_loss(p, w, a), "enum_loss": enumerated_expected_loss(p, w, a),
        "hessian": jax.hessian(expected_loss)(p, w, a), "closed_hessian": loss_hessian(w),
    }


def test_lemma1_vs_grad_and_enumeration(x64):
    for seed, (m, n) in enumerate([(5, 10), (5, 10), (5, 10), (3, 4)]):
        w, a, p = _instance(seed, m, n, boundary=True)
        assert w.dtype == jnp.float64
        q = _lemma1_quantities(p, w, a)
        f, f_bar, grad = q["f"], q["f_bar"], q["grad"]
        # Lemma 1, second identity: f - f̄ = -∂ℒ/∂p(i), against autodiff and the analytic gradient.
        np.testing.assert_allclose(f - f_bar, -grad, rtol=0, atol=1e-11)
        np.testing.assert_allclose(q["analytic_grad"], grad, rtol=0, atol=1e-11)
        # Lemma 1, first identity, for every gene i.
        np.testing.assert_allclose(-f_bar - p * (f - f_bar), jnp.full(n, q["loss"]), rtol=0, atol=1e-11)
        # Against exhaustive enumeration of all 2^n genotypes (equations 1-2 literally).
        np.testing.assert_allclose(q["fe"], f, rtol=0, atol=1e-11)
        np.testing.assert_allclose(q["fbe"], f_bar, rtol=0, atol=1e-11)
        np.testing.assert_allclose(q["fe"] - q["fbe"], -grad, rtol=0, atol=1e-11)
        np.testing.assert_allclose(q["enum_loss"], q["loss"], rtol=1e-12)
        # The Hessian is the stated constant matrix with zero diagonal (ℒ is multilinear).
        np.testing.assert_allclose(q["hessian"], q["closed_hessian"], atol=1e-11)
        assert np.allclose(np.diag(q["closed_hessian"]), 0.0)


@partial(jax.jit, static_argnums=(3,))
def _monte_carlo_loss(p, w, a, samples: int):
    k_x, k_y = jax.random.split(jax.random.PRNGKey(12))
    genotypes = (jax.random.uniform(k_x, (samples, p.shape[0])) < p).astype(w.dtype)
    inputs = sample_unit_ball(k_y, samples, w.shape[0])
    mc = jnp.mean(jnp.sum((genotypes @ w.T - a) * inputs, axis=1) ** 2)  # (xᵀWᵀy - aᵀy)²
    # minibatch_loss (via networks.linear_forward) against the per-pair formula on the same inputs.
    mb = minibatch_loss(genotypes[:3], w, a, inputs[:50])
    direct = jnp.mean(jnp.sum((genotypes[:3, None, :] @ w.T - a) * inputs[None, :50], axis=-1) ** 2, axis=1)
    return mc, expected_loss(p, w, a), mb, direct


def test_closed_form_loss_matches_monte_carlo(x64):
    w, a, p = _instance(11, 5, 10)
    mc, exact, mb, direct = _monte_carlo_loss(p, w, a, 200_000)
    assert abs(float(mc) - float(exact)) < 0.03 * float(exact), (mc, exact)
    np.testing.assert_allclose(mb, direct, rtol=1e-12)


def test_unit_ball_sampler(x64):
    m = 5
    y = sample_unit_ball(jax.random.PRNGKey(3), 40_000, m)
    norms = jnp.linalg.norm(y, axis=1)
    assert y.shape == (40_000, m) and float(norms.max()) <= 1.0
    np.testing.assert_allclose(y.T @ y / y.shape[0], np.eye(m) / (m + 2), atol=4e-3)
    assert abs(float(jnp.mean(norms <= 0.5)) - 0.5**m) < 0.005  # radius law P(‖y‖ <= r) = r^m


def test_weight_matrix_distribution(x64):
    m, n, d = 8, 4000, 2.0
    w = np.asarray(sample_weight_matrix(jax.random.PRNGKey(4), m, n, d))
    values = set(np.round(np.unique(w), 12))
    assert values <= {0.0, round(np.sqrt(m / d), 12), round(-np.sqrt(m / d), 12)}
    assert abs((w != 0).mean() - d / m) < 0.01
    assert abs((w > 0).mean() - (w < 0).mean()) < 0.01
    assert abs((w**2).sum(axis=0).mean() - m) < 0.2  # E‖W_{:,i}‖² = m


def test_exact_step_is_preconditioned_gradient_step(x64):
    @jax.jit
    def both(p, w, a):
        eps = 0.5 * weak_selection_eps(p, w, a)
        expected = p - eps * p * (1 - p) * loss_gradient(p, w, a) / (1 - eps * expected_loss(p, w, a))
        return exact_step(p, w, a, eps), expected

    w, a, p = _instance(5, 5, 10)
    got, expected = both(p, w, a)
    np.testing.assert_allclose(got, expected, atol=1e-12)


def test_theorem1_inequality_on_short_exact_run(x64):
    m, n, delta, gens = 5, 10, 0.1, 300
    w, a, p = _instance(6, m, n)
    u, exact = loss_sup(w, a)
    assert exact
    h = hessian_bound(w)
    eps = theorem1_eps(u, h)
    assert eps <= min(1 / max(2 * u, 1), 2 / h, 1)
    # U really is the sup: no interior point exceeds it.
    pts = jax.random.uniform(jax.random.PRNGKey(7), (500, n))
    assert float(jnp.max(jax.jit(jax.vmap(expected_loss, in_axes=(0, None, None)))(pts, w, a))) <= u + 1e-12
    printed = check_descent(p, w, a, eps, delta, float(theorem1_eta(eps, delta, u)), gens)
    proof = check_descent(p, w, a, eps, delta, "proof", gens)
    assert printed.holds.all() and proof.holds.all() and printed.monotone.all()
    assert not printed.clipped.any()
    assert printed.loss[-1] < printed.loss[0]
    assert (printed.grad_sq_s > 0).any()  # the inequality was not vacuous


def test_loss_sup_bound_is_valid(x64):
    w, a, _ = _instance(8, 4, 12)
    exact, is_exact = loss_sup(w, a, max_enumerate=12)
    bound, is_bound_exact = loss_sup(w, a, max_enumerate=0)
    assert is_exact and not is_bound_exact and bound >= exact - 1e-12


def test_lp_finds_feasible_allele_freqs_when_n_much_larger_than_m(x64):
    m, n = 5, 60
    for seed in range(5):
        w, a, _ = _instance(100 + seed, m, n)
        a = a / jnp.linalg.norm(a)  # on the sphere: the hardest targets
        p = feasible_allele_freqs(w, a)
        assert p is not None and p.shape == (n,)
        assert np.all((p >= 0) & (p <= 1))
        np.testing.assert_allclose(np.asarray(w) @ p, np.asarray(a), atol=1e-8)
    # n < m: W p = a is (generically) infeasible.
    w, a, _ = _instance(99, 5, 2)
    assert feasible_allele_freqs(w, a / jnp.linalg.norm(a)) is None


def test_max_scale_lp_and_rounding(x64):
    w, a, _ = _instance(21, 5, 60)
    lam, p = max_scale_allele_freqs(w, a)
    assert lam > 1.0
    np.testing.assert_allclose(np.asarray(w) @ p, lam * np.asarray(a), atol=1e-7)
    x, cos = best_of_k_rounding(jax.random.PRNGKey(22), p, w, a, 64)
    assert set(np.unique(np.asarray(x))) <= {0.0, 1.0} and 0.9 < float(cos) <= 1.0


def test_finite_population_run_decreases_loss(x64):
    w, a, p = _instance(31, 5, 10)
    eps = 0.5 / float(loss_sup(w, a)[0])
    tr = finite_population_dynamics(jax.random.PRNGKey(32), p, w, a, eps, 200, pop_size=200, batch_size=64,
                                     record_every=50)
    assert tr.loss.shape == (5,) and tr.allele_freqs.shape == (5, 10) and tr.minibatch_loss.shape == (200,)
    assert float(tr.loss[-1]) < 0.3 * float(tr.loss[0])
    assert np.all((np.asarray(tr.allele_freqs) >= 0) & (np.asarray(tr.allele_freqs) <= 1))


def test_finite_population_loop_is_nne_ask_tell_with_the_papers_update():
    """The theory's own loop (float64-capable) equals NNE.ask/tell (float32) generation by generation."""
    from nne_jax import NNE
    from nne_jax.theory.linear import minibatch_loss, sample_unit_ball

    w, a, p = _instance(41, 5, 12)
    w, a, p = (jnp.asarray(v, jnp.float32) for v in (w, a, p))
    eps, gens, pop, batch = 0.2, 6, 64, 16
    tr = finite_population_dynamics(jax.random.PRNGKey(42), p, w, a, eps, gens, pop_size=pop, batch_size=batch)
    nne = NNE(num_genes=12, pop_size=pop, eps=eps)  # the paper's equation (3): no shaping, bounds or fixation
    state = nne.init(jax.random.PRNGKey(0), allele_freqs=p)
    for t, k in enumerate(jax.random.split(jax.random.PRNGKey(42), gens)):
        k_pop, k_in = jax.random.split(k)
        genotypes, state = nne.ask(k_pop, state)
        inputs = sample_unit_ball(k_in, batch, w.shape[0])
        state = nne.tell(state, genotypes, -minibatch_loss(genotypes.astype(jnp.float32), w, a, inputs))
        np.testing.assert_allclose(np.asarray(state.allele_freqs), np.asarray(tr.allele_freqs[t + 1]), rtol=0, atol=1e-6)


def test_bad_shapes_and_ranges_raise():
    w = jnp.ones((3, 5))
    a, p = jnp.zeros(3), jnp.full(5, 0.5)
    with pytest.raises(ValueError, match="target must have shape"):
        exact_dynamics(p, w, jnp.zeros(4), 0.1, 10)
    with pytest.raises(ValueError, match="allele_freqs must have shape"):
        exact_dynamics(jnp.full(4, 0.5), w, a, 0.1, 10)
    with pytest.raises(ValueError, match=r"lie in \[0, 1\]"):
        exact_dynamics(p.at[0].set(1.5), w, a, 0.1, 10)
    with pytest.raises(ValueError, match="weight_matrix must be"):
        feasible_allele_freqs(jnp.ones(3), a)
    with pytest.raises(ValueError, match="target must have shape"):
        finite_population_dynamics(jax.random.PRNGKey(0), p, w, jnp.zeros(2), 0.1, 10, 4, 4)
    with pytest.raises(ValueError, match="target must have shape"):
        loss_sup(w, jnp.zeros(5))
    with pytest.raises(ValueError, match="multiple of record_every"):
        exact_dynamics(p, w, a, 0.1, 10, record_every=3)
    with pytest.raises(ValueError, match="0 < d <= m"):
        sample_weight_matrix(jax.random.PRNGKey(0), 3, 5, 4.0)
    with pytest.raises(ValueError, match="delta"):
        theorem1_eta(0.1, 0.7, 1.0)


def test_sampled_step_with_huge_population_approaches_the_exact_step(x64):
    w, a, p = _instance(11, 4, 6)
    eps = 0.5 * float(weak_selection_eps(p, w, a))
    p_next, clipped = jax.jit(sampled_step, static_argnames=("pop_size", "batch_size"))(
        jax.random.PRNGKey(0), p, w, a, eps, 200_000)
    assert not bool(clipped)
    exact = exact_step(p, w, a, eps)
    # sampling error of f - f̄ is O(1/√N); the step is ε·p(1-p)·(f - f̄)/(1 - εℒ)
    np.testing.assert_allclose(p_next - p, exact - p, atol=0.05 * float(jnp.max(jnp.abs(exact - p))))


def test_monte_carlo_descent_theorem1_with_finite_population(x64):
    """Theorem 1's E ℒ(p^{t+1}) < ℒ(p^t) at ε = ε₁ with N = 20 sampled genotypes, and the MC mean is
    close to the exact (N = ∞) decrease (the finite-N bias is small next to the decrease)."""
    m, n, delta = 4, 8, 0.1
    w, a, p = _instance(12, m, n)
    u, _ = loss_sup(w, a)
    eps = theorem1_eps(u, hessian_bound(w))
    r = monte_carlo_descent(jax.random.PRNGKey(1), p, w, a, eps, delta, pop_size=20, replicates=400)
    assert r.replicates == 400 and r.set_size == int(((p >= delta) & (p <= 1 - delta)).sum())
    assert abs(r.loss - float(expected_loss(p, w, a))) < 1e-12
    assert r.mean_decrease - r.ci_half_width > 0  # significant descent
    assert abs(r.mean_decrease - r.exact_decrease) < 0.25 * r.exact_decrease
    assert r.exact_decrease >= float(theorem1_eta(eps, delta, r.loss)) * r.grad_sq_s  # our η_t (consistency)
    assert r.clip_frac == 0.0
    with pytest.raises(ValueError, match="replicates"):
        monte_carlo_descent(jax.random.PRNGKey(1), p, w, a, eps, delta, pop_size=20, replicates=1)
