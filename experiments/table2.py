"""Table 2 of the paper: DNN plasticity rules against Adam ("SGD") and SignSGD readouts.

    python -m experiments.table2 [--h 1000 100000] [--epochs 500] [--seeds 3]
                                 [--variants ...] [--models SGD SignSGD DNN] [--quick]

For each ``h`` and seed ``s`` (key ``PRNGKey(s)`` split into data / hidden / readout / shuffle
keys) the script draws the training set (``--per-class`` images per digit via
``balanced_subset``), samples the frozen hidden layer and the readout init (shared by every
model of that seed), and trains every model in chunks of ``--chunk`` epochs. After each chunk the
model's state goes to ``results/table2/ckpt/`` and its accuracy on a fixed test subset (the
"curve set": the whole test set for ``h <= 10 000``, its first 1000 images above) is recorded.
At the end each model is scored on the full 10 000-image test set and written to
``results/table2/runs/<model>_h<h>_k<k>_s<seed>.json``; ``results/table2/summary.json`` and
``table2.png`` aggregate every run file present.

Resumable: rerunning (e.g. with a larger ``--epochs``) continues from the checkpoints; shuffles
use ``fold_in(key, epoch)`` so a resumed run equals an uninterrupted one. Models advance round
robin, one chunk each per round; ``--budget-seconds`` stops starting new rounds once this
invocation's wall time is spent ("as many epochs as the budget allows": the run files record the
epochs reached and ``stopped_by_budget``; the same command with a larger budget resumes).

DNN variants are ``rule[@eps1][/pre]``: a rule of :data:`nne_jax.dnn.RULES`, the learning rate
``ε1`` (default 1) and the presynaptic factor (default ``fired`` = ``1[h_i > 0]``), or
``minibatch[-count][-all]``: the introduction's reading, one dopamine signal ``1/4 − err²`` per
minibatch of ``--batch-size`` on the links that fired during it (:mod:`nne_jax.dnn.minibatch`;
``-count``: co-firing fraction instead of indicator, ``-all``: every output fires, not the argmax).
``perceptron`` is a rule of ours, labelled "DNN (our perceptron-like reading)" in the table.

Training set: ``--per-class 200`` images per digit is an **assumption** (Section 3.1's NNE setup;
Section 3.2 does not give one); ``--per-class 0`` uses the full 60,000 training images (run and
checkpoint files then carry ``_full``). Training features larger than 2 GiB (``h = 100 000`` on the
full set: 24 GB) are never held whole: each epoch computes them one block of ``--stream-block``
images at a time, shared by every model (:func:`stream_epoch`; one checkpoint per epoch).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from experiments.common import RESULTS, add_allow_dirty, device_description, metadata, require_clean, write_json
from nne_jax import dnn
from nne_jax.checkpoint import restore_checkpoint, save_checkpoint
from nne_jax.data import balanced_subset, load_mnist

PAPER = {1000: {"SGD": 90.34, "SignSGD": 86.84, "DNN": 84.84}, 100000: {"SGD": 92.56, "SignSGD": 90.21, "DNN": 90.76}}
MAIN_VARIANTS = [
    "formula",
    "formula-argmax",
    "prose",
    "prose-argmax",
    "signed",
    "signed-argmax",
    "signed-threshold",
    "perceptron",
    "minibatch",
]
SWEEP_VARIANTS = ["punish", "signed-argmax@0.01", "perceptron@0.01", "signed-argmax/rate", "perceptron/rate", "minibatch-count"]
#: which reading of the paper each DNN rule is (by base rule name); "ours" where the paper has no such rule.
READINGS = {
    "formula": "DNN (Section 3.2's displayed formula)",
    "prose": "DNN (Section 3.2's prose: loss at most eps0)",
    "signed": "DNN (introduction's 1/4 - err^2, per example)",
    "punish": "DNN (ours: displayed formula with the sign flipped)",
    "perceptron": "DNN (our perceptron-like reading)",
    "minibatch": "DNN (introduction's per-minibatch reading; err, firing and batch size ours)",
}
TRAIN_SET = {200: "200 per digit (assumption: Section 3.1's NNE setup; Section 3.2 gives none)", 0: "full 60,000 training images"}
KCAP_VARIANTS = ["signed-argmax", "perceptron"]
SWEEP_MAX_H = 10_000  # the ε1 / presynaptic-factor sweep runs only at h <= this
CURVE_FULL_MAX_H = 10_000  # curves on the whole test set up to this h, else on its first 1000


@dataclasses.dataclass(frozen=True)
class Spec:
    """One model of the table."""

    name: str  # "SGD", "SignSGD", "DNN:<variant>"
    kind: str  # "adam" | "signsgd" | "dnn" | "dnn_mb" (per-minibatch reading)
    k_cap: int | None = None
    lr: float | None = None
    rule: str | None = None
    eps1: float = 1.0
    pre: str = "fired"

    @property
    def file_tag(self) -> str:
        return re.sub(r"[^A-Za-z0-9_.-]", "_", self.name)


def parse_variant(text: str, k_cap: int | None) -> Spec:
    """``rule[@eps1][/pre]`` -> :class:`Spec` (validated against the registries)."""
    m = re.fullmatch(r"([A-Za-z0-9_-]+)(?:@([0-9.eE+-]+))?(?:/([a-z]+))?", text)
    if not m:
        raise ValueError(f"bad variant {text!r}; expected rule[@eps1][/pre], e.g. perceptron@0.01/rate")
    rule, eps1, pre = m.group(1), float(m.group(2) or 1.0), m.group(3) or "fired"
    dnn.get_presynaptic(pre)
    if rule.startswith("minibatch"):
        _minibatch_options(rule)
        if k_cap is not None:
            raise ValueError(f"variant {text!r}: the per-minibatch reading runs on dense features only (no k-cap)")
        return Spec(name="DNN:" + text, kind="dnn_mb", rule=rule, eps1=eps1, pre=pre)
    dnn.get_rule(rule)
    return Spec(name="DNN:" + text, kind="dnn", k_cap=k_cap, rule=rule, eps1=eps1, pre=pre)


def _minibatch_options(rule: str) -> dict[str, str]:
    """``minibatch[-count][-all]`` -> ``train_dnn_minibatch`` keyword arguments."""
    m = re.fullmatch(r"minibatch(-count)?(-all)?", rule)
    if not m:
        raise ValueError(f"bad per-minibatch variant {rule!r}; expected minibatch[-count][-all]")
    return {"cofire": "count" if m.group(1) else "any", "fired": "all" if m.group(2) else "argmax"}


def reading(model: str) -> str:
    """The table label of a model: which reading of the paper it is (``ours`` where the paper has none)."""
    if not model.startswith("DNN:"):
        return model
    base = re.split(r"[-@/]", model[4:])[0]
    return READINGS.get(base, "DNN (ours)")


def _set_tag(per_class: int) -> str:
    return "" if per_class == 200 else "_full" if per_class == 0 else f"_pc{per_class}"


def build_specs(h: int, args: argparse.Namespace) -> list[Spec]:
    specs: list[Spec] = []
    if "SGD" in args.models:
        specs.append(Spec("SGD", "adam", lr=args.adam_lr))
    if "SignSGD" in args.models:
        specs.append(Spec("SignSGD", "signsgd", lr=args.signsgd_lr if args.signsgd_lr else 1.0 / h))
    if "DNN" in args.models:
        variants = list(args.variants) + (list(args.sweep_variants) if h <= SWEEP_MAX_H else [])
        specs += [parse_variant(v, None) for v in dict.fromkeys(variants)]
        for entry in args.k_cap:
            hh, k = (int(t) for t in entry.split(":"))
            if hh == h:
                specs += [parse_variant(v, k) for v in args.kcap_variants]
    return specs


# ------------------------------------------------------------------------------ state handling
def _config(spec: Spec, h: int, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    """A run's checkpoint identity: a checkpoint of another identity is refused, never silently reused."""
    return {**dataclasses.asdict(spec), "h": h, "seed": seed, "per_class": args.per_class, "batch": args.batch_size}


