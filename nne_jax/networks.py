"""Networks as pure forward functions of ``(weights, inputs)``.

* The linear model of Section 2.1: output ``xᵀ Wᵀ y = weights · y``.
* The one-hidden-layer net of Section 3.1: ``d`` inputs → ``h`` ReLU units through a fixed random
  input mask of density 0.1 → ``C`` softmax outputs (we return logits; no biases, as in the paper).

Weights of the masked net live in a unit-major *slot layout* of length ``S = h·(K + C)``: hidden
unit ``j`` owns slots ``j·(K+C) … (j+1)·(K+C) − 1``, first its ``K`` incoming links (``K`` = most
incoming links of any unit, rounded up to a multiple of 8; a unit with fewer links has padding
slots that read a constant-zero input), then its ``C`` outgoing links. So ``weights.reshape(h,
K + C)`` splits into ``[:, :K]`` (input→hidden) and ``[:, K:]`` (hidden→output). The paper's ``m``
links are the active slots (``arch.active``). This layout makes the population forward pass a
batched matmul over ``≈ density`` of the dense flops, and makes any block of hidden units a
contiguous block of rows of the weight-generation matrix.
"""
from __future__ import annotations

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from nne_jax.weights import _numpy_rng

Array = jax.Array

__all__ = [
    "MaskedMLP",
    "masked_mlp",
    "linear_forward",
    "mlp_forward",
    "mlp_forward_population",
    "split_slots",
    "k_cap",
    "sample_in_idx",
    "dense_params",
    "dense_forward",
    "check_logit_scale",
]


@flax.struct.dataclass
class MaskedMLP:
    """Architecture of the masked one-hidden-layer net (static structure, no weights).

    Attributes:
      in_idx: ``(h, K)`` int32, the input feature read by each first-layer slot; padding slots
        read index ``num_inputs``, a constant-zero feature appended to the inputs.
      num_inputs, num_hidden, num_classes: ``d``, ``h``, ``C`` (static).
      k_cap: if set, only the ``k_cap`` largest hidden activations of each example fire (static).
    """

    in_idx: Array
    num_inputs: int = flax.struct.field(pytree_node=False)
    num_hidden: int = flax.struct.field(pytree_node=False)
    num_classes: int = flax.struct.field(pytree_node=False)
    k_cap: int | None = flax.struct.field(pytree_node=False, default=None)

    @property
    def slots_per_unit(self) -> int:
        return self.in_idx.shape[1]

    @property
    def slots_per_row(self) -> int:
        """``K + C``: slots owned by one hidden unit."""
        return self.slots_per_unit + self.num_classes

    @property
    def num_slots(self) -> int:
        return self.num_hidden * self.slots_per_row

    @property
    def active(self) -> np.ndarray:
        """``(S,)`` bool: which slots are real links (the paper's ``m`` links)."""
        first = np.asarray(self.in_idx) < self.num_inputs
        return np.concatenate([first, np.ones((self.num_hidden, self.num_classes), bool)], axis=1).ravel()

    @property
    def num_links(self) -> int:
        return int(self.active.sum())

    def input_mask(self) -> np.ndarray:
        """``(d, h)`` bool: the fixed random input→hidden connectivity."""
        mask = np.zeros((self.num_inputs + 1, self.num_hidden), bool)
        idx = np.asarray(self.in_idx)
        mask[idx, np.arange(self.num_hidden)[:, None]] = True
        return mask[: self.num_inputs]


def masked_mlp(
    key: Array,
    num_inputs: int = 784,
    num_hidden: int = 1000,
    num_classes: int = 10,
    density: float = 0.1,
    k_cap: int | None = None,
    pad_to: int = 8,
) -> MaskedMLP:
    """Samples the fixed random input mask (each input→hidden edge present w.p. ``density``)."""
    if not 0.0 < density <= 1.0:
        raise ValueError(f"density must be in (0, 1], got {density}")
    if min(num_inputs, num_hidden, num_classes) < 1:
        raise ValueError("num_inputs, num_hidden and num_classes must all be >= 1")
    if k_cap is not None and not 1 <= k_cap <= num_hidden:
        raise ValueError(f"k_cap must be in [1, num_hidden={num_hidden}], got {k_cap}")
    in_idx = sample_in_idx(_numpy_rng(key), num_hidden, num_inputs, density, pad_to)
    return MaskedMLP(jnp.asarray(in_idx), num_inputs, num_hidden, num_classes, k_cap)


