"""The network's output scale (``logit_scale``) and the gradient ceiling of NNE's parametrisation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nne_jax as nj
from nne_jax.backprop import train_readout_signsgd
from nne_jax.config import PRESETS, RunConfig, with_fields
from nne_jax.evaluation import network_accuracy
from nne_jax.fitness import Fitness
from nne_jax.generation import make_generation
from nne_jax.population import PATHS


def _task(scale: float = 1.0, path: str = "fused", **kw) -> nj.MLPTask:
    return nj.mlp_task(
        jax.random.PRNGKey(0),
        num_genes=120,
        beta=0.05,
        num_inputs=24,
        num_hidden=32,
        num_classes=4,
        density=0.25,
        path=path,
        logit_scale=scale,
        **kw,
    )


@pytest.mark.parametrize("path", sorted(PATHS))
def test_logit_scale_multiplies_every_paths_logits(path):
    genotypes = jax.random.bernoulli(jax.random.PRNGKey(1), 0.5, (6, 120)).astype(jnp.float32)
    x = jax.random.uniform(jax.random.PRNGKey(2), (5, 24))
    plain, scaled = _task(1.0, path), _task(0.03, path)
    np.testing.assert_allclose(
        np.asarray(scaled.population_logits(genotypes, x)), 0.03 * np.asarray(plain.population_logits(genotypes, x)), rtol=1e-5, atol=1e-6
    )
    w = plain.weights(genotypes[0])
    np.testing.assert_allclose(np.asarray(scaled.forward(w, x)), 0.03 * np.asarray(plain.forward(w, x)), rtol=1e-5, atol=1e-6)


def test_per_layer_scales_are_one_output_scale():
    """ReLU without biases: layer 1 × a and layer 2 × b is the unscaled net with logit_scale a·b."""
    task = _task()
    arch = task.arch
    w = task.weights(jnp.full((120,), 0.5))
    first = jnp.asarray((np.arange(arch.num_slots) % arch.slots_per_row) < arch.slots_per_unit)
    a, b = 0.2, 7.0
    x = jax.random.uniform(jax.random.PRNGKey(3), (9, 24))
    layered = task.forward(jnp.where(first, a * w, b * w), x)
    np.testing.assert_allclose(np.asarray(layered), np.asarray(_task(a * b).forward(w, x)), rtol=1e-5, atol=1e-6)


def test_logit_scale_keeps_predictions_changes_fitness():
    x = jax.random.uniform(jax.random.PRNGKey(4), (30, 24))
    y = jax.random.randint(jax.random.PRNGKey(5), (30,), 0, 4)
    p = jax.random.uniform(jax.random.PRNGKey(6), (120,))
    plain, scaled = _task(1.0), _task(0.1)
    assert float(network_accuracy(plain, plain.weights(p), x, y)) == float(network_accuracy(scaled, scaled.weights(p), x, y))
    genotypes = jax.random.bernoulli(jax.random.PRNGKey(7), p, (8, 120)).astype(jnp.float32)
    fit = Fitness("neg_cross_entropy")
    f_plain, f_scaled = fit(plain.population_logits(genotypes, x), y), fit(scaled.population_logits(genotypes, x), y)
    np.testing.assert_allclose(
        np.asarray(f_scaled), np.asarray(Fitness("neg_cross_entropy", 10.0)(plain.population_logits(genotypes, x), y)), rtol=1e-5
    )
    assert not np.allclose(np.asarray(f_plain), np.asarray(f_scaled))


def test_new_logit_scale_does_not_recompile():
    traces = []

    def counting_fitness(logits, labels):
        traces.append(1)  # runs only while tracing
        return Fitness("neg_cross_entropy")(logits, labels)

    nne = nj.NNE(num_genes=120, pop_size=8, eps=0.5)
    task = _task(1.0)
    generation = make_generation(nne, task, counting_fitness)
    state = nne.init(jax.random.PRNGKey(8))
    batch = (jax.random.uniform(jax.random.PRNGKey(9), (5, 24)), jnp.arange(5) % 4)
    generation(state, jax.random.PRNGKey(10), batch)
    make_generation(nne, task.replace(logit_scale=0.25), counting_fitness)(state, jax.random.PRNGKey(10), batch)
    assert len(traces) == 1


def test_signsgd_readout_sees_the_scale():
    """A scale s on the logits is a scale s on the frozen features: the same trained readout."""
    key = jax.random.PRNGKey(11)
    w1 = jax.random.normal(key, (24, 16))
    w2 = jax.random.normal(jax.random.fold_in(key, 1), (16, 4))
    x = jax.random.uniform(jax.random.fold_in(key, 2), (100, 24))
    y = jax.random.randint(jax.random.fold_in(key, 3), (100,), 0, 4)
    scaled = train_readout_signsgd(key, w1, w2, x, y, 0.01, 20, logit_scale=0.05)
    reference = train_readout_signsgd(key, 0.05 * w1, w2, x, y, 0.01, 20)
    np.testing.assert_allclose(np.asarray(scaled), np.asarray(reference), atol=1e-6)
    assert not np.allclose(np.asarray(scaled), np.asarray(train_readout_signsgd(key, w1, w2, x, y, 0.01, 20)))


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf"), True, "0.1"])
def test_bad_logit_scale_is_refused_by_name(bad):
    with pytest.raises(ValueError, match="logit_scale"):
        _task(bad)
    with pytest.raises(ValueError, match="logit_scale"):
        with_fields(PRESETS["smoke"], logit_scale=bad)


def test_logit_scale_is_in_the_identity_only_when_set():
    assert "logit_scale" not in PRESETS["fast"].identity()  # old checkpoints keep resuming
    assert with_fields(PRESETS["fast"], logit_scale=0.05).identity()["logit_scale"] == 0.05
    assert isinstance(PRESETS["fast"], RunConfig)


def test_ceiling_trains_allele_freqs_through_the_task():
    from experiments.ceiling import train_allele_freqs
    from nne_jax.fitness import cross_entropy

    task = _task(0.5)
    x = jax.random.uniform(jax.random.PRNGKey(12), (64, 24))
    y = jnp.argmax(x[:, :4], axis=1)  # a learnable rule
    p, curve = train_allele_freqs(
        task, x, y, jax.random.PRNGKey(13), steps=300, batch_size=32, learning_rate=0.1, p_min=0.02, p_max=0.98, eval_every=100
    )
    assert curve.shape == (3,) and float(jnp.min(p)) >= np.float32(0.02) and float(jnp.max(p)) <= np.float32(0.98)

    def loss(freqs):
        return float(jnp.mean(cross_entropy(task.forward(task.weights(freqs), x), y)))

    assert loss(p) < 0.8 * loss(jnp.full((120,), 0.5))
    assert float(curve[-1]) > 0.6
