"""Deeper NNE (nne_jax.deep): forward passes vs a dense reference, slot layout, task protocol, learning."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nne_jax as nj
from nne_jax.deep import DeepMLP, deep_forward, deep_forward_population, deep_mlp, deep_split_slots, deep_task
from nne_jax.evaluation import EVAL_MODES, evaluate_allele_freqs, network_accuracy

D, HIDDEN, C, N_GENES = 20, (16, 12), 4, 60


@pytest.fixture(scope="module")
def arch():
    return deep_mlp(jax.random.PRNGKey(0), D, HIDDEN, C, density=0.3)


def dense_reference(arch, weights, inputs):
    """relu(relu(x W1) W2) W3 with dense NumPy matrices zero off the masks."""
    layers, w_out = deep_split_slots(arch, jnp.asarray(weights))
    act = np.asarray(inputs, np.float64)
    for idx, w, f in zip(arch.in_idx, layers, arch.fan_ins):
        idx, w = np.asarray(idx), np.asarray(w, np.float64)
        dense = np.zeros((f + 1, idx.shape[0]))
        np.add.at(dense, (idx, np.arange(idx.shape[0])[:, None]), w)
        act = np.maximum(act @ dense[:f], 0.0)
    return act @ np.asarray(w_out, np.float64)


def test_layout_and_masks(arch):
    k1, k2 = (i.shape[1] for i in arch.in_idx)
    assert arch.in_idx[0].shape == (16, k1) and arch.in_idx[1].shape == (12, k2) and k1 % 8 == k2 % 8 == 0
    assert arch.offsets == (0, 16 * k1, 16 * k1 + 12 * k2, arch.num_slots)
    assert arch.num_slots == 16 * k1 + 12 * k2 + 12 * C and arch.active.shape == (arch.num_slots,)
    assert arch.num_links == sum(int((np.asarray(i) < f).sum()) for i, f in zip(arch.in_idx, arch.fan_ins)) + 12 * C
    big = deep_mlp(jax.random.PRNGKey(1), 200, (300, 200), C, density=0.1)
    for idx, f, h in zip(big.in_idx, big.fan_ins, big.hidden):
        idx = np.asarray(idx)
        real = idx[idx < f]
        assert abs(real.size / (f * h) - 0.1) < 0.01
        rows = np.repeat(np.arange(h)[:, None], idx.shape[1], 1)[idx < f]
        assert len(set(zip(rows.tolist(), real.tolist()))) == real.size  # no duplicate edges


def test_forward_matches_dense_reference(arch):
    w = jax.random.normal(jax.random.PRNGKey(2), (arch.num_slots,))
    x = jax.random.normal(jax.random.PRNGKey(3), (7, D))
    np.testing.assert_allclose(np.asarray(deep_forward(arch, w, x)), dense_reference(arch, w, x), rtol=1e-4, atol=1e-4)


def test_population_matches_vmap_and_chunks(arch):
    w_t = jax.random.normal(jax.random.PRNGKey(4), (arch.num_slots, 5))
    x = jax.random.normal(jax.random.PRNGKey(5), (6, D))
    pop = deep_forward_population(arch, w_t, x)
    ref = jax.vmap(lambda w: deep_forward(arch, w, x))(w_t.T)
    assert pop.shape == (5, 6, C)
    np.testing.assert_allclose(np.asarray(pop), np.asarray(ref), rtol=1e-5, atol=1e-5)
    task = deep_task(jax.random.PRNGKey(6), N_GENES, HIDDEN, 0.05, D, C, density=0.3)
    chunked = task.replace(pop_chunk=3)
    g = jax.random.bernoulli(jax.random.PRNGKey(7), 0.5, (7, N_GENES)).astype(jnp.int8)
    full = task.population_logits(g, x)
    np.testing.assert_allclose(np.asarray(chunked.population_logits(g, x)), np.asarray(full), rtol=1e-5, atol=1e-5)
    per_net = jax.vmap(lambda w: task.forward(w, x))(task.weights(g))
    np.testing.assert_allclose(np.asarray(full), np.asarray(per_net), rtol=1e-5, atol=1e-5)


def test_padding_slots_never_matter(arch):
    w = jax.random.normal(jax.random.PRNGKey(8), (arch.num_slots,))
    junk = jnp.where(jnp.asarray(arch.active), w, 1e3)
    x = jax.random.normal(jax.random.PRNGKey(9), (5, D))
    assert not arch.active.all()
    np.testing.assert_allclose(np.asarray(deep_forward(arch, junk, x)), np.asarray(deep_forward(arch, w, x)), rtol=1e-6)
    pop = deep_forward_population(arch, jnp.stack([w, junk], 1), x)
    np.testing.assert_allclose(np.asarray(pop[0]), np.asarray(pop[1]), rtol=1e-5, atol=1e-5)
    task = deep_task(jax.random.PRNGKey(10), N_GENES, HIDDEN, 0.05, D, C, density=0.3)
    dense_w = np.asarray(nj.dense_matrix(task.wg))
    assert not dense_w[~task.arch.active].any()  # W's padding rows are empty


def test_one_hidden_layer_equals_masked_mlp():
    key = jax.random.PRNGKey(11)
    mlp = nj.masked_mlp(key, D, 16, C, density=0.3)
    deep = DeepMLP((mlp.in_idx,), D, (16,), C)
    np.testing.assert_array_equal(np.asarray(deep_mlp(key, D, (16,), C, 0.3).in_idx[0]), np.asarray(mlp.in_idx))
    w = jax.random.normal(jax.random.PRNGKey(12), (mlp.num_slots,))
    rows, k = w.reshape(16, mlp.slots_per_row), mlp.slots_per_unit
    w_deep = jnp.concatenate([rows[:, :k].ravel(), rows[:, k:].ravel()])
    np.testing.assert_array_equal(deep.active, np.concatenate([mlp.active.reshape(16, -1)[:, :k].ravel(), np.ones(16 * C, bool)]))
    x = jax.random.normal(jax.random.PRNGKey(13), (9, D))
    np.testing.assert_allclose(np.asarray(deep_forward(deep, w_deep, x)), np.asarray(nj.mlp_forward(mlp, w, x)), rtol=1e-5, atol=1e-5)
    pop = deep_forward_population(deep, w_deep[:, None], x)[0]
    np.testing.assert_allclose(np.asarray(pop), np.asarray(nj.mlp_forward(mlp, w, x)), rtol=1e-5, atol=1e-5)


def toy_data(key, m=240, c=C):
    k1, k2 = jax.random.split(key)
    centers = jax.random.normal(k1, (c, D)) * 2.0
    labels = jnp.arange(m) % c
    return jax.nn.sigmoid(centers[labels] + 0.5 * jax.random.normal(k2, (m, D))), labels.astype(jnp.int32)


def test_generation_and_runner():
    task = deep_task(jax.random.PRNGKey(14), N_GENES, HIDDEN, 0.05, D, C, density=0.3)
    x, y = toy_data(jax.random.PRNGKey(15), m=60)
    nne = nj.NNE(num_genes=N_GENES, pop_size=8, eps=1.0)
    state = nne.init(jax.random.PRNGKey(16))
    state, metrics = nj.make_generation(nne, task)(state, jax.random.PRNGKey(17), (x[:20], y[:20]))
    assert int(state.generation) == 1 and np.isfinite(float(metrics.mean_fitness))
    state, metrics = nj.run_generations(nne, task, state, jax.random.PRNGKey(18), x, y, 4, batch_size=20, chunk_size=2)
    assert metrics.mean_fitness.shape == (3,) and all(np.isfinite(np.asarray(m)).all() for m in metrics)
    acc = float(network_accuracy(task, nj.mean_weights(task, state.allele_freqs), x, y))
    assert 0.0 <= acc <= 1.0
    accs = evaluate_allele_freqs(task, state.allele_freqs, x, y, jax.random.PRNGKey(19), num_samples=4)
    assert set(accs) == set(EVAL_MODES) and all(0.0 <= a <= 1.0 for a in accs.values())
    assert nj.DeepTask is type(task)


def test_learns_separable_task():
    n = 400  # beta = 0.01: ~4 genes per link keep the initial logits moderate through two layers
    task = deep_task(jax.random.PRNGKey(19), n, HIDDEN, 0.01, D, C, density=0.3)
    x, y = toy_data(jax.random.PRNGKey(20))
    nne = nj.NNE(num_genes=n, pop_size=32, eps=1.0, update_rule="multiplicative_weights", fitness_shaping="standardize", antithetic=True)
    s0 = nne.init(jax.random.PRNGKey(21))
    state, metrics = nj.run_generations(
        nne, task, s0, jax.random.PRNGKey(22), x, y, 30, batch_size=80, chunk_size=30, fitness_fn=nj.neg_cross_entropy
    )
    before = float(network_accuracy(task, nj.mean_weights(task, s0.allele_freqs), x, y))
    after = float(network_accuracy(task, nj.mean_weights(task, state.allele_freqs), x, y))
    fit = np.asarray(metrics.mean_fitness)
    assert fit[-5:].mean() > fit[:5].mean() + 1.0, fit  # observed: -2.6 -> -0.9
    assert after > max(before + 0.4, 0.7), (before, after)  # observed: 0.25 -> 1.0 (chance 0.25)


def test_gene_maps():
    g = jax.random.bernoulli(jax.random.PRNGKey(23), 0.5, (4, N_GENES)).astype(jnp.int8)
    for name, check in (("relu", lambda w: w.min() >= 0.0), ("tanh", lambda w: np.abs(w).max() <= 1.0)):
        task = deep_task(jax.random.PRNGKey(24), N_GENES, HIDDEN, 0.2, D, C, density=0.3, gene_map=name)
        assert check(np.asarray(task.weights(g)))
        x = jax.random.normal(jax.random.PRNGKey(25), (3, D))
        per_net = jax.vmap(lambda w, task=task, x=x: task.forward(w, x))(task.weights(g))
        np.testing.assert_allclose(np.asarray(task.population_logits(g, x)), np.asarray(per_net), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="unknown gene_map"):
        deep_task(jax.random.PRNGKey(0), N_GENES, HIDDEN, 0.05, D, C, gene_map="sigmoid")


def test_bad_inputs(arch):
    w = jnp.zeros(arch.num_slots)
    with pytest.raises(ValueError, match=r"inputs must have shape \(B, 20\)"):
        deep_forward(arch, w, jnp.zeros((3, D + 1)))
    with pytest.raises(ValueError, match="inputs must have shape"):
        deep_forward_population(arch, w[:, None], jnp.zeros((D,)))
    with pytest.raises(ValueError, match="slots"):
        deep_forward(arch, w[:-1], jnp.zeros((3, D)))
    with pytest.raises(ValueError, match="at least one hidden layer"):
        deep_mlp(jax.random.PRNGKey(0), D, (), C)
    with pytest.raises(ValueError, match="density"):
        deep_mlp(jax.random.PRNGKey(0), D, HIDDEN, C, density=0.0)
    with pytest.raises(ValueError, match=">= 1"):
        deep_mlp(jax.random.PRNGKey(0), D, (16, 0), C)
    with pytest.raises(ValueError, match="pop_chunk"):
        deep_task(jax.random.PRNGKey(0), N_GENES, HIDDEN, 0.05, D, C, pop_chunk=0)
    task = deep_task(jax.random.PRNGKey(0), N_GENES, HIDDEN, 0.05, D, C, density=0.3)
    with pytest.raises(ValueError, match="inputs must have shape"):
        nj.run_generations(
            nj.NNE(num_genes=N_GENES, pop_size=8, eps=1.0),
            task,
            nj.NNE(num_genes=N_GENES, pop_size=8, eps=1.0).init(jax.random.PRNGKey(0)),
            jax.random.PRNGKey(0),
            jnp.zeros((10, D + 1)),
            jnp.zeros(10, jnp.int32),
            2,
            batch_size=4,
        )
    with pytest.raises(ValueError, match="genotypes must have shape"):
        task.population_logits(jnp.zeros((4, N_GENES + 1)), jnp.zeros((3, D)))
