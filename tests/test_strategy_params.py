"""NNEParams (traced hyper-parameters), TellMetrics, the non-finite fitness policy, callables and stable names."""
import subprocess
import sys

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from nne_jax import NNE, NNEParams, centered_ranks
from nne_jax.fitness import SHAPINGS, standardize
from nne_jax.genetics import UPDATE_RULES, multiplicative_weights_update
from nne_jax.registry import Registry, stable_name
from nne_jax.schedules import CosineDecay
from nne_jax.strategy import INIT_FREQS


def _population(nne, seed=0):
    state = nne.init(jax.random.PRNGKey(seed))
    genotypes, state = nne.ask(jax.random.PRNGKey(seed + 1), state)
    fitness = jax.random.uniform(jax.random.PRNGKey(seed + 2), (nne.pop_size,))
    return state, genotypes, fitness


def test_default_params_reproduce_the_constructor_bitwise():
    nne = NNE(num_genes=7, pop_size=12, eps=0.7, p_min=0.05, p_max=0.9, fixation=0.1, fitness_shaping="standardize")
    state, x, f = _population(nne)
    assert isinstance(nne.default_params, NNEParams)
    np.testing.assert_array_equal(nne.tell(state, x, f).allele_freqs, nne.tell(state, x, f, params=nne.default_params).allele_freqs)
    other = NNE(num_genes=7, pop_size=12, eps=1.3, p_min=0.05, p_max=0.9, fixation=0.1, fitness_shaping="standardize")
    via_params = nne.tell(state, x, f, params=nne.default_params.replace(eps=1.3))
    np.testing.assert_array_equal(via_params.allele_freqs, other.tell(state, x, f).allele_freqs)


def test_vmap_over_eps_matches_one_strategy_per_eps():
    nne = NNE(num_genes=9, pop_size=10, eps=1.0)
    state, x, f = _population(nne, 3)
    eps = jnp.array([0.1, 0.5, 2.0])
    states = jax.vmap(lambda e: nne.tell(state, x, f, params=nne.default_params.replace(eps=e)))(eps)
    for i, e in enumerate([0.1, 0.5, 2.0]):
        np.testing.assert_allclose(states.allele_freqs[i], NNE(9, 10, e).tell(state, x, f).allele_freqs, rtol=0, atol=1e-7)


def test_changing_eps_via_params_does_not_recompile():
    nne = NNE(num_genes=5, pop_size=8, eps=1.0)
    state, x, f = _population(nne)

    @jax.jit
    @chex.assert_max_traces(n=1)
    def tell(params):
        return nne.tell(state, x, f, params=params)

    outs = [tell(nne.default_params.replace(eps=jnp.float32(e), p_max=jnp.float32(0.9))).allele_freqs for e in (0.1, 0.2, 3.0)]
    assert not np.allclose(outs[0], outs[2])


def test_schedule_eps_is_static_and_params_eps_scales_it():
    schedule = CosineDecay(2.0, 0.5, 10)
    nne = NNE(num_genes=6, pop_size=10, eps=schedule)
    assert nne.default_params.eps_schedule is schedule and float(nne.default_params.eps) == 1.0
    state, x, f = _population(nne)
    doubled = nne.tell(state, x, f, params=nne.default_params.replace(eps=2.0))
    np.testing.assert_allclose(doubled.allele_freqs, NNE(6, 10, 4.0).tell(state, x, f).allele_freqs, atol=1e-6)


def test_tell_metrics_and_nonfinite_policy():
    nne = NNE(num_genes=4, pop_size=6, eps=0.5)
    state, x, f = _population(nne)
    bad = f.at[1].set(jnp.inf).at[4].set(jnp.nan)
    new, m = nne.tell(state, x, bad, return_metrics=True)
    worst = jnp.min(jnp.array([f[i] for i in (0, 2, 3, 5)]))
    np.testing.assert_array_equal(new.allele_freqs, nne.tell(state, x, bad.at[1].set(worst).at[4].set(worst)).allele_freqs)
    assert int(m.num_nonfinite) == 2 and np.all(np.isfinite(new.allele_freqs))
    np.testing.assert_allclose(m.mean_fitness, np.mean(np.asarray(f)[[0, 2, 3, 5]]), rtol=1e-6)
    np.testing.assert_allclose(m.best_fitness, np.max(np.asarray(f)[[0, 2, 3, 5]]))
    none_finite, m = nne.tell(state, x, jnp.full((6,), jnp.nan), return_metrics=True)
    np.testing.assert_array_equal(none_finite.allele_freqs, state.allele_freqs)
    assert int(none_finite.generation) == 1 and int(m.num_nonfinite) == 6


