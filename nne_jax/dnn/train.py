"""Training the readout: dopamine-gated plasticity (one example at a time) and optax baselines.

Everything runs as one jitted ``lax.scan`` over epochs, each a ``lax.scan`` over a fresh
permutation of the training set (key ``fold_in(key, epoch)``, so training is deterministic per
key and resuming at ``start_epoch`` gives bit-for-bit the same run as not stopping).

DNN paths (same maths, different cost):

* :func:`train_dnn` — *primal*: the weights ``w (h, C)`` are the carry; per example
  ``O(h C)`` (dense features) or ``O(k C)`` (sparse k-cap features).
* :func:`train_dnn_dual` — *dual*: every update is ``pre(h_x) ⊗ post``, so
  ``w = w0 + Pᵀ A`` with ``P = pre(H) (n, h)`` and coefficients ``A (n, C)``; the logits of
  example ``x`` are ``H_x w0 + b + G_x A`` with the Gram matrix ``G = H Pᵀ (n, n)``. Per example
  ``O(n C)``: for ``h = 100 000`` and ``n = 2000`` that is 50× less than the primal path.

Baselines (:func:`train_readout`): cross-entropy minibatch training of ``(w, b)`` with an optax
optimiser: ``optax.adam`` ("SGD" in the paper's Table 2) or :func:`sign_sgd` (equation 4).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from nne_jax.chunks import map_in_chunks
from nne_jax.dnn.model import HiddenLayer, Readout, k_cap
from nne_jax.dnn.rules import PostRule, RuleParams, get_presynaptic, get_rule

Array = jax.Array
#: dense ``(n, h)`` features, or sparse k-cap features ``(idx (n, k) int32, vals (n, k))``.
Features = Array | tuple[Array, Array]

__all__ = [
    "DualProblem",
    "EpochMetrics",
    "Features",
    "accuracy",
    "dual_problem",
    "dual_readout",
    "evaluate_readouts",
    "make_optimizer",
    "sign_sgd",
    "train_dnn",
    "train_dnn_dual",
    "train_readout",
]


class EpochMetrics(NamedTuple):
    """Per-epoch training statistics, each ``(num_epochs,)``.

    Attributes:
      train_accuracy: online accuracy (prediction made before the example's update).
      loss: mean online cross-entropy.
      update_fraction: fraction of updates that change the softmax, i.e. whose ``post`` is not
        the same for every output ``j`` (for the baselines: 1).
    """

    train_accuracy: Array
    loss: Array
    update_fraction: Array


# ------------------------------------------------------------------------------------ checks
def _is_sparse(feats: Features) -> bool:
    return isinstance(feats, (tuple, list))


def _num_rows(feats: Features) -> int:
    return feats[0].shape[0] if _is_sparse(feats) else feats.shape[0]


def _check(feats: Features, labels: Array, num_hidden: int, num_classes: int) -> tuple[Features, Array]:
    if _is_sparse(feats):
        if len(feats) != 2:
            raise ValueError("sparse features must be a pair (idx (n, k), vals (n, k))")
        idx, vals = jnp.asarray(feats[0]), jnp.asarray(feats[1], jnp.float32)
        if idx.ndim != 2 or idx.shape != vals.shape:
            raise ValueError(f"sparse features need idx and vals of equal shape (n, k), got {idx.shape}, {vals.shape}")
        feats = (idx.astype(jnp.int32), vals)
    else:
        feats = jnp.asarray(feats, jnp.float32)
        if feats.ndim != 2 or feats.shape[1] != num_hidden:
            raise ValueError(f"features must be (n, {num_hidden}) to match the readout, got shape {feats.shape}")
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.shape[0] != _num_rows(feats):
        raise ValueError(f"labels must be (n,) with n = {_num_rows(feats)} feature rows, got shape {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integers, got dtype {labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes}), got range [{labels.min()}, {labels.max()}]")
    if labels.size == 0:
        raise ValueError("empty training set")
    return feats, jnp.asarray(labels, jnp.int32)


def _check_epochs(num_epochs: int, start_epoch: int) -> None:
    if int(num_epochs) < 1 or int(start_epoch) < 0:
        raise ValueError(f"need num_epochs >= 1 and start_epoch >= 0, got {num_epochs}, {start_epoch}")


def _row(feats: Features, x: Array) -> Features:
    return (feats[0][x], feats[1][x]) if _is_sparse(feats) else feats[x]


# ------------------------------------------------------------------------------------ the scan
def _plasticity_scan(
    state,
    labels: Array,
    key: Array,
    start_epoch: Array,
    num_epochs: int,
    num_classes: int,
    logits_of: Callable,
    apply: Callable,
    rule: PostRule,
    params: RuleParams,
):
    """Generic one-example-at-a-time loop: ``logits_of(state, x) -> (C,)``,
    ``apply(state, x, post) -> state``."""
    n = labels.shape[0]

    def step(state, x):
        y = labels[x]
        logits = logits_of(state, x)
        logz = jax.nn.log_softmax(logits)
        z = jnp.exp(logz)
        loss = -logz[y]
        post = rule(z, jax.nn.one_hot(y, num_classes, dtype=z.dtype), loss, params)
        changes = (jnp.max(post) - jnp.min(post)) > 0
        return apply(state, x, post), (jnp.argmax(logits) == y, loss, changes)

    def epoch(state, e):
        perm = jax.random.permutation(jax.random.fold_in(key, e), n)
        state, (hit, loss, changes) = jax.lax.scan(step, state, perm)
        return state, EpochMetrics(hit.mean(), loss.mean(), changes.mean())

    return jax.lax.scan(epoch, state, start_epoch + jnp.arange(num_epochs))


@functools.partial(jax.jit, static_argnames=("rule", "pre", "num_epochs"))
def _train_dnn(readout, feats, labels, key, params, start_epoch, rule, pre, num_epochs):
    pre_fn = get_presynaptic(pre)
    num_classes = readout.b.shape[0]
    if _is_sparse(feats):
        idx, vals = feats

        def logits_of(w, x):
            return vals[x] @ w[idx[x]] + readout.b

        def apply(w, x, post):
            return w.at[idx[x]].add(pre_fn(vals[x])[:, None] * post[None, :])

    else:

        def logits_of(w, x):
            return feats[x] @ w + readout.b

        def apply(w, x, post):
            return w + pre_fn(feats[x])[:, None] * post[None, :]

    w, metrics = _plasticity_scan(readout.w, labels, key, start_epoch, num_epochs, num_classes, logits_of, apply, rule, params)
    return Readout(w, readout.b), metrics


def train_dnn(
    readout: Readout,
    feats: Features,
    labels: Array,
    key: Array,
    *,
    rule: str | PostRule,
    num_epochs: int,
    params: RuleParams = RuleParams(),
    pre: str = "fired",
    start_epoch: int = 0,
) -> tuple[Readout, EpochMetrics]:
    """Trains the readout weights by a plasticity rule, one example at a time (primal path).

    ``w_ij += pre(h)_i · rule(z, ℓ(y), L, params)_j`` after each example; the bias ``b`` has no
    presynaptic neuron and is left unchanged.

    Args:
      readout: initial :class:`Readout` (``w (h, C)``, ``b (C,)``).
      feats: dense ``(n, h)`` hidden features, or sparse ``(idx, vals)`` each ``(n, k)``.
      labels: ``(n,)`` int classes in ``[0, C)``.
      key: PRNG key for the per-epoch shuffles.
      rule: registry name (see :data:`nne_jax.dnn.rules.RULES`) or rule function.
      num_epochs: epochs to run now. start_epoch: index of the first (for resuming).
      params: :class:`RuleParams` (``ε0``, ``ε1``, ``τ``).
      pre: presynaptic factor, ``"fired"`` (``1[h_i > 0]``) or ``"rate"``.

    Returns:
      the trained readout and :class:`EpochMetrics` of shape ``(num_epochs,)``.

    Raises:
      ValueError: unknown rule / presynaptic factor, or inconsistent shapes / labels.
    """
    rule_fn = get_rule(rule)
    get_presynaptic(pre)
    _check_epochs(num_epochs, start_epoch)
    feats, labels = _check(feats, labels, readout.w.shape[0], readout.b.shape[0])
    params = RuleParams(*(jnp.float32(p) for p in params))
    return _train_dnn(readout, feats, labels, key, params, jnp.int32(start_epoch), rule_fn, pre, int(num_epochs))


# ------------------------------------------------------------------------------------ dual path
class DualProblem(NamedTuple):
    """Precomputed quantities of the dual DNN path.

    Attributes:
      gram: ``(n, n)`` ``G = H pre(H)ᵀ``.
      base_logits: ``(n, C)`` ``H w0 + b``.
    """

    gram: Array
    base_logits: Array


@functools.partial(jax.jit, static_argnames=("pre",))
def _dual_problem(readout, feats, pre):
    p = get_presynaptic(pre)(feats)
    gram = jnp.matmul(feats, p.T, precision=jax.lax.Precision.HIGHEST)
    return DualProblem(gram, feats @ readout.w + readout.b)


def dual_problem(readout: Readout, feats: Array, pre: str = "fired") -> DualProblem:
    """Builds :class:`DualProblem` from dense features ``(n, h)`` and the initial readout."""
    get_presynaptic(pre)
    feats = jnp.asarray(feats, jnp.float32)
    if feats.ndim != 2 or feats.shape[1] != readout.w.shape[0]:
        raise ValueError(f"features must be (n, {readout.w.shape[0]}), got shape {feats.shape}")
    return _dual_problem(readout, feats, pre)


@functools.partial(jax.jit, static_argnames=("rule", "num_epochs"))
def _train_dnn_dual(problem, coef, labels, key, params, start_epoch, rule, num_epochs):
    def logits_of(a, x):
        return problem.base_logits[x] + problem.gram[x] @ a

    def apply(a, x, post):
        return a.at[x].add(post)

    return _plasticity_scan(coef, labels, key, start_epoch, num_epochs, coef.shape[1], logits_of, apply, rule, params)


def train_dnn_dual(
    problem: DualProblem,
    coef: Array,
    labels: Array,
    key: Array,
    *,
    rule: str | PostRule,
    num_epochs: int,
    params: RuleParams = RuleParams(),
    start_epoch: int = 0,
) -> tuple[Array, EpochMetrics]:
    """Same training as :func:`train_dnn` in the dual form ``w = w0 + pre(H)ᵀ A``.

    Args:
      problem: from :func:`dual_problem` (fixes the features, ``w0``, ``b`` and ``pre``).
      coef: ``(n, C)`` coefficients ``A`` (zeros to start).
      labels, key, rule, num_epochs, params, start_epoch: as in :func:`train_dnn`.

    Returns:
      the new coefficients ``(n, C)`` (turn into weights with :func:`dual_readout`) and metrics.
    """
    rule_fn = get_rule(rule)
    _check_epochs(num_epochs, start_epoch)
    n, c = problem.base_logits.shape
    coef = jnp.asarray(coef, jnp.float32)
    if coef.shape != (n, c):
        raise ValueError(f"coef must be (n, C) = {(n, c)}, got {coef.shape}")
    labels = np.asarray(labels)
    if labels.shape != (n,) or not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0 or labels.max() >= c:
        raise ValueError(f"labels must be (n,) = ({n},) ints in [0, {c}), got shape {labels.shape}")
    params = RuleParams(*(jnp.float32(p) for p in params))
    return _train_dnn_dual(problem, coef, jnp.asarray(labels, jnp.int32), key, params, jnp.int32(start_epoch), rule_fn, int(num_epochs))


@functools.partial(jax.jit, static_argnames=("pre",))
def _dual_readout(readout, feats, coef, pre):
    return Readout(readout.w + get_presynaptic(pre)(feats).T @ coef, readout.b)


def dual_readout(readout0: Readout, feats: Array, coef: Array, pre: str = "fired") -> Readout:
    """``Readout(w0 + pre(H)ᵀ A, b)``: the weights the dual coefficients stand for."""
    return _dual_readout(readout0, jnp.asarray(feats, jnp.float32), jnp.asarray(coef, jnp.float32), pre)


# ------------------------------------------------------------------------------------ baselines
def sign_sgd(learning_rate: float) -> optax.GradientTransformation:
    """Equation 4: ``w ← w − ε' sign(∇w)`` (the sign of the minibatch gradient)."""
    return optax.chain(optax.scale_by_sign(), optax.scale(-learning_rate))


def make_optimizer(name: str, learning_rate: float) -> optax.GradientTransformation:
    """``"adam"`` (the paper's "SGD" row), ``"sgd"`` (plain) or ``"signsgd"`` (equation 4).

    Raises:
      ValueError: unknown name or non-positive learning rate.
    """
    if not learning_rate > 0:
        raise ValueError(f"learning_rate must be > 0, got {learning_rate}")
    makers = {"adam": optax.adam, "sgd": optax.sgd, "signsgd": sign_sgd}
    if name not in makers:
        raise ValueError(f"unknown optimizer {name!r}; known: {sorted(makers)}")
    return makers[name](learning_rate)


def _batch_logits(readout: Readout, feats: Features, xb: Array) -> Array:
    if _is_sparse(feats):
        return jnp.einsum("bk,bkc->bc", feats[1][xb], readout.w[feats[0][xb]]) + readout.b
    return feats[xb] @ readout.w + readout.b


@functools.partial(jax.jit, static_argnames=("optimizer", "batch_size", "num_epochs"))
def _train_readout(readout, opt_state, feats, labels, key, start_epoch, optimizer, batch_size, num_epochs):
    n = labels.shape[0]
    num_batches = n // batch_size

    def loss_fn(ro, xb):
        logits = _batch_logits(ro, feats, xb)
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels[xb]).mean()
        return loss, (jnp.argmax(logits, -1) == labels[xb]).mean()

    def step(carry, xb):
        ro, st = carry
        (loss, acc), grads = jax.value_and_grad(loss_fn, has_aux=True)(ro, xb)
        updates, st = optimizer.update(grads, st, ro)
        return (optax.apply_updates(ro, updates), st), (acc, loss)

    def epoch(carry, e):
        perm = jax.random.permutation(jax.random.fold_in(key, e), n)[: num_batches * batch_size]
        carry, (acc, loss) = jax.lax.scan(step, carry, perm.reshape(num_batches, batch_size))
        return carry, EpochMetrics(acc.mean(), loss.mean(), jnp.ones(()))

    return jax.lax.scan(epoch, (readout, opt_state), start_epoch + jnp.arange(num_epochs))