def _ckpt_dir(out: Path, spec: Spec, h: int, seed: int, per_class: int = 200) -> Path:
    return out / "ckpt" / f"{spec.file_tag}_h{h}_k{spec.k_cap}_s{seed}{_set_tag(per_class)}"


def _run_path(out: Path, spec: Spec, h: int, seed: int, per_class: int = 200) -> Path:
    return out / "runs" / f"{spec.file_tag}_h{h}_k{spec.k_cap}_s{seed}{_set_tag(per_class)}.json"


_CURVES = ("curve_epoch", "curve_acc", "train_acc", "loss", "update_fraction")  # growing lists in a Model's state


def _save_ckpt(directory: Path, state: dict[str, Any], config: dict[str, Any]) -> None:
    """``state`` as a checkpoint of :mod:`nne_jax.checkpoint` (atomic, checksummed; the last 2 kept)."""
    record = {k: (np.asarray(v, np.float64) if k in _CURVES else v) for k, v in state.items() if k != "opt"}
    if "opt" in state:  # an optax state: its leaves, rebuilt on load from a fresh state's structure
        record["opt"] = {str(i): np.asarray(leaf) for i, leaf in enumerate(jax.tree_util.tree_leaves(state["opt"]))}
    save_checkpoint(directory, int(state["epoch"]), record, config, keep=2)


