"""Genetics: sampling, allele rewards and equation (3) against straightforward NumPy references."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nne_jax import allele_rewards, multiplicative_weights_update, sample_genotypes, update_allele_freqs


def numpy_allele_rewards(x: np.ndarray, fit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = x.shape[1]
    f, fb = np.zeros(n), np.zeros(n)
    for i in range(n):
        ones, zeros = x[:, i] == 1, x[:, i] == 0
        # documented rule: an absent allele's reward is the population mean (so f = f_bar)
        f[i] = fit[ones].mean() if ones.any() else fit.mean()
        fb[i] = fit[zeros].mean() if zeros.any() else fit.mean()
    return f, fb


def numpy_eq3(p, f, fb, eps):
    return p * (1 + eps * f) / (1 + eps * fb + eps * p * (f - fb))


def test_sample_genotypes_marginals_and_determinism():
    p = jnp.linspace(0.0, 1.0, 11)
    key = jax.random.PRNGKey(0)
    x = sample_genotypes(key, p, 20000)
    assert x.shape == (20000, 11) and x.dtype == jnp.float32
    assert set(np.unique(np.asarray(x))) <= {0.0, 1.0}
    np.testing.assert_allclose(np.asarray(x.mean(0)), np.asarray(p), atol=0.015)
    assert float(x[:, 0].max()) == 0.0 and float(x[:, -1].min()) == 1.0
    np.testing.assert_array_equal(np.asarray(x), np.asarray(sample_genotypes(key, p, 20000)))
    assert not np.array_equal(np.asarray(x), np.asarray(sample_genotypes(jax.random.PRNGKey(1), p, 20000)))


def test_antithetic_pairs_are_complementary_and_unbiased():
    p = jnp.full((5,), 0.5)
    x = np.asarray(sample_genotypes(jax.random.PRNGKey(3), p, 1000, antithetic=True))
    np.testing.assert_array_equal(x[:500] + x[500:], np.ones((500, 5)))  # p = 1/2: exact mirror
    q = jnp.array([0.1, 0.3, 0.7, 0.9])
    xq = sample_genotypes(jax.random.PRNGKey(4), q, 40000, antithetic=True)
    np.testing.assert_allclose(np.asarray(xq.mean(0)), np.asarray(q), atol=0.01)
    with pytest.raises(ValueError, match="even"):
        sample_genotypes(jax.random.PRNGKey(0), q, 7, antithetic=True)


def test_allele_rewards_match_numpy_reference():
    rng = np.random.default_rng(0)
    x = (rng.random((50, 30)) < rng.random(30)).astype(np.float32)
    x[:, 0], x[:, 1] = 1.0, 0.0  # include degenerate genes
    fit = rng.normal(size=50).astype(np.float32)
    f, fb = allele_rewards(jnp.asarray(x), jnp.asarray(fit))
    rf, rfb = numpy_allele_rewards(x, fit)
    np.testing.assert_allclose(np.asarray(f), rf, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(fb), rfb, rtol=1e-5, atol=1e-6)


def test_degenerate_genes_get_no_update_and_no_nan():
    x = np.array([[1, 0, 1], [1, 0, 0], [1, 0, 1]], np.float32)  # gene 0 all ones, gene 1 all zeros
    fit = np.array([1.0, 2.0, 4.0], np.float32)
    f, fb = allele_rewards(jnp.asarray(x), jnp.asarray(fit))
    assert np.all(np.isfinite(np.asarray(f))) and np.all(np.isfinite(np.asarray(fb)))
    np.testing.assert_allclose(np.asarray(f)[:2], [7 / 3, 7 / 3], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(fb)[:2], [7 / 3, 7 / 3], rtol=1e-6)
    np.testing.assert_allclose(float(f[2]), 2.5)
    np.testing.assert_allclose(float(fb[2]), 2.0)
    p = jnp.array([0.9, 0.2, 0.5])
    for rule in (update_allele_freqs, multiplicative_weights_update):
        new = np.asarray(rule(p, f, fb, 0.3))
        np.testing.assert_allclose(new[:2], [0.9, 0.2], rtol=1e-6)
        assert new[2] > 0.5


def test_equation_3_matches_numpy_and_stays_in_unit_interval():
    rng = np.random.default_rng(1)
    p = rng.random(1000).astype(np.float32)
    f = rng.random(1000).astype(np.float32) * 5
    fb = rng.random(1000).astype(np.float32) * 5
    for eps in (0.01, 0.5, 20.0):
        new = np.asarray(update_allele_freqs(jnp.asarray(p), jnp.asarray(f), jnp.asarray(fb), eps))
        np.testing.assert_allclose(new, numpy_eq3(p, f, fb, eps), rtol=2e-5, atol=1e-7)
        assert new.min() >= 0 and new.max() <= 1
    # f > f_bar raises p; equal rewards leave p unchanged; endpoints are fixed points
    new = np.asarray(
        update_allele_freqs(jnp.array([0.0, 0.3, 0.3, 1.0]), jnp.array([1.0, 2.0, 1.0, 0.0]), jnp.array([0.0, 1.0, 1.0, 3.0]), 0.1)
    )
    assert new[0] == 0.0 and new[1] > 0.3 and new[2] == pytest.approx(0.3) and new[3] == 1.0


def test_equation_3_clips_non_weak_selection_regime():
    # 1 + eps f < 0: the multiplier is clipped at 0, never a negative frequency or NaN
    new = np.asarray(update_allele_freqs(jnp.array([0.5, 0.5]), jnp.array([-10.0, -10.0]), jnp.array([1.0, -10.0]), 1.0))
    assert new[0] == 0.0 and new[1] == 0.5


def test_multiplicative_weights_is_logit_step_and_stable():
    p = jnp.array([0.2, 0.5, 0.9, 1e-7])
    d = jnp.array([0.3, -1.0, 2.0, 50.0])
    new = np.asarray(multiplicative_weights_update(p, d, jnp.zeros(4), 1.0), np.float64)
    logit = lambda q: np.log(q / (1 - q))
    np.testing.assert_allclose(logit(new[:3]), logit(np.asarray(p[:3], np.float64)) + np.asarray(d[:3]), rtol=1e-4)
    huge = np.asarray(multiplicative_weights_update(jnp.array([0.0, 0.5, 1.0]), jnp.array([1e6, -1e6, -1e6]), jnp.zeros(3), 10.0))
    assert np.all(np.isfinite(huge)) and huge[0] == 0.0 and huge[1] == 0.0 and huge[2] == 1.0
    # small eps: agrees with equation (3) to first order
    f, fb = jnp.array([0.4]), jnp.array([0.1])
    a = float(multiplicative_weights_update(jnp.array([0.3]), f, fb, 1e-3)[0])
    b = float(update_allele_freqs(jnp.array([0.3]), f, fb, 1e-3)[0])
    assert abs(a - b) < 1e-6