def train_readout(
    readout: Readout,
    opt_state: optax.OptState,
    feats: Features,
    labels: Array,
    key: Array,
    *,
    optimizer: optax.GradientTransformation,
    num_epochs: int,
    batch_size: int = 50,
    start_epoch: int = 0,
) -> tuple[tuple[Readout, optax.OptState], EpochMetrics]:
    """Minibatch cross-entropy training of the readout ``(w, b)`` only (the features are fixed).

    Each epoch draws a permutation and runs ``n // batch_size`` batches (the remainder of the
    permutation is skipped that epoch).

    Args:
      readout: initial :class:`Readout`; opt_state: ``optimizer.init(readout)``.
      feats: dense ``(n, h)`` or sparse ``(idx, vals)``; labels: ``(n,)`` ints in ``[0, C)``.
      key: PRNG key for the shuffles; optimizer: e.g. ``optax.adam(1e-3)`` or :func:`sign_sgd`.
      num_epochs, batch_size, start_epoch: loop sizes.

    Returns:
      ``((readout, opt_state), metrics)`` with metrics ``(num_epochs,)``.
    """
    _check_epochs(num_epochs, start_epoch)
    feats, labels = _check(feats, labels, readout.w.shape[0], readout.b.shape[0])
    if not 1 <= batch_size <= labels.shape[0]:
        raise ValueError(f"batch_size must be in [1, n={labels.shape[0]}], got {batch_size}")
    return _train_readout(readout, opt_state, feats, labels, key, jnp.int32(start_epoch), optimizer, int(batch_size), int(num_epochs))


