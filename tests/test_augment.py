"""augment_shift (ours): minibatch images shifted by up to k pixels — known values, invariants, plumbing, errors."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nne_jax import NNE
from nne_jax.config import PRESETS, ConfigError, apply_overrides
from nne_jax.data.augment import random_shift
from nne_jax.generation import _sample_batch, distinct_indices, mlp_task
from nne_jax.run import make_run


def _reference_shift(images: np.ndarray, shifts: np.ndarray, side: int) -> np.ndarray:
    """A plain NumPy translation with zero fill: out[r, c] = in[r - dy, c - dx]."""
    out = np.zeros_like(images).reshape(-1, side, side)
    for b, (dy, dx) in enumerate(shifts):
        img = images[b].reshape(side, side)
        for r in range(side):
            for c in range(side):
                if 0 <= r - dy < side and 0 <= c - dx < side:
                    out[b, r, c] = img[r - dy, c - dx]
    return out.reshape(images.shape)


def test_random_shift_matches_a_numpy_translation_with_zero_fill():
    key = jax.random.PRNGKey(3)
    images = np.asarray(jax.random.uniform(jax.random.PRNGKey(0), (16, 36)), np.float32)
    out = np.asarray(random_shift(key, jnp.asarray(images), 2))
    shifts = np.asarray(jax.random.randint(key, (16, 2), -2, 3))  # the shifts random_shift draws from this key
    assert {tuple(s) for s in shifts} != {(0, 0)} and np.abs(shifts).max() <= 2
    np.testing.assert_array_equal(out, _reference_shift(images, shifts, 6))


def test_a_single_pixel_moves_by_at_most_k_and_keeps_its_value():
    image = np.zeros((200, 28 * 28), np.float32)
    image[:, 14 * 28 + 14] = 0.7
    out = np.asarray(random_shift(jax.random.PRNGKey(1), jnp.asarray(image), 1)).reshape(200, 28, 28)
    rows, cols = np.nonzero(out)[1:]
    assert out.sum(axis=(1, 2)).tolist() == pytest.approx([0.7] * 200)  # one pixel each, never lost in the middle
    assert set(zip(rows.tolist(), cols.tolist())) == {(14 + a, 14 + b) for a in (-1, 0, 1) for b in (-1, 0, 1)}


def test_zero_shift_is_the_identity_and_bad_shifts_are_named():
    x = jnp.arange(2 * 784, dtype=jnp.float32).reshape(2, 784)
    assert random_shift(jax.random.PRNGKey(0), x, 0) is x
    with pytest.raises(ValueError, match="square images"):
        random_shift(jax.random.PRNGKey(0), jnp.zeros((2, 10)), 1)
    with pytest.raises(ValueError, match="below the image side 28"):
        random_shift(jax.random.PRNGKey(0), x, 28)
    with pytest.raises(ValueError, match="int >= 0"):
        random_shift(jax.random.PRNGKey(0), x, -1)
    with pytest.raises(ConfigError, match="augment_shift must be an int >= 0"):
        apply_overrides(PRESETS["fast"], ["augment_shift=-2"])


def test_sample_batch_without_shift_is_the_old_stream_and_with_shift_shifts_the_same_examples():
    key = jax.random.PRNGKey(5)
    inputs = jax.random.uniform(jax.random.PRNGKey(0), (50, 784))
    labels = jnp.arange(50) % 10
    idx = distinct_indices(key, 50, 8)
    plain = _sample_batch(key, inputs, labels, 8)
    np.testing.assert_array_equal(plain[0], inputs[idx])
    np.testing.assert_array_equal(plain[1], labels[idx])
    shifted = _sample_batch(key, inputs, labels, 8, 1)
    np.testing.assert_array_equal(shifted[1], labels[idx])
    np.testing.assert_array_equal(shifted[0], random_shift(jax.random.fold_in(key, 1), inputs[idx], 1))
    assert not np.array_equal(shifted[0], plain[0])


def test_presets_and_checkpoint_identity():
    assert PRESETS["wide-adam-shift"].augment_shift == 1
    assert PRESETS["wide-adam-shift"].identity()["augment_shift"] == 1
    assert "augment_shift" not in PRESETS["wide-adam"].identity()  # checkpoints written before the field still resume
    assert all(PRESETS[name].augment_shift == 0 for name in ("faithful", "fast", "wide-adam"))


def test_make_run_shifts_a_network_tasks_minibatch_and_refuses_a_fitness_function():
    nne = NNE(num_genes=64, pop_size=8, eps=1.0, fitness_shaping="standardize", update_rule="multiplicative_weights")
    task = mlp_task(jax.random.PRNGKey(0), num_genes=64, beta=0.05, num_inputs=784, num_hidden=8, num_classes=3)
    x = jax.random.uniform(jax.random.PRNGKey(1), (30, 784))
    y = jnp.arange(30) % 3
    key, params = jax.random.PRNGKey(2), nne.default_params
    plain, _ = make_run(nne, task, 3, data=(x, y), batch_size=10)(key, params)
    same, _ = make_run(nne, task, 3, data=(x, y), batch_size=10, augment_shift=0)(key, params)
    shifted, _ = make_run(nne, task, 3, data=(x, y), batch_size=10, augment_shift=2)(key, params)
    np.testing.assert_array_equal(plain.allele_freqs, same.allele_freqs)
    assert not np.array_equal(plain.allele_freqs, shifted.allele_freqs)
    with pytest.raises(ValueError, match="network task's minibatch"):
        make_run(nne, lambda k, g: jnp.zeros(g.shape[0]), 3, augment_shift=1)
