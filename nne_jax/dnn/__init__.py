"""Dopaminergic Neural Nets (DNN, Section 3.2): a frozen random hidden layer and a readout
learned by a dopamine-gated plasticity rule, plus optax readout baselines (Adam, SignSGD).

* :mod:`nne_jax.dnn.rules` — plasticity rules ``post(z, ℓ, L, params)`` in a registry by name.
* :mod:`nne_jax.dnn.model` — frozen Kaiming-uniform hidden layer, k-cap, features, readout.
* :mod:`nne_jax.dnn.train` — jitted ``lax.scan`` training (primal / dual / baselines), evaluation.
* :mod:`nne_jax.dnn.minibatch` — the introduction's reading: one dopamine signal ``1/4 − err²`` per
  minibatch on the links that fired during it.
"""
from nne_jax.dnn.minibatch import minibatch_update, train_dnn_minibatch
from nne_jax.dnn.model import (
    HiddenLayer,
    Readout,
    hidden_features,
    init_hidden,
    init_readout,
    k_cap,
    readout_logits,
    sparse_features,
    sparse_from_dense,
    sparse_logits,
    torch_linear_bound,
)
from nne_jax.dnn.rules import PRESYNAPTIC, RULES, PostRule, RuleParams, get_presynaptic, get_rule, register_rule, rule_update
from nne_jax.dnn.train import (
    DualProblem,
    EpochMetrics,
    accuracy,
    dual_problem,
    dual_readout,
    evaluate_readouts,
    make_optimizer,
    sign_sgd,
    train_dnn,
    train_dnn_dual,
    train_readout,
)

__all__ = [
    "DualProblem",
    "EpochMetrics",
    "HiddenLayer",
    "PRESYNAPTIC",
    "PostRule",
    "RULES",
    "Readout",
    "RuleParams",
    "accuracy",
    "dual_problem",
    "dual_readout",
    "evaluate_readouts",
    "get_presynaptic",
    "get_rule",
    "hidden_features",
    "init_hidden",
    "init_readout",
    "k_cap",
    "make_optimizer",
    "minibatch_update",
    "readout_logits",
    "register_rule",
    "rule_update",
    "sign_sgd",
    "sparse_features",
    "sparse_from_dense",
    "sparse_logits",
    "torch_linear_bound",
    "train_dnn",
    "train_dnn_dual",
    "train_dnn_minibatch",
    "train_readout",
]