def _load_ckpt(directory: Path, config: dict[str, Any], fresh: dict[str, Any]) -> dict[str, Any] | None:
    """The newest readable checkpoint in ``directory`` as a state shaped like ``fresh``; None if there is none.

    Raises ``ConfigMismatchError`` for another run's checkpoint and ``CheckpointsUnreadableError`` when
    none is readable (nothing is deleted), as every nne_jax run does.
    """
    found = restore_checkpoint(directory, config, quarantine=True)
    if found is None:
        return None
    saved, state = found[1], dict(fresh)
    state["epoch"], state["wall"] = int(saved["epoch"]), float(saved["wall"])
    for key in _CURVES:
        state[key] = np.asarray(saved[key], np.int64 if key == "curve_epoch" else np.float64).tolist()
    for key in ("coef", "w", "b"):
        if key in saved:
            state[key] = jnp.asarray(saved[key])
    if "opt" in fresh:
        treedef = jax.tree_util.tree_structure(fresh["opt"])
        state["opt"] = jax.tree_util.tree_unflatten(treedef, [jnp.asarray(saved["opt"][str(i)]) for i in range(treedef.num_leaves)])
    return state


class Model:
    """Training state of one spec at one (h, seed); ``advance`` runs epochs, ``readout`` reads."""

    def __init__(self, spec: Spec, h: int, seed: int, ctx: dict[str, Any], args: argparse.Namespace, out: Path):
        self.spec, self.h, self.seed, self.ctx, self.args = spec, h, seed, ctx, args
        self.config = _config(spec, h, seed, args)
        self.ckpt_dir = _ckpt_dir(out, spec, h, seed, args.per_class)
        ro0: dnn.Readout = ctx["readout0"]
        self.dual = spec.kind == "dnn" and spec.k_cap is None and h > ctx["n"] and ctx["dense"] is not None
        self.opt = dnn.make_optimizer(spec.kind, spec.lr) if not spec.kind.startswith("dnn") else None
        self.state: dict[str, Any] = {
            "epoch": 0,
            "wall": 0.0,
            "curve_epoch": [],
            "curve_acc": [],
            "train_acc": [],
            "loss": [],
            "update_fraction": [],
        }
        if self.dual:
            self.state["coef"] = jnp.zeros((ctx["n"], ro0.b.shape[0]), jnp.float32)
        else:
            self.state["w"], self.state["b"] = ro0.w, ro0.b
        if self.opt is not None:
            self.state["opt"] = self.opt.init(ro0)
        self.state = _load_ckpt(self.ckpt_dir, self.config, self.state) or self.state

    @property
    def epoch(self) -> int:
        return int(self.state["epoch"])

    def feats(self):
        return self.ctx["sparse"][self.spec.k_cap] if self.spec.k_cap else self.ctx["dense"]

    def readout(self) -> dnn.Readout:
        if self.dual:
            return dnn.dual_readout(self.ctx["readout0"], self.ctx["dense"], self.state["coef"], self.spec.pre)
        return dnn.Readout(self.state["w"], self.state["b"])

    def _fit(self, feats, labels, key, num_epochs: int, start_epoch: int) -> dnn.EpochMetrics:
        """Trains the primal state (``w``, ``b``, ``opt``) on ``feats``; shuffles by ``fold_in(key, epoch)``."""
        st, spec = self.state, self.spec
        common = {"num_epochs": num_epochs, "start_epoch": start_epoch}
        if spec.kind == "dnn_mb":
            ro, m = dnn.train_dnn_minibatch(
                self.readout(),
                feats,
                labels,
                key,
                batch_size=self.args.batch_size,
                params=dnn.RuleParams(eps1=spec.eps1),
                pre=spec.pre,
                **_minibatch_options(spec.rule),
                **common,
            )
        elif spec.kind == "dnn":
            ro, m = dnn.train_dnn(
                self.readout(), feats, labels, key, rule=spec.rule, params=dnn.RuleParams(eps1=spec.eps1), pre=spec.pre, **common
            )
        else:
            (ro, st["opt"]), m = dnn.train_readout(
                self.readout(), st["opt"], feats, labels, key, optimizer=self.opt, batch_size=self.args.batch_size, **common
            )
        st["w"], st["b"] = ro.w.block_until_ready(), ro.b
        return m

    def log_epochs(self, m: dnn.EpochMetrics, num_epochs: int, seconds: float) -> None:
        st = self.state
        st["wall"] += seconds
        st["epoch"] += num_epochs
        for field, src in (("train_acc", m.train_accuracy), ("loss", m.loss), ("update_fraction", m.update_fraction)):
            st[field] += np.asarray(src, np.float64).reshape(-1).tolist()

    def advance(self, num_epochs: int) -> None:
        """``num_epochs`` epochs over the precomputed features of the whole training set."""
        st, spec, key, labels = self.state, self.spec, self.ctx["train_key"], self.ctx["labels"]
        t0 = time.perf_counter()
        if self.dual:
            prob = self.ctx["dual"](spec.pre)
            st["coef"], m = dnn.train_dnn_dual(
                prob,
                st["coef"],
                labels,
                key,
                rule=spec.rule,
                num_epochs=num_epochs,
                params=dnn.RuleParams(eps1=spec.eps1),
                start_epoch=self.epoch,
            )
            st["coef"].block_until_ready()
        else:
            m = self._fit(self.feats(), labels, key, num_epochs, self.epoch)
        self.log_epochs(m, num_epochs, time.perf_counter() - t0)

    def advance_block(self, feats, labels: np.ndarray, key) -> tuple[dnn.EpochMetrics, float] | None:
        """One pass over one streamed block (its own shuffle by ``key``); None if the block is too small to train on."""
        if self.spec.kind != "dnn" and len(labels) < self.args.batch_size:
            return None  # as the whole-set path skips the remainder of the permutation
        t0 = time.perf_counter()
        m = self._fit(feats, labels, key, 1, 0)
        return m, time.perf_counter() - t0

    def record_curve(self) -> None:
        feats = self.ctx["curve_feats"](self.spec.k_cap)
        acc = float(dnn.accuracy(self.readout(), feats, self.ctx["curve_labels"]))
        self.state["curve_epoch"].append(self.epoch)
        self.state["curve_acc"].append(100.0 * acc)

    def save(self) -> None:
        _save_ckpt(self.ckpt_dir, self.state, self.config)


