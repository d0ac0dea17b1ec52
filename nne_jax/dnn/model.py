"""The DNN's network: a frozen random hidden layer (784 → h, ReLU, optional k-cap) and a readout.

Initialisation is PyTorch's ``nn.Linear`` default ("Kaiming uniform" with ``a = √5``): weights
*and* biases ``~ U(-1/√fan_in, 1/√fan_in)``; for the hidden layer ``fan_in = 784`` so the bound is
``1/28 ≈ 0.0357``, for the readout ``fan_in = h``. The hidden layer is never trained: training
functions only ever receive its *features*.

Features come in two layouts:

* dense ``(N, h)`` float32 (``hidden_features``);
* sparse k-cap ``(idx (N, k) int32, vals (N, k))`` (``sparse_features``): the ``k`` largest
  activations of each example — memory ``O(N k)`` instead of ``O(N h)``.
"""
from __future__ import annotations

import functools
import math

import flax.struct
import jax
import jax.numpy as jnp

from nne_jax.chunks import map_in_chunks
from nne_jax.networks import k_cap  # the one k-cap of the library (re-exported here for nne_jax.dnn)

Array = jax.Array

__all__ = [
    "HiddenLayer",
    "Readout",
    "hidden_features",
    "init_hidden",
    "init_readout",
    "k_cap",
    "readout_logits",
    "sparse_features",
    "sparse_from_dense",
    "sparse_logits",
    "torch_linear_bound",
]


@flax.struct.dataclass
class HiddenLayer:
    """Frozen input→hidden layer.

    Attributes:
      w: ``(d, h)`` weights. b: ``(h,)`` biases.
      k_cap: if set, only the ``k_cap`` largest activations of an example fire (static).
    """

    w: Array
    b: Array
    k_cap: int | None = flax.struct.field(pytree_node=False, default=None)

    @property
    def num_inputs(self) -> int:
        return self.w.shape[0]

    @property
    def num_hidden(self) -> int:
        return self.w.shape[1]


@flax.struct.dataclass
class Readout:
    """Hidden→output layer: ``w (h, C)``, ``b (C,)``; logits ``= h @ w + b``."""

    w: Array
    b: Array


def torch_linear_bound(fan_in: int) -> float:
    """``1/√fan_in``: the bound of PyTorch's default ``nn.Linear`` init (weights and biases)."""
    return 1.0 / math.sqrt(fan_in)


def _uniform_linear(key: Array, fan_in: int, fan_out: int) -> tuple[Array, Array]:
    if fan_in < 1 or fan_out < 1:
        raise ValueError(f"layer sizes must be >= 1, got fan_in={fan_in}, fan_out={fan_out}")
    bound = torch_linear_bound(fan_in)
    kw, kb = jax.random.split(key)
    w = jax.random.uniform(kw, (fan_in, fan_out), jnp.float32, -bound, bound)
    b = jax.random.uniform(kb, (fan_out,), jnp.float32, -bound, bound)
    return w, b


def init_hidden(key: Array, num_inputs: int = 784, num_hidden: int = 1000, k_cap: int | None = None) -> HiddenLayer:
    """Samples the frozen hidden layer, ``U(-1/√d, 1/√d)`` for ``w (d, h)`` and ``b (h,)``.

    Raises:
      ValueError: non-positive sizes or ``k_cap`` outside ``[1, num_hidden]``.
    """
    if k_cap is not None and not 1 <= k_cap <= num_hidden:
        raise ValueError(f"k_cap must be in [1, num_hidden={num_hidden}], got {k_cap}")
    w, b = _uniform_linear(key, num_inputs, num_hidden)
    return HiddenLayer(w, b, k_cap)


def init_readout(key: Array, num_hidden: int, num_classes: int = 10) -> Readout:
    """``U(-1/√h, 1/√h)`` for ``w (h, C)`` and ``b (C,)`` (PyTorch ``nn.Linear`` default)."""
    return Readout(*_uniform_linear(key, num_hidden, num_classes))


def _flatten_inputs(layer: HiddenLayer, x: Array) -> Array:
    x = jnp.asarray(x, jnp.float32)
    if x.ndim == 3:
        x = x.reshape(x.shape[0], -1)
    if x.ndim != 2 or x.shape[1] != layer.num_inputs:
        raise ValueError(f"inputs must be (N, {layer.num_inputs}) or (N, 28, 28), got shape {x.shape}")
    return x


@functools.partial(jax.jit, static_argnames=("chunk",))
def _dense_features(layer: HiddenLayer, x: Array, chunk: int) -> Array:
    return map_in_chunks(lambda xc: k_cap(jax.nn.relu(xc @ layer.w + layer.b), layer.k_cap), x, chunk)


@functools.partial(jax.jit, static_argnames=("chunk",))
def _sparse_features(layer: HiddenLayer, x: Array, chunk: int) -> tuple[Array, Array]:
    def fn(xc):
        vals, idx = jax.lax.top_k(jax.nn.relu(xc @ layer.w + layer.b), layer.k_cap)
        return idx.astype(jnp.int32), vals

    return map_in_chunks(fn, x, chunk)


def hidden_features(layer: HiddenLayer, x: Array, chunk: int = 256) -> Array:
    """Dense hidden activations ``relu(x w + b)`` (k-capped if ``layer.k_cap``).

    Args:
      layer: the frozen :class:`HiddenLayer`.
      x: ``(N, d)`` or ``(N, 28, 28)`` inputs.
      chunk: rows per ``lax.map`` step (bounds the temporary memory).

    Returns:
      ``(N, h)`` float32.
    """
    return _dense_features(layer, _flatten_inputs(layer, x), chunk)


def sparse_features(layer: HiddenLayer, x: Array, chunk: int = 256) -> tuple[Array, Array]:
    """The k-capped activations in sparse form: ``idx (N, k) int32`` and ``vals (N, k)``.

    Raises:
      ValueError: ``layer.k_cap`` is None, or bad input shape.
    """
    if layer.k_cap is None:
        raise ValueError("sparse_features needs a layer with k_cap set")
    return _sparse_features(layer, _flatten_inputs(layer, x), chunk)


def sparse_from_dense(feats: Array, k: int) -> tuple[Array, Array]:
    """The ``k`` largest entries of each row of dense features ``(N, h)`` as ``(idx, vals)``.

    ``sparse_from_dense(hidden_features(layer), k)`` equals ``sparse_features`` of the same layer
    with ``k_cap=k`` (without recomputing the matmul).
    """
    if not 1 <= k <= feats.shape[-1]:
        raise ValueError(f"k must be in [1, {feats.shape[-1]}], got {k}")
    vals, idx = jax.jit(jax.lax.top_k, static_argnums=1)(feats, k)
    return idx.astype(jnp.int32), vals


def readout_logits(readout: Readout, feats: Array) -> Array:
    """``(..., h) -> (..., C)`` logits ``feats @ w + b``."""
    return feats @ readout.w + readout.b


def sparse_logits(readout: Readout, idx: Array, vals: Array) -> Array:
    """Logits from sparse features: ``idx, vals (..., k) -> (..., C)``."""
    return jnp.einsum("...k,...kc->...c", vals, readout.w[idx]) + readout.b
