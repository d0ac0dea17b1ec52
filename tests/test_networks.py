"""Networks and population paths: the masked net against a dense reference; all paths agree."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nne_jax as nj
from nne_jax.population import PATHS


@pytest.fixture(scope="module")
def small_task():
    return nj.mlp_task(jax.random.PRNGKey(0), num_genes=200, beta=0.02, num_inputs=30, num_hidden=40, num_classes=5, density=0.2)


def test_mask_density_and_slot_layout(small_task):
    arch = small_task.arch
    mask = arch.input_mask()
    assert mask.shape == (30, 40)
    assert abs(mask.mean() - 0.2) < 0.05
    assert arch.num_links == mask.sum() + 40 * 5
    assert arch.num_slots == 40 * (arch.slots_per_unit + 5) and arch.slots_per_unit % 8 == 0
    big = nj.masked_mlp(jax.random.PRNGKey(1))  # the paper's 784 -> 1000 -> 10 at density 0.1
    assert abs(big.input_mask().mean() - 0.1) < 0.003


def test_slot_forward_equals_dense_forward(small_task):
    arch = small_task.arch
    w = jax.random.normal(jax.random.PRNGKey(2), (arch.num_slots,))
    w = jnp.where(jnp.asarray(arch.active), w, 0.0)
    x = jax.random.uniform(jax.random.PRNGKey(3), (7, 30))
    w1, w2 = nj.dense_params(arch, w)
    assert not np.asarray(w1)[~arch.input_mask()].any()  # zero off the mask
    ref = np.maximum(np.asarray(x) @ np.asarray(w1), 0) @ np.asarray(w2)
    np.testing.assert_allclose(np.asarray(nj.mlp_forward(arch, w, x)), ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(nj.dense_forward(w1, w2, x)), ref, rtol=1e-5, atol=1e-5)


def test_padding_slots_never_matter(small_task):
    arch = small_task.arch
    w = jax.random.normal(jax.random.PRNGKey(4), (arch.num_slots,))
    junk = jnp.where(jnp.asarray(arch.active), w, 123.0)
    x = jax.random.uniform(jax.random.PRNGKey(5), (4, 30))
    np.testing.assert_allclose(
        np.asarray(nj.mlp_forward(arch, w * jnp.asarray(arch.active), x)), np.asarray(nj.mlp_forward(arch, junk, x)), rtol=1e-6
    )


@pytest.mark.parametrize("path", sorted(PATHS))
@pytest.mark.parametrize("k_cap", [None, 7])
def test_all_paths_agree_with_reference(small_task, path, k_cap):
    task = small_task.replace(arch=small_task.arch.replace(k_cap=k_cap))
    g = jax.random.bernoulli(jax.random.PRNGKey(6), 0.5, (24, 200)).astype(jnp.float32)
    x = jax.random.uniform(jax.random.PRNGKey(7), (9, 30))
    dense = np.asarray(nj.dense_matrix(task.wg))
    w1 = [nj.dense_params(task.arch, jnp.asarray(dense @ np.asarray(gi))) for gi in g]
    ref = np.stack([np.asarray(nj.dense_forward(a, b, x, k_cap)) for a, b in w1])
    out = nj.population_logits(task.arch, task.wg, g, x, path=path, blocks=task.blocks)
    np.testing.assert_allclose(np.asarray(out), ref, rtol=1e-4, atol=1e-4)
    chunked = nj.population_logits(task.arch, task.wg, g, x, path=path, pop_chunk=7, blocks=task.blocks)  # 24 = 3*7 + 3: padded chunk
    np.testing.assert_allclose(np.asarray(chunked), ref, rtol=1e-4, atol=1e-4)


def test_k_cap_keeps_k_units(small_task):
    arch = small_task.arch.replace(k_cap=5)
    w = jax.random.normal(jax.random.PRNGKey(8), (arch.num_slots,))
    x = jax.random.uniform(jax.random.PRNGKey(9), (6, 30))
    w1, _ = nj.dense_params(arch, w)
    hidden = np.maximum(np.asarray(x) @ np.asarray(w1), 0)
    from nne_jax.networks import k_cap as _k_cap

    capped = np.asarray(_k_cap(jnp.asarray(hidden), 5, axis=1))
    assert np.all((capped > 0).sum(1) <= 5)
    for row, full in zip(capped, hidden):
        kept = np.sort(full)[-5:]
        np.testing.assert_allclose(np.sort(row)[-5:], kept)


def test_bad_shapes_raise(small_task):
    g = jnp.ones((4, 200))
    with pytest.raises(ValueError, match=r"inputs must have shape \(B, 30\)"):
        nj.population_logits(small_task.arch, small_task.wg, g, jnp.ones((3, 31)))
    with pytest.raises(ValueError, match="genotypes must have shape"):
        nj.population_logits(small_task.arch, small_task.wg, jnp.ones((4, 199)), jnp.ones((3, 30)))
    with pytest.raises(ValueError, match="unknown path"):
        nj.population_logits(small_task.arch, small_task.wg, g, jnp.ones((3, 30)), path="magic")
    with pytest.raises(ValueError, match="density"):
        nj.masked_mlp(jax.random.PRNGKey(0), density=0.0)


def test_linear_forward():
    w = jnp.array([1.0, -2.0, 0.5])
    y = jnp.array([[1.0, 1.0, 1.0], [0.0, 2.0, 4.0]])
    np.testing.assert_allclose(np.asarray(nj.linear_forward(w, y)), [-0.5, -2.0])


def test_delta_fitness_known_values():
    c = 10
    uniform = jnp.zeros((1, 3, c))  # uniform guess: L = log C -> delta 0
    assert float(nj.delta_fitness(uniform, jnp.array([0, 1, 2]))[0]) == pytest.approx(0.0, abs=1e-6)
    perfect = jnp.where(jnp.arange(c) == 3, 100.0, 0.0)[None, None, :]
    assert float(nj.delta_fitness(perfect, jnp.array([3]))[0]) == pytest.approx(np.log(c) ** 2, rel=1e-5)
    logits = jnp.log(jnp.array([[[0.5, 0.25, 0.25]], [[0.25, 0.5, 0.25]]]))
    expected = [np.log(3) ** 2 - np.log(2) ** 2, max(0.0, np.log(3) ** 2 - np.log(4) ** 2)]
    np.testing.assert_allclose(np.asarray(nj.delta_fitness(logits, jnp.array([0]))), expected, rtol=1e-5, atol=1e-7)