# ------------------------------------------------------------------------------ one (h, seed)
STREAM_ABOVE_BYTES = 2 * 2**30  # training features above this size are streamed (never held whole)
STREAM_BLOCK = 2000  # training images per streamed block


def stream_epoch(models: list[Model], ctx: dict[str, Any], epoch: int, block: int) -> float:
    """One epoch of every model in ``models`` (all at ``epoch``) without holding the ``(n, h)`` features.

    The epoch's permutation ``fold_in(train_key, epoch)`` is cut into blocks of ``block`` images; each
    block's hidden features are computed once, shared by every model, and each model makes one pass
    over the block in its own shuffle (key ``fold_in(fold_in(train_key, epoch), block index)``): the
    same examples per epoch as the whole-set path, a different order. Memory ``O(block · h)``.
    Returns the seconds spent on features (shared; each model's wall time gets an equal share).
    """
    n, labels_all = ctx["n"], ctx["labels"]
    key_e = jax.random.fold_in(ctx["train_key"], epoch)
    perm = np.asarray(jax.random.permutation(key_e, n))
    k_caps = sorted({m.spec.k_cap for m in models if m.spec.k_cap})
    logs: dict[int, list] = {id(m): [] for m in models}
    t_feats = 0.0
    for i, start in enumerate(range(0, n, block)):
        rows = perm[start : start + block]
        t0 = time.perf_counter()
        dense = dnn.hidden_features(ctx["layer"], ctx["images"][rows]).block_until_ready()
        sparse = {k: dnn.sparse_from_dense(dense, k) for k in k_caps}
        t_feats += time.perf_counter() - t0
        for m in models:
            done = m.advance_block(sparse[m.spec.k_cap] if m.spec.k_cap else dense, labels_all[rows], jax.random.fold_in(key_e, i))
            if done is not None:
                logs[id(m)].append((len(rows), *done))
    for m in models:
        sizes = np.array([r[0] for r in logs[id(m)]], np.float64)
        mean = [
            float(np.average([np.asarray(getattr(r[1], f)).item() for r in logs[id(m)]], weights=sizes)) for f in dnn.EpochMetrics._fields
        ]
        m.log_epochs(dnn.EpochMetrics(*mean), 1, sum(r[2] for r in logs[id(m)]) + t_feats / len(models))
    return t_feats


