"""nne_jax.batch_invariant: sums that give the same bits inside and outside ``jax.vmap``."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nne_jax.batch_invariant import fixed_order_sum
from nne_jax.fitness import delta_fitness, neg_cross_entropy, standardize
from nne_jax.genetics import allele_rewards


@pytest.mark.parametrize("k", [0, 1, 2, 3, 10, 64, 100, 1000, 2000])
def test_fixed_order_sum_is_the_sum(k):
    values = np.random.default_rng(k).normal(size=(3, k)).astype(np.float32)
    got = np.asarray(fixed_order_sum(jnp.asarray(values)))
    assert got.shape == (3,)
    np.testing.assert_allclose(got, values.astype(np.float64).sum(-1), rtol=1e-6, atol=1e-5)


def test_fixed_order_sum_pads_with_zeros_not_garbage():
    assert float(fixed_order_sum(jnp.array([1.0, 2.0, 3.0]))) == 6.0
    assert fixed_order_sum(jnp.ones((2, 0))).shape == (2,)


def _vmapped_equals_single(fn, *batched):
    """Every row of ``vmap(vmap(fn))`` over ``(2, 4, ...)`` inputs against ``fn`` on that row alone, bit for bit."""
    out = jax.jit(jax.vmap(jax.vmap(fn)))(*batched)
    single = jax.jit(fn)
    for i in range(batched[0].shape[0]):
        for j in range(batched[0].shape[1]):
            for got, want in zip(jax.tree.leaves(out), jax.tree.leaves(single(*[b[i, j] for b in batched]))):
                np.testing.assert_array_equal(np.asarray(got[i, j]), np.asarray(want), err_msg=f"row {i}, {j}")


def test_fitness_shaping_and_allele_rewards_change_no_bit_under_vmap():
    """What a vmapped sweep computes per run equals the run alone (examples/sweep.py relies on it)."""
    keys = jax.random.split(jax.random.PRNGKey(0), 4)
    logits = 8.0 * jax.random.normal(keys[0], (2, 4, 32, 100, 10))
    labels = jax.random.randint(keys[1], (2, 4, 100), 0, 10)
    genotypes = jax.random.bernoulli(keys[2], 0.5, (2, 4, 64, 300))
    fitness = jax.random.normal(keys[3], (2, 4, 64))
    _vmapped_equals_single(delta_fitness, logits, labels)
    _vmapped_equals_single(neg_cross_entropy, logits, labels)
    _vmapped_equals_single(lambda f: fixed_order_sum(f * f), fitness)
    _vmapped_equals_single(standardize, fitness)
    _vmapped_equals_single(allele_rewards, genotypes, fitness)
