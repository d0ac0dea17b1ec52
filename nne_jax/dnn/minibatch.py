"""The introduction's DNN reading: one dopamine signal per *minibatch* (Section 1 of the paper).

The introduction says: "the weight of a link that fired (that is, both nodes fired during the
current minibatch) is modified by a multiple of ``(1/4 − err²)``, where err is the error of the
current minibatch". This module implements that reading; the per-example rules of
:mod:`nne_jax.dnn.rules` implement Section 3.2's displayed formula / prose instead.

For a minibatch of ``B`` examples with hidden activations ``H_b (B, h)`` and softmax outputs
``z_b (B, C)``::

    err      = (1/B) Σ_b 1[argmax z_b ≠ y_b]              (the minibatch error rate; ours, see below)
    dopamine = ε1 · (1/4 − err²)
    co_ij    = Σ_b pre(H_b)_i · fired(z_b)_j               (co-firing of hidden i and output j)
    Δw_ij    = dopamine · link_fired_ij,   link_fired = 1[co > 0] ("any") or co / B ("count")

Choices the paper leaves open (all **ours**): ``err`` is the classification error rate (so the
sign flips at 50 % minibatch error); an output neuron "fired" on an example iff it was the
prediction (``fired="argmax"``, winner-take-all) or always (``"all"``, softmax units are always
active); a link "fired during the minibatch" iff its two neurons fired on a common example
(``cofire="any"``) or proportionally to how often (``"count"``); the minibatch size (default 50,
the paper's SignSGD batch). The bias is not updated (no presynaptic neuron).
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from nne_jax.dnn.model import Readout
from nne_jax.dnn.rules import RuleParams, get_presynaptic
from nne_jax.dnn.train import EpochMetrics, _check, _check_epochs

Array = jax.Array

__all__ = ["COFIRE", "OUTPUT_FIRED", "minibatch_update", "train_dnn_minibatch"]

#: which output neurons fired on an example: the prediction only, or every softmax unit.
OUTPUT_FIRED = ("argmax", "all")
#: when a link fired during the minibatch: on some common example (indicator), or the fraction of examples.
COFIRE = ("any", "count")


def _validate(fired: str, cofire: str) -> None:
    if fired not in OUTPUT_FIRED:
        raise ValueError(f"unknown output firing {fired!r}; known: {list(OUTPUT_FIRED)}")
    if cofire not in COFIRE:
        raise ValueError(f"unknown co-firing {cofire!r}; known: {list(COFIRE)}")


def _update(h: Array, logits: Array, labels: Array, params: RuleParams, pre: str, fired: str, cofire: str):
    """``Δw (H, C)``, the minibatch error rate and the mean cross-entropy."""
    num_classes = logits.shape[-1]
    pred = jnp.argmax(logits, axis=-1)
    err = jnp.mean(pred != labels)
    dopamine = params.eps1 * (0.25 - err**2)
    post = jax.nn.one_hot(pred, num_classes, dtype=h.dtype) if fired == "argmax" else jnp.ones_like(logits)
    co = get_presynaptic(pre)(h).T @ post  # (H, C)
    link = (co > 0).astype(h.dtype) if cofire == "any" else co / h.shape[0]
    loss = -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), labels[:, None], axis=-1))
    return dopamine * link, err, loss


def minibatch_update(
    h: Array,
    logits: Array,
    labels: Array,
    params: RuleParams = RuleParams(),
    *,
    pre: str = "fired",
    fired: str = "argmax",
    cofire: str = "any",
) -> Array:
    """The weight change ``Δw (H, C)`` of one minibatch (reference / testing helper).

    Args:
      h: ``(B, H)`` hidden activations; logits: ``(B, C)``; labels: ``(B,)`` int.
      params: :class:`~nne_jax.dnn.rules.RuleParams` (only ``eps1`` is used).
      pre: presynaptic factor (``"fired"`` = ``1[h > 0]`` or ``"rate"``); fired / cofire: see the module.
    """
    _validate(fired, cofire)
    get_presynaptic(pre)
    h, logits, labels = jnp.asarray(h, jnp.float32), jnp.asarray(logits, jnp.float32), jnp.asarray(labels)
    if h.ndim != 2 or logits.ndim != 2 or labels.shape != (h.shape[0],) or logits.shape[0] != h.shape[0]:
        raise ValueError(f"need h (B, H), logits (B, C), labels (B,), got {h.shape}, {logits.shape}, {labels.shape}")
    return _update(h, logits, labels, params, pre, fired, cofire)[0]


@functools.partial(jax.jit, static_argnames=("pre", "fired", "cofire", "batch_size", "num_epochs"))
def _train(readout, feats, labels, key, params, start_epoch, pre, fired, cofire, batch_size, num_epochs):
    n = labels.shape[0]
    num_batches = n // batch_size

    def step(w, idx):
        h, y = feats[idx], labels[idx]
        logits = h @ w + readout.b
        dw, err, loss = _update(h, logits, y, params, pre, fired, cofire)
        changes = jnp.any(jnp.max(dw, axis=1) != jnp.min(dw, axis=1))  # not a uniform shift of the logits
        return w + dw, (1.0 - err, loss, changes)

    def epoch(w, e):
        perm = jax.random.permutation(jax.random.fold_in(key, e), n)[: num_batches * batch_size]
        w, (acc, loss, changes) = jax.lax.scan(step, w, perm.reshape(num_batches, batch_size))
        return w, EpochMetrics(acc.mean(), loss.mean(), changes.mean())

    w, metrics = jax.lax.scan(epoch, readout.w, start_epoch + jnp.arange(num_epochs))
    return Readout(w, readout.b), metrics


def train_dnn_minibatch(
    readout: Readout,
    feats: Array,
    labels: Array,
    key: Array,
    *,
    num_epochs: int,
    batch_size: int = 50,
    params: RuleParams = RuleParams(),
    pre: str = "fired",
    fired: str = "argmax",
    cofire: str = "any",
    start_epoch: int = 0,
) -> tuple[Readout, EpochMetrics]:
    """Trains the readout with one dopamine signal per minibatch (the introduction's reading).

    Each epoch draws the permutation ``fold_in(key, epoch)`` (resumable, like
    :func:`~nne_jax.dnn.train.train_dnn`) and runs ``n // batch_size`` minibatches (the remainder is
    skipped that epoch). Metrics: ``train_accuracy`` is the online minibatch accuracy before each update,
    ``update_fraction`` the fraction of minibatches whose ``Δw`` is not the same for every output.

    Args:
      readout: initial :class:`Readout`; feats: dense ``(n, h)`` features; labels: ``(n,)`` int.
      key: PRNG key for the shuffles; num_epochs, start_epoch: loop sizes; batch_size: ``B`` in ``[1, n]``.
      params: only ``eps1`` is used; pre / fired / cofire: see the module docstring.

    Raises:
      ValueError: unknown option names, bad sizes, or inconsistent shapes / labels.
    """
    _validate(fired, cofire)
    get_presynaptic(pre)
    _check_epochs(num_epochs, start_epoch)
    if isinstance(feats, (tuple, list)):
        raise ValueError("train_dnn_minibatch needs dense (n, h) features, got sparse (idx, vals)")
    feats, labels = _check(feats, labels, readout.w.shape[0], readout.b.shape[0])
    if not 1 <= batch_size <= labels.shape[0]:
        raise ValueError(f"batch_size must be in [1, n={labels.shape[0]}], got {batch_size}")
    params = RuleParams(*(jnp.float32(p) for p in params))
    return _train(readout, feats, labels, key, params, jnp.int32(start_epoch), pre, fired, cofire, int(batch_size),
                  int(num_epochs))
