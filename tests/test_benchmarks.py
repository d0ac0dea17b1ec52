"""The benchmark's baselines compute the same generation as the library (same δ, same update)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nne_jax as nj
from benchmarks.numpy_generation import NumpyNNE
from nne_jax.population import PATHS


@pytest.fixture(scope="module")
def task():
    return nj.mlp_task(jax.random.PRNGKey(0), num_genes=150, beta=0.02, num_inputs=40, num_hidden=60, num_classes=10, density=0.2)


def test_numpy_baseline_equals_every_jax_path(task):
    genotypes = np.asarray(jax.random.bernoulli(jax.random.PRNGKey(1), 0.5, (12, 150)), np.float32)
    inputs = np.asarray(jax.random.uniform(jax.random.PRNGKey(2), (16, 40)))
    labels = np.arange(16) % 10
    ref = NumpyNNE(task).fitness(genotypes, inputs, labels)
    assert np.ptp(ref) > 0  # a non-trivial comparison
    for path in PATHS:
        logits = nj.population_logits(task.arch, task.wg, jnp.asarray(genotypes), jnp.asarray(inputs), path=path, blocks=task.blocks)
        np.testing.assert_allclose(np.asarray(nj.delta_fitness(logits, jnp.asarray(labels))), ref, rtol=1e-4, atol=1e-4, err_msg=path)


def test_numpy_update_equals_library(task):
    rng = np.random.default_rng(3)
    p = rng.random(150).astype(np.float32)
    genotypes = (rng.random((40, 150)) < p).astype(np.float32)
    genotypes[:, 0], genotypes[:, 1] = 1.0, 0.0
    fitness = rng.random(40).astype(np.float32) * 5
    f, fb = nj.allele_rewards(jnp.asarray(genotypes), jnp.asarray(fitness))
    expected = np.asarray(nj.update_allele_freqs(jnp.asarray(p), f, fb, 0.7))
    np.testing.assert_allclose(NumpyNNE.update(p, genotypes, fitness, 0.7), expected, rtol=1e-5, atol=1e-6)


def test_flop_counts_are_consistent(task):
    from benchmarks.generation import flops

    done, dense = flops("fused", task, 100, 50)
    assert 0 < done < dense
    done_g, _ = flops("genespace", task, 100, 50)
    assert done_g > 0
