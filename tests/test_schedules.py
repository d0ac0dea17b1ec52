"""ε schedules with a stable identity: values, validation, presets, checkpoints and results files."""
import json
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nne_jax as nj
from nne_jax.config import PRESETS, apply_overrides
from nne_jax.schedules import CosineDecay


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
