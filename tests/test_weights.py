"""Weight generation: sparse storage, density β, sparse vs dense agreement, determinism."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nne_jax import dense_matrix, generate_weights, generate_weights_t, weight_generation


def test_density_values_and_sparse_storage():
    m, n, beta = 3000, 400, 0.01
    wg = weight_generation(jax.random.PRNGKey(0), m, n, beta)
    expected = m * n * beta
    assert abs(wg.nnz - expected) < 4 * np.sqrt(expected)  # Binomial(m n, β) within 4 sd
    assert wg.data.shape == (wg.nnz,) and wg.indices.shape == (wg.nnz,) and wg.indptr.shape == (m + 1,)
    vals = np.asarray(wg.data)
    assert vals.min() >= -1 and vals.max() <= 1 and np.all(vals != 0)
    assert abs(vals.mean()) < 0.05 and abs(vals.var() - 1 / 3) < 0.02  # U[-1, 1]
    dense = np.asarray(dense_matrix(wg))
    assert dense.shape == (m, n) and np.count_nonzero(dense) == wg.nnz
    # columns are spread over all genes, rows over all links
    assert np.count_nonzero(dense.any(0)) > 0.95 * n * (1 - (1 - beta) ** m)


def test_sparse_matches_dense_and_inactive_rows_are_empty():
    active = np.zeros(500, bool)
    active[::3] = True
    wg = weight_generation(jax.random.PRNGKey(1), 500, 300, 0.05, active_rows=active)
    dense = np.asarray(dense_matrix(wg))
    assert not dense[~active].any()
    x = np.asarray(jax.random.bernoulli(jax.random.PRNGKey(2), 0.4, (17, 300)), np.float32)
    np.testing.assert_allclose(np.asarray(generate_weights(wg, jnp.asarray(x))), x @ dense.T, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(generate_weights_t(wg, jnp.asarray(x.T))), dense @ x.T, rtol=1e-5, atol=1e-5)
    p = np.linspace(0, 1, 300).astype(np.float32)
    np.testing.assert_allclose(np.asarray(generate_weights(wg, jnp.asarray(p))), dense @ p, rtol=1e-5, atol=1e-5)


def test_same_key_same_matrix_different_key_different():
    a = weight_generation(jax.random.PRNGKey(5), 200, 100, 0.1)
    b = weight_generation(jax.random.PRNGKey(5), 200, 100, 0.1)
    c = weight_generation(jax.random.PRNGKey(6), 200, 100, 0.1)
    for u, v in zip((a.data, a.indices, a.indptr), (b.data, b.indices, b.indptr)):
        np.testing.assert_array_equal(np.asarray(u), np.asarray(v))
    assert not np.array_equal(np.asarray(dense_matrix(a)), np.asarray(dense_matrix(c)))


@pytest.mark.parametrize("beta", [0.0, -0.1, 1.5])
def test_invalid_beta(beta):
    with pytest.raises(ValueError, match="beta must be in"):
        weight_generation(jax.random.PRNGKey(0), 10, 10, beta)


def test_gene_count_mismatch():
    wg = weight_generation(jax.random.PRNGKey(0), 10, 20, 0.5)
    with pytest.raises(ValueError, match="genes"):
        generate_weights(wg, jnp.ones((3, 21)))


def test_every_entry_point_rejects_an_unknown_gene_map_by_name():
    import nne_jax as nj
    from nne_jax.config import PRESETS, ConfigError, with_fields
    from nne_jax.population import population_logits
    from nne_jax.weights import check_gene_map

    assert check_gene_map("tanh") == "tanh"
    for bad in ("sigmoid", None, 3):
        with pytest.raises(ValueError, match="unknown gene_map .*choose from \\['identity', 'relu', 'tanh'\\]"):
            check_gene_map(bad)
    with pytest.raises(ValueError, match="unknown gene_map 'sigmoid'"):
        nj.mlp_task(jax.random.PRNGKey(0), 30, num_inputs=8, num_hidden=4, num_classes=3, gene_map="sigmoid")
    task = nj.mlp_task(jax.random.PRNGKey(0), 30, num_inputs=8, num_hidden=4, num_classes=3)
    with pytest.raises(ValueError, match="unknown gene_map 'sigmoid'"):
        population_logits(task.arch, task.wg, jnp.ones((2, 30), jnp.int8), jnp.ones((5, 8)), "dense", gene_map="sigmoid")
    with pytest.raises(ConfigError, match="unknown gene_map 'sigmoid'"):
        with_fields(PRESETS["smoke"], gene_map="sigmoid")