def target_epochs(spec: Spec, args: argparse.Namespace) -> int:
    if not spec.kind.startswith("dnn") and args.baseline_epochs is not None:
        return args.baseline_epochs
    return args.epochs


def run_seed(
    h: int, seed: int, args: argparse.Namespace, data: dict[str, np.ndarray], out: Path, command: str, deadline: float | None = None
) -> None:
    """Trains (or resumes) every model of ``(h, seed)`` and writes their run files.

    ``deadline`` (a ``time.perf_counter()`` value): no new chunk round starts after it; the run files
    then record the epochs reached (``stopped_by_budget``) and a rerun resumes from the checkpoints.
    """
    specs = build_specs(h, args)
    todo = []
    for spec in specs:
        rp = _run_path(out, spec, h, seed, args.per_class)
        if rp.exists() and json.loads(rp.read_text())["epochs"] >= target_epochs(spec, args):
            continue
        todo.append(spec)
    if not todo:
        print(f"h={h} seed={seed}: all {len(specs)} models done", flush=True)
        return
    t_setup = time.perf_counter()
    kd, kh, kr, kt = jax.random.split(jax.random.PRNGKey(seed), 4)
    if args.per_class == 0:  # the full training set, in file order (each epoch shuffles)
        x, y = data["x_train"], np.asarray(data["y_train"])
    else:
        x, y = balanced_subset(data["x_train"], data["y_train"], args.per_class, range(10), kd)
    layer = dnn.init_hidden(kh, 784, h)
    ro0 = dnn.init_readout(kr, h)
    block = args.stream_block if args.stream_block is not None else STREAM_BLOCK * (len(y) * h * 4 > STREAM_ABOVE_BYTES)
    dense = None if block else dnn.hidden_features(layer, x).block_until_ready()
    k_caps = sorted({s.k_cap for s in todo if s.k_cap})
    sparse = {} if block else {k: dnn.sparse_from_dense(dense, k) for k in k_caps}
    n_curve = len(data["y_test"]) if h <= CURVE_FULL_MAX_H else min(1000, len(data["y_test"]))
    curve_dense = dnn.hidden_features(layer, data["x_test"][:n_curve]).block_until_ready()
    curve_cache: dict[int | None, Any] = {None: curve_dense}
    dual_cache: dict[str, dnn.DualProblem] = {}

    def curve_feats(k):
        if k not in curve_cache:
            curve_cache[k] = dnn.sparse_from_dense(curve_dense, k)
        return curve_cache[k]

    def dual(pre):
        if pre not in dual_cache:
            dual_cache[pre] = dnn.dual_problem(ro0, dense, pre)
        return dual_cache[pre]

    ctx = {
        "readout0": ro0,
        "dense": dense,
        "sparse": sparse,
        "labels": np.asarray(y),
        "train_key": kt,
        "n": len(y),
        "curve_feats": curve_feats,
        "curve_labels": data["y_test"][:n_curve],
        "dual": dual,
        "layer": layer,
        "images": x,
    }
    models = [Model(s, h, seed, ctx, args, out) for s in todo]
    setup = time.perf_counter() - t_setup
    print(
        f"h={h} seed={seed}: setup {setup:.1f}s, {len(models)} models, n={len(y)}"
        f"{f', features streamed in blocks of {block}' if block else ''}",
        flush=True,
    )
    for mdl in models:
        if not mdl.state["curve_epoch"]:
            mdl.record_curve()
    # round robin, one chunk per model per round: every model reaches the same epoch when the budget stops it
    while pending := [m for m in models if m.epoch < target_epochs(m.spec, args)]:
        if deadline is not None and time.perf_counter() >= deadline:
            print(f"  budget spent: stopping {len(pending)} model(s) before their target (checkpointed; rerun resumes)", flush=True)
            break
        if block:  # streamed: one epoch per round for the models furthest behind, features shared
            epoch = min(m.epoch for m in pending)
            pending = [m for m in pending if m.epoch == epoch]
            stream_epoch(pending, ctx, epoch, block)
        for mdl in pending:
            if not block:
                target = target_epochs(mdl.spec, args)
                mdl.advance(min(target, (mdl.epoch // args.chunk + 1) * args.chunk) - mdl.epoch)
            mdl.record_curve()
            mdl.save()
    models = [m for m in models if m.epoch > 0]  # a budget spent before the first round trains (and writes) nothing
    if not models:
        return
    for mdl in models:
        print(
            f"  {mdl.spec.name:28s} k={mdl.spec.k_cap} epoch {mdl.epoch:4d} curve-acc {mdl.state['curve_acc'][-1]:6.2f} "
            f"train {100 * mdl.state['train_acc'][-1]:6.2f} wall {mdl.state['wall']:.1f}s",
            flush=True,
        )
    # full test set, one streamed pass for all models of this seed
    t0 = time.perf_counter()
    stacked = jax.tree_util.tree_map(lambda *a: jnp.stack(a), *[m.readout() for m in models])
    accs = np.asarray(dnn.evaluate_readouts(layer, stacked, data["x_test"], data["y_test"], k_caps=tuple(m.spec.k_cap for m in models)))
    t_eval = time.perf_counter() - t0
    for mdl, acc in zip(models, accs):
        st, spec = mdl.state, mdl.spec
        write_json(
            _run_path(out, spec, h, seed, args.per_class),
            {
                **metadata(command),
                "model": spec.name,
                "reading": reading(spec.name),
                "spec": dataclasses.asdict(spec),
                "h": h,
                "k_cap": spec.k_cap,
                "seed": seed,
                "per_class": args.per_class,
                "train_set": TRAIN_SET.get(args.per_class, f"{args.per_class} per digit (ours)"),
                "epochs": mdl.epoch,
                "target_epochs": target_epochs(spec, args),
                "stopped_by_budget": mdl.epoch < target_epochs(spec, args),
                "train_size": len(y),
                "batch_size": args.batch_size if spec.kind != "dnn" else 1,
                "dual_path": mdl.dual,
                "streamed_block": block,
                "test_accuracy": 100.0 * float(acc),
                "wall_seconds": st["wall"],
                "shared_setup_seconds": setup,
                "shared_eval_seconds": t_eval,
                "curve_set_size": n_curve,
                "curve_epoch": st["curve_epoch"],
                "curve_acc": st["curve_acc"],
                "train_acc": [100 * a for a in st["train_acc"]],
                "loss": st["loss"],
                "update_fraction": st["update_fraction"],
            },
        )
    print(
        f"h={h} seed={seed}: full-test eval {t_eval:.1f}s; "
        + ", ".join(f"{m.spec.name}{'/k' + str(m.spec.k_cap) if m.spec.k_cap else ''} {100 * a:.2f}" for m, a in zip(models, accs)),
        flush=True,
    )


# ------------------------------------------------------------------------------ summary + figure
def summarize(out: Path) -> list[dict[str, Any]]:
    groups: dict[tuple, list[dict]] = {}
    for f in sorted((out / "runs").glob("*.json")):
        r = json.loads(f.read_text())
        groups.setdefault((r["model"], r["h"], r["k_cap"], r["epochs"], r["train_size"]), []).append(r)
    rows = []
    for (model, h, k, epochs, n), runs in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][2] or 0, kv[0][0], kv[0][3])):
        acc = np.array([r["test_accuracy"] for r in runs])
        latest = max(runs, key=lambda r: r["timestamp"])
        rows.append(
            {
                "model": model,
                "reading": reading(model),
                "h": h,
                "k_cap": k,
                "test_accuracy": round(float(acc.mean()), 3),
                "std": round(float(acc.std(ddof=1)), 3) if len(acc) > 1 else None,
                "std_kind": "sample (ddof=1)",
                "seeds": len(acc),
                "seed_list": sorted(r["seed"] for r in runs),
                "epochs": epochs,
                "train_size": n,
                "train_set": TRAIN_SET[200] if n == 2000 else TRAIN_SET[0] if n == 60000 else f"{n} images",
                "wall_seconds": round(float(sum(r["wall_seconds"] for r in runs)), 2),
                "device": latest["device"],
                "command": latest["command"],
                "git_commits": sorted({r.get("git_commit", "unknown") for r in runs}),
            }
        )
    write_json(out / "summary.json", rows)
    return rows


