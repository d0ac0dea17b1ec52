"""Gradient-trained references on the same masked network (optax; whole runs as ``lax.scan``).

* :func:`train_masked_mlp` — the paper's "SGD" row of Table 1: the masked 784 → h → C net
  trained end to end (Adam by default) on the same small training set.
* :func:`train_readout_signsgd` — "NNE + SignSGD": only the output layer, updated by the sign of
  its minibatch gradient, equation (4): ``w_ij ← w_ij − ε' sign(Σ_b (z_j − ℓ_j) h_i)``.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

from nne_jax.fitness import cross_entropy

Array = jax.Array

__all__ = ["train_masked_mlp", "train_readout_signsgd", "masked_mlp_logits", "batch_indices"]


def masked_mlp_logits(params: tuple[Array, Array], mask: Array, inputs: Array) -> Array:
    """``params = (W1 (d, h), W2 (h, C))``, ``mask (d, h)``, inputs ``(B, d)`` → logits ``(B, C)``."""
    w1, w2 = params
    return jax.nn.relu(inputs @ (w1 * mask)) @ w2


def batch_indices(key: Array, num_examples: int, steps: int, batch_size: int) -> Array:
    """``(steps, batch_size)`` example indices: shuffled epochs, each example once per epoch."""
    per_epoch = max(num_examples // batch_size, 1)
    epochs = -(-steps // per_epoch)
    perms = jax.vmap(lambda k: jax.random.permutation(k, num_examples))(jax.random.split(key, epochs))
    return perms[:, : per_epoch * batch_size].reshape(epochs * per_epoch, batch_size)[:steps]


def train_masked_mlp(
    key: Array,
    mask: Array,
    num_classes: int,
    inputs: Array,
    labels: Array,
    steps: int = 4000,
    batch_size: int = 50,
    optimizer: optax.GradientTransformation | None = None,
) -> tuple[Array, Array]:
    """Trains the masked net by backprop. Init: Kaiming-uniform over each unit's fan-in.

    Args:
      mask: ``(d, h)`` bool input mask; inputs ``(M, d)``; labels ``(M,)`` ints.
    Returns:
      ``(W1 (d, h) masked, W2 (h, C))``.
    """
    d, h = mask.shape
    mask = jnp.asarray(mask, jnp.float32)
    k1, k2, k3 = jax.random.split(key, 3)
    fan_in = jnp.maximum(mask.sum(0, keepdims=True), 1.0)
    w1 = jax.random.uniform(k1, (d, h), minval=-1.0, maxval=1.0) * jnp.sqrt(6.0 / fan_in) * mask
    w2 = jax.random.uniform(k2, (h, num_classes), minval=-1.0, maxval=1.0) * np.sqrt(6.0 / h)
    opt = optimizer or optax.adam(1e-3)
    params = (w1, w2)
    idx = batch_indices(k3, inputs.shape[0], steps, batch_size)

    def loss(p: tuple[Array, Array], x: Array, y: Array) -> Array:
        return jnp.mean(cross_entropy(masked_mlp_logits(p, mask, x), y))

    def step(carry, batch_idx):
        p, s = carry
        grads = jax.grad(loss)(p, inputs[batch_idx], labels[batch_idx])
        updates, s = opt.update(grads, s, p)
        return (optax.apply_updates(p, updates), s), None

    (params, _), _ = jax.lax.scan(step, (params, opt.init(params)), idx)
    return params[0] * mask, params[1]


def train_readout_signsgd(
    key: Array, w1: Array, w2: Array, inputs: Array, labels: Array, learning_rate: float, steps: int, batch_size: int = 50,
    logit_scale: float = 1.0,
) -> Array:
    """Equation (4) on the output layer only; ``W1 (d, h)`` stays fixed. Returns the new ``W2 (h, C)``.

    ``logit_scale``: the network's output scale (logits ``s · h W2``, see ``MLPTask.logit_scale``).

    Each step moves every output weight by exactly ``±learning_rate`` or 0 (sign of the minibatch
    gradient of the mean cross-entropy, whose ``(i, j)`` entry is ``mean_b (z_j − ℓ_j) h_i``).
    """
    hidden = jax.nn.relu(inputs @ w1)  # frozen features, computed once
    idx = batch_indices(key, inputs.shape[0], steps, batch_size)
    opt = optax.sign_sgd(learning_rate)

    def step(carry, batch_idx):
        w, s = carry
        grads = jax.grad(lambda v: jnp.mean(cross_entropy(logit_scale * (hidden[batch_idx] @ v), labels[batch_idx])))(w)
        updates, s = opt.update(grads, s, w)
        return (optax.apply_updates(w, updates), s), None

    (w2, _), _ = jax.lax.scan(step, (w2, opt.init(w2)), idx)
    return w2