# ------------------------------------------------------------------------------------ evaluation
def accuracy(readout: Readout, feats: Features, labels: Array) -> Array:
    """Fraction of ``labels (n,)`` equal to the argmax of the readout on ``feats``."""
    logits = _batch_logits(readout, feats, jnp.arange(_num_rows(feats)))
    return (jnp.argmax(logits, -1) == jnp.asarray(labels)).mean()


@functools.partial(jax.jit, static_argnames=("chunk", "k_caps"))
def _evaluate(layer, readouts, x, labels, chunk, k_caps):
    groups = {k: np.array([i for i, kk in enumerate(k_caps) if kk == k]) for k in dict.fromkeys(k_caps)}

    def fn(args):
        xc, yc = args
        hid = jax.nn.relu(xc @ layer.w + layer.b)
        hits = jnp.zeros((xc.shape[0], len(k_caps)), bool)
        for k, members in groups.items():
            w, b = readouts.w[members], readouts.b[members]
            logits = jnp.einsum("nh,rhc->rnc", k_cap(hid, k), w) + b[:, None, :]
            hits = hits.at[:, members].set((jnp.argmax(logits, -1) == yc[None, :]).T)
        return hits

    return map_in_chunks(fn, (x, labels), chunk).sum(0) / x.shape[0]  # (R,)


