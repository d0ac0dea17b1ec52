"""The paper's further work as library options: nonlinear gene maps, fixed-gene offsets, compaction."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nne_jax as nj
from nne_jax.fixation import compact_task, free_fraction
from nne_jax.population import PATHS
from nne_jax.weights import GENE_MAPS, select_columns

N_GENES = 200


@pytest.fixture(scope="module")
def task():
    return nj.mlp_task(
        jax.random.PRNGKey(0), num_genes=N_GENES, beta=0.02, num_inputs=30, num_hidden=40, num_classes=5, density=0.2, block_units=8
    )


def _reference(task, genotypes, inputs, gene_map="identity", offset=None):
    """Dense NumPy: weights g(W x + offset), dense masked layers."""
    dense = np.asarray(nj.dense_matrix(task.wg))
    g = {"identity": lambda w: w, "tanh": np.tanh, "relu": lambda w: np.maximum(w, 0)}[gene_map]
    out = []
    for x in np.asarray(genotypes):
        w = g(dense @ x + (0 if offset is None else np.asarray(offset)))
        w1, w2 = nj.dense_params(task.arch, jnp.asarray(w, jnp.float32))
        out.append(np.maximum(np.asarray(inputs) @ np.asarray(w1), 0) @ np.asarray(w2))
    return np.stack(out)


@pytest.mark.parametrize("gene_map", sorted(GENE_MAPS))
@pytest.mark.parametrize("path", ["dense", "sparse", "fused"])
def test_gene_maps_on_every_path(task, gene_map, path):
    g = jax.random.bernoulli(jax.random.PRNGKey(1), 0.5, (10, N_GENES)).astype(jnp.float32)
    x = jax.random.uniform(jax.random.PRNGKey(2), (6, 30))
    t = task.replace(gene_map=gene_map, path=path)
    np.testing.assert_allclose(np.asarray(t.population_logits(g, x)), _reference(task, g, x, gene_map), rtol=1e-4, atol=1e-4)
    w = np.asarray(t.weights(g[0]))
    assert not w[~task.arch.active].any()  # g(0) = 0: padding slots stay empty under every map
    if gene_map == "relu":
        assert w.min() >= 0.0
    if gene_map == "tanh":
        assert np.abs(w).max() < 1.0


def test_gene_map_errors(task):
    with pytest.raises(ValueError, match="gene_map"):
        nj.mlp_task(jax.random.PRNGKey(0), 50, num_hidden=10, gene_map="sigmoid")
    with pytest.raises(ValueError, match="genespace"):
        nj.mlp_task(jax.random.PRNGKey(0), 50, num_hidden=10, path="genespace", gene_map="tanh")
    g = jnp.ones((2, N_GENES))
    with pytest.raises(ValueError, match="linear"):
        task.replace(gene_map="relu", path="genespace").population_logits(g, jnp.ones((3, 30)))


@pytest.mark.parametrize("path", sorted(PATHS))
def test_offset_is_added_on_every_path(task, path):
    g = jax.random.bernoulli(jax.random.PRNGKey(3), 0.5, (9, N_GENES)).astype(jnp.float32)
    x = jax.random.uniform(jax.random.PRNGKey(4), (5, 30))
    offset = jnp.where(jnp.asarray(task.arch.active), jax.random.normal(jax.random.PRNGKey(5), (task.arch.num_slots,)), 0.0)
    out = nj.population_logits(task.arch, task.wg, g, x, path=path, blocks=task.blocks, offset=offset, pop_chunk=4)
    np.testing.assert_allclose(np.asarray(out), _reference(task, g, x, offset=offset), rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="offset"):
        nj.population_logits(task.arch, task.wg, g, x, path=path, offset=offset[:-1])


def test_select_columns_matches_dense(task):
    cols = np.array([3, 7, 7, 150, 0])  # a repeat is an empty column
    sub = select_columns(task.wg, cols, nnz=task.wg.nnz)
    dense = np.asarray(nj.dense_matrix(task.wg))
    expected = dense[:, cols]
    expected[:, 2] = 0.0
    x = np.random.default_rng(0).random(5).astype(np.float32)
    np.testing.assert_allclose(np.asarray(nj.generate_weights(sub, jnp.asarray(x))), expected @ x, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="columns"):
        select_columns(task.wg, np.array([N_GENES]))


def _fixed_state(task, fraction, seed=0):
    rng = np.random.default_rng(seed)
    fixed = rng.random(N_GENES) < fraction
    p = np.where(fixed, rng.integers(0, 2, N_GENES), rng.random(N_GENES)).astype(np.float32)
    return nj.NNEState(jnp.asarray(p), jnp.asarray(fixed), jnp.zeros((), jnp.int32))


@pytest.mark.parametrize("fraction", [0.0, 0.6, 1.0])
@pytest.mark.parametrize("path", sorted(PATHS))
def test_compacted_task_computes_the_same_logits(task, fraction, path):
    state = _fixed_state(task, fraction)
    full = task.replace(path=path)
    small = compact_task(full, state, buckets=4)
    assert small.num_genes == N_GENES and small.wg.num_genes <= N_GENES
    assert small.wg.num_genes >= int((~np.asarray(state.fixed)).sum())
    if fraction == 0.6:
        assert free_fraction(small) < 0.75  # fewer columns: less weight generation
    nne = nj.NNE(num_genes=N_GENES, pop_size=12, eps=1.0, fixation=0.05)
    genotypes, _ = nne.ask(jax.random.PRNGKey(6), state)  # fixed genes carry their allele
    x = jax.random.uniform(jax.random.PRNGKey(7), (5, 30))
    np.testing.assert_allclose(
        np.asarray(small.population_logits(genotypes, x)), np.asarray(full.population_logits(genotypes, x)), rtol=1e-4, atol=1e-4
    )
    np.testing.assert_allclose(
        np.asarray(small.weights(state.allele_freqs)), np.asarray(full.weights(state.allele_freqs)), rtol=1e-5, atol=1e-5
    )
    with pytest.raises(ValueError, match="already compacted"):
        compact_task(small, state)


def test_compaction_bounds_recompilation(task):
    """States with different numbers of fixed genes share a few padded shapes."""
    shapes = set()
    for i, fraction in enumerate(np.linspace(0.0, 0.95, 20)):
        small = compact_task(task, _fixed_state(task, fraction, seed=i), buckets=4)
        shapes.add((small.wg.num_genes, small.wg.nnz, tuple(w.data.shape for g in small.blocks for w in (g.wg_in, g.wg_out))))
    assert len(shapes) <= 4 * 3


def test_compacted_run_follows_the_uncompacted_one():
    """run_generations with compaction (the default) matches a run without it, and genes do fix."""
    task = nj.mlp_task(
        jax.random.PRNGKey(0), num_genes=120, beta=0.03, num_inputs=20, num_hidden=16, num_classes=3, density=0.3, block_units=4
    )
    nne = nj.NNE(
        num_genes=120,
        pop_size=32,
        eps=0.8,
        update_rule="multiplicative_weights",
        fitness_shaping="standardize",
        antithetic=True,
        fixation=0.05,
        init_freqs="half",
    )
    rng = np.random.default_rng(0)
    x = rng.random((60, 20)).astype(np.float32)
    y = (x[:, :3].argmax(1)).astype(np.int32)
    state0 = nne.init(jax.random.PRNGKey(1))
    runs = {}
    for compact in (True, False):
        state, metrics = nj.run_generations(
            nne, task, state0, jax.random.PRNGKey(2), x, y, 40, 30, chunk_size=5, fitness_fn=nj.neg_cross_entropy, compact=compact
        )
        runs[compact] = (state, metrics)
    fixed = np.asarray(runs[True][0].fixed)
    assert 0.1 < fixed.mean() < 1.0  # a real test: part of the genes fixed during the run
    np.testing.assert_array_equal(fixed, np.asarray(runs[False][0].fixed))
    np.testing.assert_allclose(np.asarray(runs[True][0].allele_freqs), np.asarray(runs[False][0].allele_freqs), atol=1e-4)
    np.testing.assert_allclose(np.asarray(runs[True][1].mean_fitness), np.asarray(runs[False][1].mean_fitness), rtol=1e-4, atol=1e-4)


def test_dataclass_fields_are_documented():
    names = {f.name for f in dataclasses.fields(nj.MLPTask)}
    assert {"genes", "offset", "gene_map", "total_genes"} <= names


def test_run_config_selects_gene_map_and_depth():
    from nne_jax.config import PRESETS, apply_overrides
    from nne_jax.deep import DeepTask
    from nne_jax.runner import make_task

    base = PRESETS["smoke"]
    assert "gene_map" not in base.identity() and "hidden_layers" not in base.identity()  # old checkpoints still resume
    cfg = apply_overrides(base, ["gene_map=tanh", "hidden_layers=2", "num_hidden=24"])
    assert cfg.identity()["gene_map"] == "tanh" and cfg.identity()["hidden_layers"] == 2
    task = make_task(cfg, seed=0, num_classes=10)
    assert isinstance(task, DeepTask) and task.arch.hidden == (24, 24) and task.gene_map == "tanh"
    shallow = make_task(apply_overrides(base, ["gene_map=relu", "num_hidden=24"]), seed=0, num_classes=10)
    assert isinstance(shallow, nj.MLPTask) and shallow.gene_map == "relu"
    with pytest.raises(ValueError, match="gene_map"):
        apply_overrides(base, ["gene_map=cubic"])
    with pytest.raises(ValueError, match="k_cap"):
        apply_overrides(base, ["hidden_layers=2", "k_cap=5"])


def test_fan_in_scale_multiplies_deeper_layers_only():
    from nne_jax.config import PRESETS, apply_overrides
    from nne_jax.deep import deep_forward, deep_mlp, deep_split_slots

    plain = deep_mlp(jax.random.PRNGKey(0), 20, (16, 12), 4, density=0.25)
    scaled = deep_mlp(jax.random.PRNGKey(0), 20, (16, 12), 4, density=0.25, fan_in_scale=True)
    np.testing.assert_allclose(scaled.layer_scales, (1.0, 1 / np.sqrt(0.25 * 16), 1 / np.sqrt(12)))
    w = jax.random.normal(jax.random.PRNGKey(1), (plain.num_slots,))
    (l1, l2), out = deep_split_slots(plain, w)
    manual = jnp.concatenate([l1.ravel(), l2.ravel() * scaled.layer_scales[1], out.ravel() * scaled.layer_scales[2]])
    x = jax.random.uniform(jax.random.PRNGKey(2), (5, 20))
    np.testing.assert_allclose(np.asarray(deep_forward(scaled, w, x)), np.asarray(deep_forward(plain, manual, x)), rtol=1e-5, atol=1e-6)
    assert apply_overrides(PRESETS["smoke"], ["hidden_layers=2", "fan_in_scale=true"]).identity()["fan_in_scale"] is True
    with pytest.raises(ValueError, match="fan_in_scale"):
        apply_overrides(PRESETS["smoke"], ["fan_in_scale=true"])