def test_plus_inf_with_default_strategy_never_puts_nan_in_state():
    nne = NNE(num_genes=4, pop_size=6, eps=0.5)
    state, x, f = _population(nne)
    for value in (jnp.inf, -jnp.inf, jnp.nan):
        assert np.all(np.isfinite(nne.tell(state, x, f.at[0].set(value)).allele_freqs))


def test_clipped_fraction_reports_negative_fitness_multipliers():
    nne = NNE(num_genes=4, pop_size=6, eps=1.0)
    state, x, f = _population(nne)
    _, m = nne.tell(state, x, f, return_metrics=True)
    assert float(m.clipped_fraction) == 0.0
    _, m = nne.tell(state, x, f - 5.0, return_metrics=True)  # 1 + eps f < 0 for every allele present
    assert float(m.clipped_fraction) == 1.0
    mw = NNE(num_genes=4, pop_size=6, eps=1.0, update_rule="multiplicative_weights")
    assert float(mw.tell(state, x, f - 5.0, return_metrics=True)[1].clipped_fraction) == 0.0


def test_centered_ranks_ranks_nan_worst():
    ranks = np.asarray(centered_ranks(jnp.array([0.3, jnp.nan, 0.9, 0.1])))
    assert ranks[1] == ranks.min() == -0.5 and ranks[2] == 0.5


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(eps="abc"), TypeError, "eps must be a real number"),
    (dict(eps=True), TypeError, "eps must be a real number"),
    (dict(eps=jnp.float32(1.0)), TypeError, "default_params.replace"),
    (dict(eps=1.0, p_min="0"), TypeError, "p_min"),
    (dict(eps=1.0, antithetic="false"), TypeError, "antithetic"),
    (dict(eps=1.0, update_rule=3), ValueError, "update_rule"),
])
def test_constructor_rejects_bad_types(kwargs, error, match):
    with pytest.raises(error, match=match):
        NNE(num_genes=4, pop_size=6, **kwargs)


def test_tell_with_a_state_of_another_num_genes_names_the_shapes():
    state = NNE(num_genes=5, pop_size=6, eps=1.0).init(jax.random.PRNGKey(0))
    nne = NNE(num_genes=4, pop_size=6, eps=1.0)
    with pytest.raises(ValueError, match=r"shape \(5,\).*num_genes=4"):
        nne.tell(state, jnp.zeros((6, 4)), jnp.zeros(6))
    with pytest.raises(ValueError, match=r"shape \(5,\).*num_genes=4"):
        nne.ask(jax.random.PRNGKey(0), state)


def test_callables_for_shaping_rule_and_init_equal_their_registered_names():
    named = NNE(num_genes=6, pop_size=8, eps=0.5, update_rule="multiplicative_weights", fitness_shaping="standardize",
                init_freqs="half")
    direct = NNE(num_genes=6, pop_size=8, eps=0.5, update_rule=multiplicative_weights_update, fitness_shaping=standardize,
                 init_freqs=lambda key, n: jnp.full((n,), 0.5))
    for nne in (named, direct):
        state, x, f = _population(nne)
        assert np.all(state.allele_freqs == 0.5)
    s1, x, f = _population(named)
    np.testing.assert_array_equal(named.tell(s1, x, f).allele_freqs, direct.tell(s1, x, f).allele_freqs)


def test_registry_lookup_register_and_errors():
    reg = Registry("thing", {"a": abs})
    assert reg.lookup("a") is abs and reg.lookup(round) is round and reg.name_of(abs) == "a"
    with pytest.raises(ValueError, match="unknown thing 'b'"):
        reg.lookup("b")
    reg.register("b", round)
    with pytest.raises(ValueError, match="already registered"):
        reg.register("b", abs)
    with pytest.raises(ValueError, match="must be callable"):
        reg.register("c", 3)
    for r in (SHAPINGS, UPDATE_RULES, INIT_FREQS):
        assert isinstance(r, dict) and len(r) >= 2


def test_stable_name_distinguishes_closure_values_and_has_no_address():
    a = optax.cosine_decay_schedule(2.0, 100)
    assert stable_name(a) == stable_name(optax.cosine_decay_schedule(2.0, 100))
    assert stable_name(a) != stable_name(optax.cosine_decay_schedule(2.0, 200))
    assert "0x" not in stable_name(a) and "init_value=2.0" in stable_name(a)
    assert stable_name(CosineDecay(4.0, 0.5, 500)) == str(CosineDecay(4.0, 0.5, 500))  # old checkpoints still match
    assert stable_name(2.5) == "2.5" and stable_name("none") == "none"


def test_stable_name_is_the_same_in_a_new_process():
    code = "import optax; from nne_jax.registry import stable_name; print(stable_name(optax.linear_schedule(1.0, 0.1, 50)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == stable_name(optax.linear_schedule(1.0, 0.1, 50))
