"""The jitted generation and the scan runner: compile once, chunk-invariant, learns."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nne_jax as nj
from nne_jax import generation as gen_mod


def toy_data(key, m=400, d=20, c=3):
    """Linearly separable-ish toy classification problem."""
    k1, k2 = jax.random.split(key)
    centers = jax.random.normal(k1, (c, d)) * 2.0
    labels = jnp.arange(m) % c
    inputs = jax.nn.sigmoid(centers[labels] + jax.random.normal(k2, (m, d)))
    return inputs, labels.astype(jnp.int32)


@pytest.fixture(scope="module")
def setup():
    task = nj.mlp_task(jax.random.PRNGKey(0), num_genes=300, beta=0.02, num_inputs=20, num_hidden=32, num_classes=3, density=0.3)
    return task, toy_data(jax.random.PRNGKey(1))


def test_generation_compiles_once(setup):
    task, (x, y) = setup
    nne = nj.NNE(num_genes=300, pop_size=32, eps=1.0)
    generation = nj.make_generation(nne, task)
    state = nne.init(jax.random.PRNGKey(2))
    state, _ = generation(state, jax.random.PRNGKey(0), (x[:50], y[:50]))
    before = gen_mod._generation_jit._cache_size()
    for t in range(4):
        state, metrics = generation(state, jax.random.PRNGKey(t), (x[50 * t : 50 * t + 50], y[50 * t : 50 * t + 50]))
    assert gen_mod._generation_jit._cache_size() == before
    assert int(state.generation) == 5
    assert set(metrics._fields) == {"mean_fitness", "best_fitness", "mean_weights_accuracy"}
    assert float(metrics.best_fitness) >= float(metrics.mean_fitness) >= 0.0


def test_runner_is_chunk_invariant_and_resumable(setup):
    task, (x, y) = setup
    nne = nj.NNE(num_genes=300, pop_size=32, eps=1.0)
    key = jax.random.PRNGKey(7)
    s0 = nne.init(jax.random.PRNGKey(3))
    a, ma = nj.run_generations(nne, task, s0, key, x, y, 12, batch_size=40, chunk_size=12)
    b, mb = nj.run_generations(nne, task, s0, key, x, y, 12, batch_size=40, chunk_size=5)
    half, _ = nj.run_generations(nne, task, s0, key, x, y, 7, batch_size=40, chunk_size=4)
    c, mc = nj.run_generations(nne, task, half, key, x, y, 12, batch_size=40, chunk_size=3)
    for other in (b, c):
        np.testing.assert_array_equal(np.asarray(a.allele_freqs), np.asarray(other.allele_freqs))
    np.testing.assert_array_equal(np.asarray(ma.mean_fitness), np.asarray(mb.mean_fitness))
    np.testing.assert_array_equal(np.asarray(ma.mean_fitness)[7:], np.asarray(mc.mean_fitness))
    assert ma.mean_fitness.shape == (12,)


def test_runner_compiles_its_chunk_once_whatever_the_chunk_lengths(setup):
    task, (x, y) = setup
    nne = nj.NNE(num_genes=300, pop_size=16, eps=0.5)  # a shape no other test uses
    s0 = nne.init(jax.random.PRNGKey(3))
    before = gen_mod._scan_chunk._cache_size()
    state, metrics = nj.run_generations(nne, task, s0, jax.random.PRNGKey(7), x, y, 13, batch_size=40, chunk_size=5)  # 5, 5, 3
    assert gen_mod._scan_chunk._cache_size() == before + 1
    state, more = nj.run_generations(nne, task, state, jax.random.PRNGKey(7), x, y, 15, batch_size=40, chunk_size=5)  # 2 more
    assert gen_mod._scan_chunk._cache_size() == before + 1
    assert metrics.mean_fitness.shape == (13,) and more.mean_fitness.shape == (2,) and int(state.generation) == 15
    assert bool(jnp.all(metrics.best_fitness >= metrics.mean_fitness))


def test_runner_learns_toy_task(setup):
    task, (x, y) = setup
    nne = nj.NNE(num_genes=300, pop_size=64, eps=0.5, fitness_shaping="standardize", update_rule="multiplicative_weights", antithetic=True)
    from nne_jax.evaluation import network_accuracy

    s0 = nne.init(jax.random.PRNGKey(4))
    state, metrics = nj.run_generations(nne, task, s0, jax.random.PRNGKey(5), x, y, 80, batch_size=100, chunk_size=40)
    before = float(network_accuracy(task, nj.mean_weights(task, s0.allele_freqs), x, y))
    after = float(network_accuracy(task, nj.mean_weights(task, state.allele_freqs), x, y))
    assert after > max(before + 0.2, 0.55), (before, after)  # chance is 1/3
    assert float(metrics.mean_fitness[-10:].mean()) > float(metrics.mean_fitness[:10].mean())


def test_runner_validates_inputs(setup):
    task, (x, y) = setup
    nne = nj.NNE(num_genes=300, pop_size=8, eps=1.0)
    s = nne.init(jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="inputs must have shape"):
        nj.run_generations(nne, task, s, jax.random.PRNGKey(0), x[:, :5], y, 2, batch_size=4)
    with pytest.raises(ValueError, match="labels must have shape"):
        nj.run_generations(nne, task, s, jax.random.PRNGKey(0), x, y[:3], 2, batch_size=4)
    with pytest.raises(ValueError, match="genes"):
        nj.make_generation(nj.NNE(num_genes=10, pop_size=8, eps=1.0), task)
    with pytest.raises(ValueError, match="unknown path"):
        nj.mlp_task(jax.random.PRNGKey(0), num_genes=10, path="gpu-magic")


@pytest.mark.parametrize("population,count", [(6, 3), (7, 7), (9, 1)])
def test_distinct_indices_are_uniform_over_subsets(population, count):
    """Floyd's sampler: distinct, in range, and every subset equally likely (chi-square)."""
    from itertools import combinations

    from scipy.stats import chisquare

    from nne_jax.generation import distinct_indices

    draws = np.asarray(jax.jit(jax.vmap(lambda k: distinct_indices(k, population, count)))(jax.random.split(jax.random.PRNGKey(0), 20000)))
    assert draws.min() >= 0 and draws.max() < population
    assert all(len(set(row)) == count for row in draws)
    subsets = {s: i for i, s in enumerate(combinations(range(population), count))}
    counts = np.bincount([subsets[tuple(sorted(row))] for row in draws], minlength=len(subsets))
    if len(subsets) > 1:
        assert chisquare(counts).pvalue > 1e-3


def test_distinct_indices_large_count_and_errors():
    from nne_jax.generation import FLOYD_MAX, distinct_indices

    big = np.asarray(distinct_indices(jax.random.PRNGKey(1), 5000, FLOYD_MAX + 1))
    assert big.shape == (FLOYD_MAX + 1,) and len(set(big)) == FLOYD_MAX + 1 and big.max() < 5000
    with pytest.raises(ValueError, match="count"):
        distinct_indices(jax.random.PRNGKey(1), 5, 6)
