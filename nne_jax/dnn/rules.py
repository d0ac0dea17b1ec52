"""Dopamine-gated plasticity rules for the hidden→output links of a DNN (Section 3.2).

Every rule here is a *three-factor* rule that factorises as an outer product::

    Δw_ij = pre(h)_i · post(z, ℓ(y), L)_j

* ``pre`` — the presynaptic factor: did hidden neuron ``i`` fire?  Default ``"fired"``:
  ``1[h_i > 0]``; ``"rate"`` uses ``h_i`` itself. It depends on the example only.
* ``post`` — the *rule*: which output neurons ``j`` fired, times the (global) dopamine signal,
  times ``ε1``. It sees the softmax output ``z (C,)``, the one-hot label ``ℓ (C,)`` and the
  cross-entropy ``L = -log z_y``.

With ``e_j = z_j - ℓ_j``, ``ε0 = 0.75``, ``ε1 = 1`` the three readings of the paper are

* ``formula`` (the displayed equation): ``ε1 · 1[e_j² < 1/4] · 1[L > ε0]``,
* ``prose`` ("if the DNN got the prediction correct, i.e. the loss is at most ε0 ..."):
  ``ε1 · 1[e_j² < 1/4] · 1[L ≤ ε0]``,
* ``signed`` (the introduction, "modified by a multiple of (1/4 − err²)"): ``ε1 · (1/4 − e_j²)``,

each with a choice of which output neurons "fired" (the suffix of the registry name):

* no suffix — every output ``j`` fired (softmax units are always active);
* ``-argmax`` — only the predicted class ``argmax_j z_j`` fired (winner-take-all);
* ``-threshold`` — every ``j`` with ``z_j > τ`` fired (``τ = RuleParams.threshold``).

``punish`` is ``formula`` with the sign flipped (the introduction's "punished if it was not
[good]" applied to the displayed gate ``L > ε0``): ``−ε1 · 1[e_j² < 1/4] · 1[L > ε0]``.

``perceptron`` — **ours, not the paper's** ("DNN (our perceptron-like reading)"): ``signed-argmax``
plus, on a mistake, the label's links are raised by ``ε1 · (e_y² − 1/4) > 0`` (the teacher makes the
label neuron fire and the dopamine sign flips). The introduction's per-minibatch reading is in
:mod:`nne_jax.dnn.minibatch`.

A change that is the same for every ``j`` shifts all logits equally and leaves the softmax
unchanged: ``prose`` (all ``j``) is such a no-op whenever ``z_y > 1/2``
(then every ``e_j² < 1/4``), i.e. on every example where it updates at all, except in the
sliver ``e^{-ε0} ≤ z_y ≤ 1/2``.

Rules are plain pure functions ``(z, onehot, loss, params) -> post (C,)`` in the
:data:`RULES` registry; add your own with :func:`register_rule`.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

Array = jax.Array

__all__ = [
    "PRESYNAPTIC",
    "RULES",
    "PostRule",
    "RuleParams",
    "get_presynaptic",
    "get_rule",
    "register_rule",
    "rule_update",
]


class RuleParams(NamedTuple):
    """Hyper-parameters shared by the rules (scalars; may be traced).

    Attributes:
      eps0: loss threshold ``ε0`` (paper: 0.75).
      eps1: learning rate ``ε1`` (paper: 1).
      threshold: ``τ`` for the ``-threshold`` variants (output ``j`` fired iff ``z_j > τ``).
    """

    eps0: float = 0.75
    eps1: float = 1.0
    threshold: float = 0.5


#: ``post(z (C,), onehot (C,), loss (), params) -> (C,)`` — the postsynaptic × dopamine factor.
PostRule = Callable[[Array, Array, Array, RuleParams], Array]


# ---------------------------------------------------------------- which output neurons fired
def _all(z: Array, params: RuleParams) -> Array:
    return jnp.ones_like(z)


def _argmax(z: Array, params: RuleParams) -> Array:
    return jax.nn.one_hot(jnp.argmax(z), z.shape[-1], dtype=z.dtype)


def _threshold(z: Array, params: RuleParams) -> Array:
    return (z > params.threshold).astype(z.dtype)


_FIRED: dict[str, Callable[[Array, RuleParams], Array]] = {"": _all, "-argmax": _argmax, "-threshold": _threshold}


# ---------------------------------------------------------------- dopamine modulations
def _formula(z: Array, onehot: Array, loss: Array, params: RuleParams) -> Array:
    e2 = (z - onehot) ** 2
    return params.eps1 * (e2 < 0.25).astype(z.dtype) * (loss > params.eps0).astype(z.dtype)


def _prose(z: Array, onehot: Array, loss: Array, params: RuleParams) -> Array:
    e2 = (z - onehot) ** 2
    return params.eps1 * (e2 < 0.25).astype(z.dtype) * (loss <= params.eps0).astype(z.dtype)


def _signed(z: Array, onehot: Array, loss: Array, params: RuleParams) -> Array:
    return params.eps1 * (0.25 - (z - onehot) ** 2)


def _punish(z: Array, onehot: Array, loss: Array, params: RuleParams) -> Array:
    return -_formula(z, onehot, loss, params)


def _gated(modulation: PostRule, fired: Callable[[Array, RuleParams], Array]) -> PostRule:
    def rule(z: Array, onehot: Array, loss: Array, params: RuleParams) -> Array:
        return modulation(z, onehot, loss, params) * fired(z, params)

    rule.__doc__ = f"{modulation.__name__.strip('_')} × {fired.__name__.strip('_')}-outputs-fired"
    return rule


def _perceptron(z: Array, onehot: Array, loss: Array, params: RuleParams) -> Array:
    """``signed-argmax``; on a mistake also ``+ε1 (e_y² − 1/4)`` on the label ``y``."""
    pred = _argmax(z, params)
    mistake = 1.0 - jnp.sum(pred * onehot)
    e2 = (z - onehot) ** 2
    return params.eps1 * ((0.25 - e2) * pred + mistake * (e2 - 0.25) * onehot)


#: name -> rule. Built-ins: ``{formula, prose, signed, punish}{, -argmax, -threshold}`` and ``perceptron``.
RULES: dict[str, PostRule] = {
    base + suffix: _gated(mod, fired)
    for base, mod in (("formula", _formula), ("prose", _prose), ("signed", _signed), ("punish", _punish))
    for suffix, fired in _FIRED.items()
}
RULES["perceptron"] = _perceptron


def _fired_pre(h: Array) -> Array:
    return (h > 0).astype(h.dtype)


def _rate_pre(h: Array) -> Array:
    return h


#: Presynaptic factors (elementwise, with ``pre(0) = 0`` so sparse k-cap features stay exact).
PRESYNAPTIC: dict[str, Callable[[Array], Array]] = {"fired": _fired_pre, "rate": _rate_pre}


def register_rule(name: str, rule: PostRule, *, overwrite: bool = False) -> None:
    """Adds ``rule`` to :data:`RULES` under ``name``.

    Raises:
      ValueError: ``name`` already registered (and not ``overwrite``) or ``rule`` not callable.
    """
    if not callable(rule):
        raise ValueError(f"rule must be callable (z, onehot, loss, params) -> (C,), got {type(rule)}")
    if name in RULES and not overwrite:
        raise ValueError(f"rule {name!r} is already registered; pass overwrite=True to replace it")
    RULES[name] = rule


def get_rule(name: str | PostRule) -> PostRule:
    """The rule registered as ``name`` (a callable is returned unchanged).

    Raises:
      ValueError: unknown name (the message lists the known ones).
    """
    if callable(name):
        return name
    if name not in RULES:
        raise ValueError(f"unknown plasticity rule {name!r}; known: {sorted(RULES)}")
    return RULES[name]


def get_presynaptic(name: str) -> Callable[[Array], Array]:
    """The presynaptic factor ``"fired"`` (``1[h_i > 0]``) or ``"rate"`` (``h_i``).

    Raises:
      ValueError: unknown name.
    """
    if name not in PRESYNAPTIC:
        raise ValueError(f"unknown presynaptic factor {name!r}; known: {sorted(PRESYNAPTIC)}")
    return PRESYNAPTIC[name]


def rule_update(
    rule: str | PostRule,
    h: Array,
    logits: Array,
    label: Array,
    params: RuleParams = RuleParams(),
    pre: str = "fired",
) -> Array:
    """The full weight change ``Δw (H, C)`` for one example (reference / testing helper).

    Args:
      rule: registry name or rule function.
      h: ``(H,)`` hidden activations of the example.
      logits: ``(C,)`` output pre-activations; ``z = softmax(logits)``.
      label: scalar int class.
      params: :class:`RuleParams`.
      pre: presynaptic factor name.

    Returns:
      ``(H, C)`` array ``pre(h)_i · post_j``.
    """
    h = jnp.asarray(h)
    logits = jnp.asarray(logits)
    if h.ndim != 1 or logits.ndim != 1:
        raise ValueError(f"h must be (H,) and logits (C,), got {h.shape} and {logits.shape}")
    onehot = jax.nn.one_hot(label, logits.shape[0], dtype=logits.dtype)
    z = jax.nn.softmax(logits)
    loss = -jax.nn.log_softmax(logits)[label]
    post = get_rule(rule)(z, onehot, loss, params)
    return get_presynaptic(pre)(h)[:, None] * post[None, :]
