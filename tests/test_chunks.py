"""nne_jax.chunks.map_in_chunks: the one chunked map of the library."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nne_jax.chunks import map_in_chunks


def _fn(c):
    x, y = c
    return {"dot": x @ jnp.arange(3.0), "hit": (x[:, 0] > 0) == (y == 1)}


@pytest.mark.parametrize("chunk", [1, 3, 4, 7, 10, None])
def test_chunked_equals_one_call_for_every_chunk_size(chunk):
    x = jax.random.normal(jax.random.PRNGKey(0), (7, 3))
    y = jnp.array([1, 0, 1, 1, 0, 0, 1])
    want, got = _fn((x, y)), map_in_chunks(_fn, (x, y), chunk)
    assert got["dot"].shape == (7,) and got["hit"].dtype == jnp.bool_
    np.testing.assert_array_equal(got["hit"], want["hit"])
    np.testing.assert_allclose(got["dot"], want["dot"], rtol=1e-6)


def test_padding_rows_never_reach_the_output():
    ones = jnp.ones((5, 2))
    out = map_in_chunks(lambda x: x.sum(1) + 1.0, ones, 4)  # padded rows would give 1.0, real rows 3.0
    np.testing.assert_array_equal(out, jnp.full(5, 3.0))


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="chunk must be"):
        map_in_chunks(lambda x: x, jnp.ones((3, 2)), 0)
    with pytest.raises(ValueError, match="same leading size"):
        map_in_chunks(lambda c: c[0], (jnp.ones((3, 2)), jnp.ones(4)), 2)
