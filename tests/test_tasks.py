"""nne_jax.tasks: execution options apart from task data, the population-path registry, the linear task."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nne_jax as nj
from nne_jax.population import PopulationPath, dense_equivalent_flops
from nne_jax.tasks import ExecOptions
from nne_jax.theory import linear


def _mlp(**kw):
    return nj.mlp_task(jax.random.PRNGKey(0), 60, num_inputs=12, num_hidden=10, num_classes=3, beta=0.05, density=0.5, **kw)


@pytest.mark.parametrize(
    "kw, match",
    [({"pop_chunk": 0}, "pop_chunk must be an int >= 1"), ({"pop_chunk": 2.5}, "pop_chunk"), ({"matmul_dtype": "float16"}, "matmul_dtype")],
)
def test_bad_execution_options_are_named(kw, match):
    with pytest.raises(ValueError, match=match):
        ExecOptions(**kw)
    with pytest.raises(ValueError, match=match):
        _mlp(**kw)


def test_options_are_static_and_separate_from_the_data():
    task = _mlp(path="sparse", pop_chunk=4)
    assert task.options == ExecOptions(path="sparse", pop_chunk=4) and (task.path, task.pop_chunk, task.mesh) == ("sparse", 4, None)
    leaves = jax.tree_util.tree_leaves(task)
    assert all(isinstance(x, (jax.Array, np.ndarray, float)) for x in leaves)  # options are no leaves
    moved = task.replace(path="dense", logit_scale=2.0)  # option keys go into options; data keys stay fields
    assert moved.options == ExecOptions(path="dense", pop_chunk=4) and moved.logit_scale == 2.0 and task.path == "sparse"
    assert jax.tree_util.tree_structure(moved) != jax.tree_util.tree_structure(task)  # a new option: a new program
    assert jax.tree_util.tree_structure(task.replace(logit_scale=3.0)) == jax.tree_util.tree_structure(task)
    deep = nj.deep_task(jax.random.PRNGKey(1), 50, hidden=(6, 5), num_inputs=8, num_classes=3, beta=0.05)
    assert deep.replace(pop_chunk=2).pop_chunk == 2 and deep.replace(pop_chunk=2).options.path == deep.options.path


def test_every_registered_path_agrees_and_carries_its_flop_count():
    task = _mlp()
    g = jax.random.bernoulli(jax.random.PRNGKey(2), 0.5, (7, 60)).astype(jnp.float32)
    x = jax.random.uniform(jax.random.PRNGKey(3), (5, 12))
    ref = task.replace(path="dense").population_logits(g, x)
    a, wg = task.arch, task.wg
    sparse = 2.0 * wg.nnz * 7 + 2.0 * 7 * 5 * a.num_hidden * (a.slots_per_unit + a.num_classes)
    for name, entry in nj.PATHS.items():
        np.testing.assert_allclose(task.replace(path=name).population_logits(g, x), ref, rtol=1e-4, atol=1e-4, err_msg=name)
        assert entry.flops(a, wg, task.blocks, 7, 5) > 0 and callable(entry)
    assert nj.PATHS["sparse"].flops(a, wg, None, 7, 5) == sparse == nj.PATHS["fused"].flops(a, wg, None, 7, 5)
    assert nj.PATHS["fused"].flops(a, wg, task.blocks, 7, 5) <= sparse  # trimmed groups never do more
    assert dense_equivalent_flops(a, wg, 7, 5) == 2.0 * 7 * 60 * a.num_links + 2.0 * 7 * 5 * (12 * 10 + 10 * 3)
    assert [k for k, e in nj.PATHS.items() if e.linear_genes] == ["genespace"]


def test_a_registered_path_is_usable_by_name_and_linear_genes_is_enforced():
    calls = []

    def traced_dense(*args):
        calls.append(1)
        return nj.PATHS["dense"].fn(*args)

    nj.PATHS.register("counted-dense", PopulationPath(traced_dense, False, nj.PATHS["dense"].flops))
    try:
        task = _mlp(path="counted-dense")
        g = jnp.ones((2, 60))
        x = jnp.ones((3, 12))
        np.testing.assert_allclose(task.population_logits(g, x), task.replace(path="dense").population_logits(g, x), rtol=1e-6)
        assert calls
    finally:
        del nj.PATHS["counted-dense"]
    with pytest.raises(ValueError, match="genespace path needs gene_map='identity'"):
        _mlp(path="genespace", gene_map="tanh")
    task = _mlp(path="sparse", gene_map="tanh")
    with pytest.raises(ValueError, match="linear in the genes"):
        nj.population_logits(task.arch, task.wg, jnp.ones((2, 60)), jnp.ones((3, 12)), "genespace", gene_map="tanh")


def _linear_problem(m=8, n=40):
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(4), 3)
    w = linear.sample_weight_matrix(k1, m, n, 2.0) / 4.0
    a = linear.sample_target(k2, m)
    y = linear.sample_unit_ball(k3, 64, m)
    return nj.LinearTask(w), a, y


def test_linear_task_is_the_theorys_network():
    task, a, y = _linear_problem()
    nj.check_task(task)
    g = jax.random.bernoulli(jax.random.PRNGKey(5), 0.5, (9, 40)).astype(jnp.float32)
    fitness = nj.neg_squared_error(task.population_logits(g, y), y @ a)
    np.testing.assert_allclose(-fitness, linear.minibatch_loss(g, task.weight_matrix, a, y), rtol=1e-5)
    chunked = task.replace(pop_chunk=4).population_logits(g, y)
    np.testing.assert_allclose(chunked, task.population_logits(g, y), rtol=1e-6)
    np.testing.assert_allclose(task.forward(task.weights(g[0]), y)[:, 0], (y @ task.weight_matrix) @ g[0], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="one output per example"):
        nj.neg_squared_error(jnp.zeros((2, 3, 4)), jnp.zeros(3))
    with pytest.raises(ValueError, match=r"inputs must have shape \(B, 8\)"):
        task.population_logits(g, y[:, :5])


def test_nne_on_the_linear_task_lowers_the_theorys_expected_loss():
    task, a, y = _linear_problem()
    nne = nj.NNE(num_genes=40, pop_size=200, eps=0.5, p_min=0.01, p_max=0.99)
    state = nne.init(jax.random.PRNGKey(6), jnp.full(40, 0.5))
    step = nj.make_generation(nne, task, nj.neg_squared_error)
    before = float(linear.expected_loss(state.allele_freqs, task.weight_matrix, a))
    for t in range(40):
        state, _ = step(state, jax.random.PRNGKey(100 + t), (y, y @ a))
    after = float(linear.expected_loss(state.allele_freqs, task.weight_matrix, a))
    assert after < 0.5 * before, (before, after)