def _order(r: dict[str, Any]) -> tuple:
    base = r["model"].split("@")[0].split("/")[0]
    rank = {"SGD": 0, "SignSGD": 1}.get(base, 2)
    return (rank, r.get("k_cap") or 0, base, r["model"])


def plot(out: Path, rows: list[dict[str, Any]]) -> Path | None:
    """Bars (ours vs the paper's dashed lines), test curves and online train-accuracy curves."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    hs = sorted({r["h"] for r in rows})
    if not hs:
        return None
    runs = [json.loads(f.read_text()) for f in sorted((out / "runs").glob("*.json"))]
    fig, axes = plt.subplots(3, len(hs), figsize=(7.5 * len(hs), 15), squeeze=False, gridspec_kw={"height_ratios": [1.4, 1, 1]})
    shown = ("SGD", "SignSGD", "DNN:signed-argmax", "DNN:perceptron", "DNN:formula", "DNN:prose")
    colors = {name: f"C{i}" for i, name in enumerate(shown)}
    for col, h in enumerate(hs):
        ax = axes[0, col]
        hr = sorted((r for r in rows if r["h"] == h), key=_order, reverse=True)
        ys = np.arange(len(hr))
        accs = [r["test_accuracy"] for r in hr]
        ax.barh(ys, accs, xerr=[r["std"] or 0 for r in hr], color=[colors.get(r["model"], "0.6") for r in hr], hatch=None)
        for patch, r in zip(ax.patches, hr):
            if r["k_cap"]:
                patch.set_hatch("//")
        for y_, a in zip(ys, accs):
            ax.text(min(a, 100) + 1, y_, f"{a:.2f}", va="center", fontsize=7)
        for name in ("SGD", "SignSGD", "DNN"):
            if h in PAPER:
                ax.axvline(
                    PAPER[h][name],
                    color=colors.get(name, colors["DNN:signed-argmax"]),
                    ls="--",
                    lw=1,
                    label=f"paper {name} {PAPER[h][name]}",
                )
        ax.set_yticks(
            ys,
            [f"{r['model']}{' k=' + str(r['k_cap']) if r['k_cap'] else ''} ({r['epochs']} ep on {r['train_size']}, {r['seeds']} seeds)"
             for r in hr],
            fontsize=7,
        )
        ax.set_xlim(0, 105)
        ax.set_xlabel("test accuracy % (full 10k test set; mean ± std over seeds)")
        ax.set_title(f"h = {h}")
        if h in PAPER:
            ax.legend(fontsize=7, loc="lower right")
        curves: dict[tuple, list] = {}
        for r in runs:
            if r["h"] == h and r["model"] in shown:
                curves.setdefault((r["model"], r["k_cap"], r["train_size"]), []).append(r)
        for (name, k, size), rs in sorted(curves.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0, kv[0][2])):
            label = f"{name}{' k=' + str(k) if k else ''}, n={size}"
            style = {(False, False): "-", (True, False): "--", (False, True): ":", (True, True): "-."}[(bool(k), size > 2000)]
            n = min(len(r["curve_acc"]) for r in rs)
            axes[1, col].plot(
                rs[0]["curve_epoch"][:n], np.mean([r["curve_acc"][:n] for r in rs], 0), style, marker=".", color=colors[name], label=label
            )
            n = min(len(r["train_acc"]) for r in rs)
            axes[2, col].plot(np.arange(1, n + 1), np.mean([r["train_acc"][:n] for r in rs], 0), style, color=colors[name], label=label)
        sizes = sorted({r["curve_set_size"] for r in runs if r["h"] == h})
        axes[1, col].set_ylabel(f"test accuracy % (first {'/'.join(map(str, sizes))} test images)")
        axes[2, col].set_ylabel("online train accuracy % (before each update)")
        axes[2, col].set_xscale("log")
        for ax in axes[1:, col]:
            ax.set_xlabel("epoch")
            ax.set_ylim(0, 100)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
    fig.suptitle(
        "Table 2: frozen U(±1/28) 784→h ReLU layer; readout by Adam ('SGD') / SignSGD / dopamine-gated plasticity (mean over seeds)"
    )
    fig.tight_layout()
    path = out / "table2.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--h", type=int, nargs="+", default=[1000, 100000], help="hidden sizes")
    p.add_argument("--epochs", type=int, default=500, help="target epochs (resumes from checkpoints)")
    p.add_argument("--baseline-epochs", type=int, default=None, help="target epochs of SGD / SignSGD (default --epochs)")
    p.add_argument("--seeds", type=int, default=3, help="seeds 0..seeds-1")
    p.add_argument("--seed-offset", type=int, default=0)
    p.add_argument("--models", nargs="+", default=["SGD", "SignSGD", "DNN"], choices=["SGD", "SignSGD", "DNN"])
    p.add_argument("--variants", nargs="+", default=MAIN_VARIANTS, help="DNN variants rule[@eps1][/pre]")
    p.add_argument("--sweep-variants", nargs="*", default=SWEEP_VARIANTS, help=f"extra DNN variants, only at h <= {SWEEP_MAX_H}")
    p.add_argument("--k-cap", nargs="*", default=["100000:256"], help="h:k pairs: k-capped DNN rows at that h")
    p.add_argument("--kcap-variants", nargs="+", default=KCAP_VARIANTS)
    p.add_argument(
        "--per-class",
        type=int,
        default=200,
        help="training images per digit; 200 is an assumption (Section 3.1's NNE setup), 0 = all 60,000",
    )
    p.add_argument("--batch-size", type=int, default=50, help="baseline minibatch (paper: 50 for SignSGD)")
    p.add_argument("--adam-lr", type=float, default=1e-3)
    p.add_argument("--signsgd-lr", type=float, default=None, help="default 1/h")
    p.add_argument("--chunk", type=int, default=None, help="epochs per checkpoint (default 25, or 50 for h > 10000)")
    p.add_argument(
        "--stream-block",
        type=int,
        default=None,
        help=f"images per streamed feature block (0 = precompute all features; default {STREAM_BLOCK} "
        f"when the training features exceed {STREAM_ABOVE_BYTES // 2**30} GiB, else 0)",
    )
    p.add_argument(
        "--budget-seconds",
        type=float,
        default=None,
        help="wall-clock budget of this invocation: no new chunk round starts after it (checkpointed; rerun resumes)",
    )
    p.add_argument("--data-dir", default=None, help="MNIST IDX dir (default $NNE_DATA_DIR)")
    p.add_argument("--out", default=None, help="output dir (default results/table2)")
    p.add_argument("--plot-only", action="store_true", help="only rebuild summary.json and table2.png from runs/")
    p.add_argument("--quick", action="store_true", help="smoke run: h=1000, 4 epochs, 1 seed, 20/digit -> results/table2/quick")
    add_allow_dirty(p)
    args = p.parse_args(argv)
    command = "python -m experiments.table2 " + " ".join(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    out = Path(args.out) if args.out else RESULTS / "table2"
    if args.quick:
        args.epochs, args.seeds, args.per_class = 4, 1, 20
        args.h = [1000] if args.h == [1000, 100000] else args.h
        if args.variants == MAIN_VARIANTS:
            args.variants = ["signed-argmax", "perceptron", "prose"]
        args.sweep_variants, args.k_cap, args.batch_size = [], [], 20
        out = out / "quick"
    require_clean(out, args.allow_dirty)
    for v in list(args.variants) + list(args.sweep_variants) + list(args.kcap_variants):
        parse_variant(v, None)
    t0 = time.perf_counter()
    print(f"device: {device_description()}; out: {out}", flush=True)
    if not args.plot_only:
        xtr, ytr = load_mnist("train", args.data_dir)
        xte, yte = load_mnist("test", args.data_dir)
        data = {"x_train": xtr, "y_train": ytr, "x_test": xte, "y_test": yte}
    chunk_arg = args.chunk
    for h in [] if args.plot_only else args.h:
        args.chunk = chunk_arg or (25 if h <= 10_000 else 50)
        for seed in range(args.seed_offset, args.seed_offset + args.seeds):
            run_seed(h, seed, args, data, out, command, None if args.budget_seconds is None else t0 + args.budget_seconds)
    rows = summarize(out)
    png = plot(out, rows)
    details = out / "details.json"  # its rows always follow summary.json; --plot-only adds no invocation
    log = json.loads(details.read_text()).get("invocations", []) if details.exists() else []
    if not args.plot_only:
        log.append({**metadata(command), "total_wall_seconds": round(time.perf_counter() - t0, 1)})
    write_json(details, {"paper": PAPER, "rows": rows, "invocations": log})
    for r in rows:
        print(
            f"{r['model']:28s} [{r['reading']}] n={r['train_size']} h={r['h']:6d} k={str(r['k_cap']):4s} {r['test_accuracy']:6.2f} "
            f"± {r['std'] if r['std'] is not None else float('nan'):5.2f}  seeds={r['seeds']} epochs={r['epochs']} "
            f"wall={r['wall_seconds']:.1f}s"
        )
    print(f"wrote {out / 'summary.json'}{', ' + str(png) if png else ''}; total {time.perf_counter() - t0:.1f}s", flush=True)


if __name__ == "__main__":
    main()