def sample_in_idx(rng: np.random.Generator, fan_out: int, fan_in: int, density: float, pad_to: int = 8) -> np.ndarray:
    """A fixed random mask as incoming-link lists: ``(fan_out, K)`` int32 (host-side).

    Each of the ``fan_out × fan_in`` edges is present w.p. ``density``; row ``j`` lists unit ``j``'s
    inputs in order, padded with ``fan_in`` (a constant-zero feature) up to ``K`` = the largest
    fan-in rounded up to a multiple of ``pad_to``.
    """
    mask = rng.random((fan_out, fan_in)) < density
    counts = mask.sum(axis=1)
    k = -(-max(int(counts.max()), 1) // pad_to) * pad_to
    order = np.argsort(~mask, axis=1, kind="stable")[:, :k]  # each row's inputs first, in order
    order = np.pad(order, ((0, 0), (0, k - order.shape[1])))  # only when k > fan_in
    return np.where(np.arange(k)[None, :] >= counts[:, None], fan_in, order).astype(np.int32)


def linear_forward(weights: Array, inputs: Array) -> Array:
    """Linear network of Section 2.1: ``(m,), (B, m) -> (B,)``; output ``weights · y``."""
    return inputs @ weights


def k_cap(hidden: Array, k: int | None, axis: int = -1) -> Array:
    """Keeps exactly the ``k`` largest activations along ``axis`` (others → 0); ``k=None``: no cap.

    Ties are broken by ``lax.top_k`` (lower index first), so exactly ``k`` positions survive (some
    may hold 0 if fewer than ``k`` are positive). The assembly-calculus "k-cap".
    """
    if k is None:
        return hidden
    if not 1 <= k <= hidden.shape[axis]:
        raise ValueError(f"k must be in [1, {hidden.shape[axis]}], got {k}")
    moved = jnp.moveaxis(hidden, axis, -1)
    _, idx = jax.lax.top_k(moved, k)
    keep = jnp.put_along_axis(jnp.zeros(moved.shape, bool), idx, True, axis=-1, inplace=False)
    return jnp.moveaxis(jnp.where(keep, moved, 0.0), -1, axis)


def _gather_inputs(arch: MaskedMLP, inputs: Array) -> Array:
    """``(B, d) -> (B, h, K)``: the input read by each first-layer slot (0 for padding)."""
    if inputs.ndim != 2 or inputs.shape[1] != arch.num_inputs:
        raise ValueError(f"inputs must have shape (B, {arch.num_inputs}), got {inputs.shape}")
    padded = jnp.pad(inputs.astype(jnp.float32), ((0, 0), (0, 1)))
    return padded[:, arch.in_idx]


def _inputs_by_feature(arch: MaskedMLP, inputs: Array) -> Array:
    """``(B, d) -> (d + 1, B)``: the inputs one feature per row, plus the constant-zero feature ``d``.

    Indexing it with ``in_idx`` gathers whole contiguous rows (much cheaper than
    :func:`_gather_inputs`' element gather): ``[in_idx]`` is ``(..., K, B)``.
    """
    if inputs.ndim != 2 or inputs.shape[1] != arch.num_inputs:
        raise ValueError(f"inputs must have shape (B, {arch.num_inputs}), got {inputs.shape}")
    return jnp.pad(inputs.astype(jnp.float32), ((0, 0), (0, 1))).T


def split_slots(arch: MaskedMLP, weights: Array) -> tuple[Array, Array]:
    """Slot-layout weights ``(S, ...)`` → ``(h, K, ...)`` incoming and ``(h, C, ...)`` outgoing."""
    w = weights.reshape(arch.num_hidden, arch.slots_per_row, *weights.shape[1:])
    return w[:, : arch.slots_per_unit], w[:, arch.slots_per_unit :]


def check_logit_scale(logit_scale: float) -> None:
    """Raises ``ValueError`` unless ``logit_scale`` (a network's output scale) is a finite number > 0."""
    if isinstance(logit_scale, bool) or not isinstance(logit_scale, (int, float)) or not 0 < logit_scale < float("inf"):
        raise ValueError(f"logit_scale must be a finite number > 0, got {logit_scale!r}")


def mlp_forward(arch: MaskedMLP, weights: Array, inputs: Array) -> Array:
    """One network: weights ``(S,)`` in slot layout, inputs ``(B, d)`` → logits ``(B, C)``.

    Computed through the dense masked layers (one scatter of the slots, two matmuls): for a single
    network that is cheaper than gathering ``B·h·K`` inputs slot by slot.
    """
    return dense_forward(*dense_params(arch, weights), inputs, arch.k_cap)


def mlp_forward_population(arch: MaskedMLP, weights_t: Array, inputs: Array) -> Array:
    """All networks at once: weights ``(S, N)`` (one column per genotype), inputs ``(B, d)``.

    The first layer is a batched matmul over hidden units: for each unit ``j``,
    ``(B, K) @ (K, N)``; that is ``2·B·h·K·N`` flops instead of ``2·B·d·h·N`` for dense masked
    weights. Returns logits ``(N, B, C)``.
    """
    w1, w2 = split_slots(arch, weights_t)  # (h, K, N), (h, C, N)
    xg = _inputs_by_feature(arch, inputs)[arch.in_idx]  # (h, K, B): whole rows
    hidden = jax.nn.relu(jnp.einsum("jkb,jkg->jbg", xg, w1))  # (h, B, N)
    hidden = k_cap(hidden, arch.k_cap, axis=0)
    return jnp.einsum("jbg,jcg->gbc", hidden, w2)


def dense_params(arch: MaskedMLP, weights: Array) -> tuple[Array, Array]:
    """Slot-layout weights ``(S,)`` → dense ``W1 (d, h)`` (zero off the mask) and ``W2 (h, C)``."""
    h, k = arch.num_hidden, arch.slots_per_unit
    w1, w2 = split_slots(arch, weights)
    rows = jnp.broadcast_to(jnp.arange(h)[:, None], (h, k))
    dense1 = jnp.zeros((arch.num_inputs + 1, h), weights.dtype).at[arch.in_idx, rows].add(w1)
    return dense1[: arch.num_inputs], w2


def dense_forward(w1: Array, w2: Array, inputs: Array, cap: int | None = None) -> Array:
    """Dense form of the same net: ``(d, h), (h, C), (B, d) -> (B, C)`` logits; ``cap``: k-cap."""
    return k_cap(jax.nn.relu(inputs @ w1), cap, axis=1) @ w2