def evaluate_readouts(
    layer: HiddenLayer,
    readouts: Readout,
    images: Array,
    labels: Array,
    *,
    k_caps: tuple[int | None, ...] | None = None,
    chunk: int = 500,
) -> Array:
    """Test accuracy of ``R`` readouts stacked on a leading axis, streaming the hidden features.

    Never holds more than ``chunk × h`` hidden activations (times the number of distinct
    k-caps), so the 10 000-image test set at ``h = 100 000`` fits in memory, and readouts of
    different k-caps on the same layer share one pass.

    Args:
      layer: the frozen hidden layer.
      readouts: :class:`Readout` with ``w (R, h, C)``, ``b (R, C)``.
      images: ``(N, 784)`` or ``(N, 28, 28)``; labels: ``(N,)``.
      k_caps: per-readout k-cap (None = dense); default ``layer.k_cap`` for all.
      chunk: images per step.

    Returns:
      ``(R,)`` accuracies in [0, 1].
    """
    x = jnp.asarray(images, jnp.float32).reshape(len(images), -1)
    if x.shape[1] != layer.num_inputs or readouts.w.ndim != 3 or readouts.w.shape[1] != layer.num_hidden:
        raise ValueError(
            f"need images (N, {layer.num_inputs}) and stacked readouts (R, {layer.num_hidden}, C), got {x.shape}, {readouts.w.shape}"
        )
    num = readouts.w.shape[0]
    k_caps = (layer.k_cap,) * num if k_caps is None else tuple(None if k is None else int(k) for k in k_caps)
    if len(k_caps) != num:
        raise ValueError(f"k_caps needs one entry per readout ({num}), got {len(k_caps)}")
    return _evaluate(layer, readouts, x, jnp.asarray(labels, jnp.int32), int(min(chunk, x.shape[0])), k_caps)
