"""NNE ask/tell: configuration validation, options' mechanics, learning on a user fitness."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nne_jax import NNE

BAD_CONFIGS = [
    (dict(num_genes=0, pop_size=10, eps=0.1), "num_genes"),
    (dict(num_genes=5, pop_size=1, eps=0.1), "pop_size"),
    (dict(num_genes=5, pop_size=10, eps=0.0), "eps"),
    (dict(num_genes=5, pop_size=10, eps=-1.0), "eps"),
    (dict(num_genes=5, pop_size=10, eps=float("nan")), "eps"),
    (dict(num_genes=5, pop_size=11, eps=0.1, antithetic=True), "even"),
    (dict(num_genes=5, pop_size=10, eps=0.1, update_rule="sgd"), "update_rule"),
    (dict(num_genes=5, pop_size=10, eps=0.1, fitness_shaping="log"), "fitness_shaping"),
    (dict(num_genes=5, pop_size=10, eps=0.1, p_min=0.6, p_max=0.4), "p_min"),
    (dict(num_genes=5, pop_size=10, eps=0.1, fixation=0.7), "fixation"),
    (dict(num_genes=5, pop_size=10, eps=0.1, init_freqs="zeros"), "init_freqs"),
]


@pytest.mark.parametrize("kwargs,match", BAD_CONFIGS)
def test_invalid_configurations_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        NNE(**kwargs)


def test_invalid_state_and_tell_shapes():
    nne = NNE(num_genes=4, pop_size=6, eps=0.1)
    with pytest.raises(ValueError, match=r"allele_freqs must lie in \[0, 1\]"):
        nne.init(jax.random.PRNGKey(0), jnp.array([0.1, 1.2, 0.3, 0.4]))
    with pytest.raises(ValueError, match="shape"):
        nne.init(jax.random.PRNGKey(0), jnp.array([0.1, 0.2]))
    state = nne.init(jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="fitness must have shape"):
        nne.tell(state, jnp.zeros((6, 4)), jnp.zeros(5))
    with pytest.raises(ValueError, match="genotypes must have shape"):
        nne.tell(state, jnp.zeros((6, 3)), jnp.zeros(6))


def onemax_run(nne: NNE, generations: int, seed: int = 0):
    """Fitness = number of ones matching a hidden target: every gene has a clear gradient."""
    target = jnp.arange(nne.num_genes) % 2

    @jax.jit
    def step(state, key):
        genotypes, state = nne.ask(key, state)
        fitness = jnp.sum(genotypes == target, axis=1).astype(jnp.float32) / nne.num_genes
        return nne.tell(state, genotypes, fitness), jnp.mean(fitness)

    state = nne.init(jax.random.PRNGKey(seed))
    keys = jax.random.split(jax.random.PRNGKey(seed + 1), generations)
    state, curve = jax.lax.scan(step, state, keys)
    return state, np.asarray(curve), np.asarray(target)


@pytest.mark.parametrize(
    "options",
    [
        dict(eps=5.0),
        dict(eps=5.0, antithetic=True),
        dict(eps=0.5, fitness_shaping="standardize", update_rule="multiplicative_weights"),
        dict(eps=0.5, fitness_shaping="centered_ranks", update_rule="multiplicative_weights", p_min=0.01, p_max=0.99),
        dict(eps=lambda t: 5.0 / (1.0 + 0.01 * t)),
    ],
)
def test_ask_tell_learns_a_user_fitness(options):
    nne = NNE(num_genes=40, pop_size=64, **options)
    state, curve, target = onemax_run(nne, 150)
    assert curve[-10:].mean() > curve[:10].mean() + 0.2
    assert np.mean(np.round(np.asarray(state.allele_freqs)) == target) > 0.9
    assert int(state.generation) == 150
    if "p_min" in options:
        assert float(state.allele_freqs.min()) >= 0.01 - 1e-7 and float(state.allele_freqs.max()) <= 0.99 + 1e-7


def test_fixation_freezes_genes():
    nne = NNE(num_genes=40, pop_size=64, eps=5.0, fixation=0.05)
    state = nne.init(jax.random.PRNGKey(0))
    key = jax.random.PRNGKey(1)
    target = jnp.arange(40) % 2
    snapshots = []
    for t in range(120):
        genotypes, state = nne.ask(jax.random.fold_in(key, t), state)
        was_fixed, p_before = np.asarray(state.fixed), np.asarray(state.allele_freqs)
        # fixed genes are never resampled: every genotype carries the fixed allele
        assert np.all(np.asarray(genotypes)[:, was_fixed] == p_before[was_fixed])
        fitness = jnp.sum(genotypes == target, axis=1).astype(jnp.float32)
        state = nne.tell(state, genotypes, fitness)
        # ...and never updated
        np.testing.assert_array_equal(np.asarray(state.allele_freqs)[was_fixed], p_before[was_fixed])
        snapshots.append(np.asarray(state.fixed).sum())
    assert snapshots[-1] > 30 and np.all(np.diff(snapshots) >= 0)
    p = np.asarray(state.allele_freqs)[np.asarray(state.fixed)]
    assert set(np.unique(p)) <= {0.0, 1.0}


def test_same_key_same_run_different_key_different():
    nne = NNE(num_genes=20, pop_size=16, eps=1.0)
    a = onemax_run(nne, 5, seed=3)[0].allele_freqs
    b = onemax_run(nne, 5, seed=3)[0].allele_freqs
    c = onemax_run(nne, 5, seed=4)[0].allele_freqs
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert not np.array_equal(np.asarray(a), np.asarray(c))
