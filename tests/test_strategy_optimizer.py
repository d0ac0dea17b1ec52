"""NNE's optional optax transformation of the multiplicative-weights step (ours, issue #17)."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.scipy.special import logit

from nne_jax.config import PRESETS, ConfigError, apply_overrides, with_fields
from nne_jax.genetics import allele_rewards, multiplicative_weights_update
from nne_jax.runner import evolve
from nne_jax.strategy import NNE

KW = dict(num_genes=12, pop_size=16, update_rule="multiplicative_weights")


def _generation(nne, state, key=jax.random.PRNGKey(3), params=None):
    genotypes, state = nne.ask(key, state)
    fitness = genotypes @ jnp.linspace(-1.0, 1.0, nne.num_genes)
    return genotypes, fitness, nne.tell(state, genotypes, fitness, params=params)


def test_the_identity_transformation_is_the_multiplicative_weights_rule():
    nne = NNE(eps=0.7, optimizer=optax.identity(), **KW)
    state = nne.init(jax.random.PRNGKey(0))
    genotypes, fitness, new = _generation(nne, state)
    f, f_bar = allele_rewards(genotypes, fitness)
    np.testing.assert_allclose(new.allele_freqs, multiplicative_weights_update(state.allele_freqs, f, f_bar, 0.7), rtol=1e-5)


def test_adam_first_step_moves_every_logit_by_eps_in_the_sign_of_its_reward_difference():
    nne = NNE(eps=0.3, optimizer="adam", **KW)
    state = nne.init(jax.random.PRNGKey(1))
    assert state.opt_state.mu.shape == (12,) and int(state.opt_state.count) == 0
    genotypes, fitness, new = _generation(nne, state)
    f, f_bar = allele_rewards(genotypes, fitness)
    moved = logit(new.allele_freqs) - logit(state.allele_freqs)
    expected = 0.3 * np.sign(f - f_bar) * (np.abs(f - f_bar) > 1e-6)  # bias-corrected Adam's first step: g / |g|
    np.testing.assert_allclose(moved, expected, atol=1e-3)
    assert int(new.opt_state.count) == 1


def test_a_sweep_over_eps_with_adam_is_one_vmap_and_matches_single_calls():
    nne = NNE(eps=0.3, optimizer="momentum", **KW)
    state = nne.init(jax.random.PRNGKey(2))
    genotypes, fitness, _ = _generation(nne, state)
    tell = lambda e: nne.tell(state, genotypes, fitness, params=nne.default_params.replace(eps=e))  # noqa: E731
    swept = jax.vmap(tell)(jnp.array([0.1, 0.5]))
    for i, e in enumerate((0.1, 0.5)):
        np.testing.assert_allclose(swept.allele_freqs[i], tell(jnp.float32(e)).allele_freqs, rtol=1e-6)
        np.testing.assert_allclose(swept.opt_state.trace[i], tell(jnp.float32(e)).opt_state.trace, rtol=1e-6)


def test_no_finite_fitness_leaves_frequencies_and_optimizer_state_alone():
    nne = NNE(eps=0.3, optimizer="adam", **KW)
    state = nne.init(jax.random.PRNGKey(4))
    genotypes, state = nne.ask(jax.random.PRNGKey(5), state)
    new = nne.tell(state, genotypes, jnp.full((16,), jnp.nan))
    np.testing.assert_array_equal(new.allele_freqs, state.allele_freqs)
    np.testing.assert_array_equal(new.opt_state.mu, state.opt_state.mu)
    assert int(new.opt_state.count) == 0 and int(new.generation) == 1


@pytest.mark.parametrize("kwargs, match", [
    (dict(eps=1.0, num_genes=4, pop_size=4, optimizer="adam"), "set update_rule='multiplicative_weights'"),
    (dict(eps=1.0, optimizer="adamw", **KW), "unknown optimizer 'adamw'"),
    (dict(eps=1.0, optimizer=lambda: 3, **KW), "must give an optax.GradientTransformation"),
])
def test_bad_optimizers_are_refused_by_name(kwargs, match):
    with pytest.raises(ValueError, match=match):
        NNE(**kwargs)


def test_config_override_and_checkpoint_identity():
    config = apply_overrides(PRESETS["fast"], ["optimizer=adam"])
    assert config.strategy.optimizer == "adam" and config.identity()["optimizer"] == "adam"
    assert "optimizer" not in PRESETS["fast"].identity()  # runs from before the option still resume
    assert apply_overrides(config, ["optimizer=none"]).strategy.optimizer is None
    with pytest.raises(ConfigError, match="optimizer must be none or one of"):
        apply_overrides(PRESETS["fast"], ["optimizer=sgd"])


def test_a_run_with_adam_resumes_exactly(tmp_path):
    rng = np.random.default_rng(0)
    data = {"train_x": rng.random((40, 784), dtype=np.float32), "train_y": np.arange(40) % 5,
            "test_x": rng.random((50, 784), dtype=np.float32), "test_y": np.arange(50) % 5}
    config = with_fields(PRESETS["smoke"], num_genes=60, pop_size=8, num_hidden=16, eval_every=2, batch_size=20,
                         optimizer="adam", eps=0.2)
    straight = evolve(with_fields(config, generations=6), "0-4", 0, data, tmp_path / "a", log=None)["state"]
    evolve(with_fields(config, generations=2), "0-4", 0, data, tmp_path / "b", log=None)
    resumed = evolve(with_fields(config, generations=6), "0-4", 0, data, tmp_path / "b", log=None)
    assert resumed["resumed_from"] == 2
    np.testing.assert_array_equal(resumed["state"].allele_freqs, straight.allele_freqs)
    np.testing.assert_array_equal(resumed["state"].opt_state.nu, straight.opt_state.nu)
    assert int(resumed["state"].opt_state.count) == 6


def test_wide_adam_long_is_wide_adam_with_its_schedules_stretched_to_1000_generations():
    from nne_jax.config import PRESETS, apply_overrides

    long = PRESETS["wide-adam-long"]
    same = apply_overrides(PRESETS["wide-adam"], ["generations=1000", "eps=cosine:0.25:0.02:1000", "fixation=ramp:0:0.3:500:1000"])
    assert long.generations == 1000 and long.strategy.optimizer == "adam"
    assert {k: v for k, v in long.identity().items() if k != "name"} == {k: v for k, v in same.identity().items() if k != "name"}
