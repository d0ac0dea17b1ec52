"""Schedules (ε, the fixation threshold) with a stable identity: values, validation, presets, checkpoints and results files."""
import json
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nne_jax as nj
from nne_jax.config import PRESETS, apply_overrides
from nne_jax.schedules import CosineDecay, LinearRamp


def test_cosine_decay_values():
    eps = CosineDecay(4.0, 0.5, 100)
    np.testing.assert_allclose([float(eps(t)) for t in (0, 50, 100, 250)], [4.0, 2.25, 0.5, 0.5], rtol=1e-6)
    assert float(jax.jit(eps)(jnp.int32(25))) == pytest.approx(0.5 + 3.5 * 0.5 * (1 + np.cos(np.pi / 4)), rel=1e-6)


@pytest.mark.parametrize("args, field", [((0.0, 0.5, 10), "init"), ((1.0, -1.0, 10), "end"), ((1.0, 0.5, 0), "steps"),
                                         ((1.0, 0.5, 2.5), "steps"), ((True, 0.5, 10), "init")])
def test_cosine_decay_validation_names_the_field(args, field):
    with pytest.raises(ValueError, match=f"CosineDecay.{field}"):
        CosineDecay(*args)


def test_schedule_drives_tell_by_generation():
    nne = nj.NNE(num_genes=4, pop_size=4, eps=CosineDecay(2.0, 0.1, 10), update_rule="multiplicative_weights")
    state = nne.init(jax.random.PRNGKey(0), jnp.full((4,), 0.5))
    genotypes = jnp.array([[1, 0, 1, 0], [0, 1, 1, 0], [1, 1, 0, 0], [0, 0, 0, 1]], jnp.float32)
    fitness = jnp.array([1.0, 0.0, 2.0, -1.0])
    first = nne.tell(state, genotypes, fitness)
    late = nne.tell(state.replace(generation=jnp.int32(20)), genotypes, fitness)
    logit = lambda p: np.log(p / (1 - p))  # noqa: E731
    # multiplicative weights: logit p' - logit p = ε(t) (f - f̄), so the two steps differ by ε(0) / ε(20) = 20
    np.testing.assert_allclose(logit(np.asarray(first.allele_freqs)), 20 * logit(np.asarray(late.allele_freqs)), rtol=1e-4, atol=1e-6)


def test_schedule_identity_is_the_same_in_a_new_process():
    config = apply_overrides(PRESETS["smoke"], ["eps=cosine:4:0.5:600"])
    here = json.dumps(config.identity(), sort_keys=True, default=str)
    code = ("import json; from nne_jax.config import PRESETS, apply_overrides; "
            "print(json.dumps(apply_overrides(PRESETS['smoke'], ['eps=cosine:4:0.5:600']).identity(), sort_keys=True, default=str))")
    there = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert here == there and "CosineDecay(init=4.0, end=0.5, steps=600)" in here


def test_results_files_record_the_schedule(tmp_path):
    from experiments.common import write_json

    path = write_json(tmp_path / "r.json", {"eps": CosineDecay(4.0, 0.5, 600), "bad": float("nan")})
    assert json.loads(path.read_text()) == {"eps": {"type": "CosineDecay", "init": 4.0, "end": 0.5, "steps": 600}, "bad": None}


@pytest.mark.parametrize("raw", ["abc", "cosine:4:0.5", "cosine:4:0.5:x", "cosine:-1:0.5:10"])
def test_bad_eps_override_is_refused_by_name(raw):
    with pytest.raises(ValueError, match="eps"):
        apply_overrides(PRESETS["smoke"], [f"eps={raw}"])


def test_linear_ramp_values_and_step():
    ramp = LinearRamp(0.0, 0.3, 250, 500)
    np.testing.assert_allclose([float(ramp(t)) for t in (0, 250, 375, 500, 900)], [0.0, 0.0, 0.15, 0.3, 0.3], atol=1e-7)
    step = LinearRamp(0.0, 0.05, 100, 100)
    np.testing.assert_allclose([float(jax.jit(step)(jnp.int32(t))) for t in (99, 100, 101)], [0.0, 0.05, 0.05], atol=1e-7)


@pytest.mark.parametrize("args, field", [((-0.1, 0.3, 0, 10), "init"), ((0.0, float("inf"), 0, 10), "end"),
                                         ((0.0, 0.3, -1, 10), "start"), ((0.0, 0.3, 0, 2.5), "stop"),
                                         ((0.0, 0.3, 20, 10), "start <= stop")])
def test_linear_ramp_validation_names_the_field(args, field):
    with pytest.raises(ValueError, match=field):
        LinearRamp(*args)


def _fixation_run(fixation, generations=60):
    nne = nj.NNE(num_genes=40, pop_size=64, eps=5.0, fixation=fixation, p_min=0.02, p_max=0.98,
                 update_rule="multiplicative_weights", fitness_shaping="standardize")
    state = nne.init(jax.random.PRNGKey(0))
    target = jnp.arange(40) % 2
    counts = []
    for t in range(generations):
        genotypes, state = nne.ask(jax.random.PRNGKey(t), state)
        state = nne.tell(state, genotypes, jnp.sum(genotypes == target, axis=1).astype(jnp.float32))
        counts.append(int(state.fixed.sum()))
    return np.array(counts), state


def test_fixation_schedule_fixes_nothing_before_its_start_and_everything_at_one_half():
    counts, state = _fixation_run(LinearRamp(0.0, 0.5, 30, 50))
    # p reaches the bounds (0.02, 0.98) well before generation 30, yet no gene fixes while τ = 0
    assert counts[28] == 0 and np.all(np.diff(counts) >= 0)
    assert counts[40] > 0 and counts[-1] == 40  # τ = 0.5 from generation 50: every gene fixed
    assert set(np.unique(np.asarray(state.allele_freqs))) <= {0.0, 1.0}
    constant, _ = _fixation_run(0.05)
    assert constant[28] > 0  # the same run with a constant threshold fixes genes early


def test_fixation_schedule_through_overrides_and_identity():
    config = apply_overrides(PRESETS["smoke"], ["fixation=ramp:0:0.3:10:30"])
    assert config.strategy.fixation == LinearRamp(0.0, 0.3, 10, 30)
    assert "LinearRamp(init=0.0, end=0.3, start=10, stop=30)" in json.dumps(config.identity(), default=str)
    assert apply_overrides(PRESETS["smoke"], ["fixation=0.1"]).strategy.fixation == 0.1
    with pytest.raises(ValueError, match="fixation expects ramp:INIT:END:START:STOP"):
        apply_overrides(PRESETS["smoke"], ["fixation=ramp:0:0.3:10"])
    # a traced multiplier of the schedule, as for eps
    nne = config.strategy
    assert float(nne.default_params.fixation_at(jnp.int32(20))) == pytest.approx(0.15)
    assert float(nne.default_params.replace(fixation=jnp.float32(2.0)).fixation_at(jnp.int32(20))) == pytest.approx(0.3)
