"""Table 1 of the paper: NNE, NNE + SignSGD and SGD on MNIST 0–4 and 0–9.

    python -m experiments.table1 --task 0-9 --preset fast --seed 0

Runs NNE for the preset's generations in checkpointed chunks (run the same command again to
resume), tracks test accuracy of the mean-weight network against generations and training wall
time, evaluates the final allele frequencies three ways, trains the output layer by SignSGD
(equation 4), trains the SGD (Adam) baseline on the same images (3 seeds, cached per task), and
writes ``results/table1/<task>_<preset>_seed<seed>.json``, ``results/table1/summary.json`` and
plots.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import nne_jax as nj
from experiments.common import RESULTS, metadata, write_json
from experiments.presets import PAPER_TABLE1, PRESETS, Preset
from nne_jax.backprop import masked_mlp_logits, train_masked_mlp, train_readout_signsgd
from nne_jax.checkpoint import restore_checkpoint, save_checkpoint
from nne_jax.data import balanced_subset_indices, filter_classes, load_mnist
from nne_jax.evaluation import evaluate_allele_freqs, network_accuracy

OUT = RESULTS / "table1"
CLASSES = {"0-4": tuple(range(5)), "0-9": tuple(range(10))}


def load_task_data(task: str, per_class: int, seed: int, validation: int = 1000) -> dict[str, np.ndarray]:
    """Paper's training set (``per_class`` random images per digit), a validation set of other
    training images (for choosing SignSGD's step size), and the task's full test set."""
    classes = CLASSES[task]
    x, y = load_mnist("train")
    x = x.reshape(len(x), -1)
    key = jax.random.PRNGKey(10_000 + seed)
    train_idx = np.asarray(balanced_subset_indices(y, per_class, classes, key))
    rest = np.setdiff1d(np.flatnonzero(np.isin(y, classes)), train_idx)
    val_idx = np.sort(np.asarray(jax.random.choice(jax.random.fold_in(key, 1), rest, (validation,), replace=False)))
    xt, yt = filter_classes(*load_mnist("test"), classes)
    return {
        "train_x": x[train_idx], "train_y": y[train_idx], "val_x": x[val_idx], "val_y": y[val_idx],
        "test_x": np.asarray(xt).reshape(len(xt), -1), "test_y": np.asarray(yt),
    }


def evolve(preset: Preset, task: str, seed: int, data: dict[str, np.ndarray], ckpt_dir: Path, log: bool = True) -> dict[str, Any]:
    """Runs (or resumes) NNE; returns the final state and curves."""
    num_classes = len(CLASSES[task])
    key = jax.random.PRNGKey(seed)
    task_key, init_key, run_key = jax.random.split(key, 3)
    mlp = nj.mlp_task(task_key, preset.num_genes, beta=preset.beta, num_hidden=preset.num_hidden, num_classes=num_classes)
    nne = preset.strategy()
    state = nne.init(init_key)
    # the generation budget is not part of the run's identity: a run may be extended later
    config = {"task": task, "seed": seed, **{k: v for k, v in dataclasses.asdict(preset).items() if k != "generations"}}
    curves: dict[str, list] = {"generation": [], "train_seconds": [], "test_accuracy": [], "mean_fitness": [], "best_fitness": [], "batch_accuracy": []}
    train_seconds = 0.0
    restored = restore_checkpoint(ckpt_dir, config)
    if restored is not None:
        step, saved = restored
        state = nj.NNEState(jnp.asarray(saved["allele_freqs"]), jnp.asarray(saved["fixed"]), jnp.asarray(saved["generation"]))
        curves = {k: list(np.asarray(v).tolist()) for k, v in saved["curves"].items()}
        train_seconds = float(saved["train_seconds"])
        print(f"resumed from generation {step} in {ckpt_dir}", flush=True)
    x, y = jnp.asarray(data["train_x"]), jnp.asarray(data["train_y"])
    test_x, test_y = jnp.asarray(data["test_x"]), jnp.asarray(data["test_y"])
    if not curves["generation"]:  # generation 0 point
        curves["generation"].append(0), curves["train_seconds"].append(0.0)
        curves["test_accuracy"].append(float(network_accuracy(mlp, nj.mean_weights(mlp, state.allele_freqs), test_x, test_y)))
        curves["mean_fitness"].append(None), curves["best_fitness"].append(None), curves["batch_accuracy"].append(None)
    while int(state.generation) < preset.generations:
        target = min(int(state.generation) + preset.eval_every, preset.generations)
        start = time.perf_counter()
        state, metrics = nj.run_generations(nne, mlp, state, run_key, x, y, target, preset.batch_size, chunk_size=preset.eval_every)
        jax.block_until_ready(state.allele_freqs)
        train_seconds += time.perf_counter() - start
        acc = float(network_accuracy(mlp, nj.mean_weights(mlp, state.allele_freqs), test_x, test_y))
        curves["generation"].append(target), curves["train_seconds"].append(train_seconds), curves["test_accuracy"].append(acc)
        curves["mean_fitness"].append(float(metrics.mean_fitness[-1])), curves["best_fitness"].append(float(metrics.best_fitness[-1]))
        curves["batch_accuracy"].append(float(np.mean(np.asarray(metrics.mean_weights_accuracy))))
        p = np.asarray(state.allele_freqs)
        save_checkpoint(ckpt_dir, target, {"allele_freqs": p, "fixed": np.asarray(state.fixed), "generation": np.asarray(state.generation),
                                           "curves": {k: np.asarray([np.nan if v is None else v for v in vals]) for k, vals in curves.items()},
                                           "train_seconds": np.asarray(train_seconds)}, config)
        if log:
            fixed = float(np.mean(np.minimum(p, 1 - p) < 0.01))
            print(f"[{task} {preset.name} seed {seed}] gen {target:6d}  {target / max(train_seconds, 1e-9):6.2f} gen/s  "
                  f"mean δ {curves['mean_fitness'][-1]:.3f}  test acc (W·p) {100 * acc:5.2f}%  p near 0/1: {100 * fixed:4.1f}%", flush=True)
    return {"mlp": mlp, "state": state, "curves": curves, "train_seconds": train_seconds, "config": config}


def signsgd_readout(mlp: nj.MLPTask, allele_freqs: jax.Array, data: dict[str, np.ndarray], seed: int, steps: int, lrs: tuple[float, ...]) -> dict[str, Any]:
    """NNE + SignSGD: a genotype sampled from ``p`` initialises the net (as in the paper); its
    output layer is trained by equation (4), batch 50; ε' is chosen on the validation set."""
    key = jax.random.PRNGKey(20_000 + seed)
    genotype = nj.sample_genotypes(key, allele_freqs, 1)[0]
    w1, w2 = nj.dense_params(mlp.arch, nj.generate_weights(mlp.wg, genotype))
    x, y = jnp.asarray(data["train_x"]), jnp.asarray(data["train_y"])

    def acc(w: jax.Array, split: str) -> float:
        logits = masked_mlp_logits((w1, w), jnp.ones_like(w1), jnp.asarray(data[f"{split}_x"]))
        return float(jnp.mean(jnp.argmax(logits, -1) == jnp.asarray(data[f"{split}_y"])))

    trials = {lr: train_readout_signsgd(jax.random.fold_in(key, 1), w1, w2, x, y, lr, steps) for lr in lrs}
    val = {lr: acc(w, "val") for lr, w in trials.items()}
    best = max(val, key=val.get)
    return {"start_test_accuracy": acc(w2, "test"), "test_accuracy": acc(trials[best], "test"), "learning_rate": best,
            "validation_accuracy": {str(k): v for k, v in val.items()}, "steps": steps, "batch_size": 50}


def sgd_baseline(mlp: nj.MLPTask, data: dict[str, np.ndarray], task: str, seeds: int, epochs: int) -> dict[str, Any]:
    """The masked net trained end to end with Adam (lr 1e-3, batch 50) on the same images."""
    steps = epochs * (len(data["train_x"]) // 50)
    mask = jnp.asarray(mlp.arch.input_mask())
    accs, start = [], time.perf_counter()
    for s in range(seeds):
        params = train_masked_mlp(jax.random.PRNGKey(30_000 + s), mask, len(CLASSES[task]), jnp.asarray(data["train_x"]), jnp.asarray(data["train_y"]), steps)
        logits = masked_mlp_logits(params, mask, jnp.asarray(data["test_x"]))
        accs.append(float(jnp.mean(jnp.argmax(logits, -1) == jnp.asarray(data["test_y"]))))
    return {"test_accuracy": accs, "mean": float(np.mean(accs)), "std": float(np.std(accs)), "seeds": seeds, "epochs": epochs,
            "optimizer": "adam(1e-3)", "batch_size": 50, "wall_seconds": time.perf_counter() - start}


def seconds_to(curves: dict[str, list], threshold: float) -> float | None:
    """Training wall seconds at the first evaluation whose test accuracy reached ``threshold``."""
    for acc, sec in zip(curves["test_accuracy"], curves["train_seconds"]):
        if acc is not None and acc >= threshold:
            return float(sec)
    return None


def update_summary(rows: list[dict[str, Any]]) -> None:
    path = OUT / "summary.json"
    existing = json.loads(path.read_text()) if path.exists() else []
    keyf = lambda r: (r["model"], r["task"], r["preset"], r["eval"])
    merged = {keyf(r): r for r in existing}
    merged.update({keyf(r): r for r in rows})
    write_json(path, sorted(merged.values(), key=lambda r: (r["task"], r["model"], str(r["preset"]), str(r["eval"]))))


def apply_overrides(preset: Preset, assignments: list[str]) -> Preset:
    """``["eps=0.5", "antithetic=false"]`` → a preset with those fields replaced (types checked)."""
    fields = {f.name: f for f in dataclasses.fields(Preset)}
    changes: dict[str, Any] = {}
    for item in assignments:
        name, sep, raw = item.partition("=")
        if not sep or name not in fields or name == "name":
            raise SystemExit(f"--set expects FIELD=VALUE with FIELD one of {sorted(set(fields) - {'name'})}, got {item!r}")
        current = getattr(preset, name)
        if isinstance(current, bool):
            if raw.lower() not in ("true", "false"):
                raise SystemExit(f"--set {name} expects true or false, got {raw!r}")
            changes[name] = raw.lower() == "true"
        elif raw.lower() == "none":
            changes[name] = None
        elif isinstance(current, tuple):
            changes[name] = tuple(float(v) for v in raw.split(","))
        elif isinstance(current, int):
            changes[name] = int(raw)
        elif isinstance(current, float) or current is None:
            changes[name] = float(raw)
        else:
            changes[name] = raw
    return dataclasses.replace(preset, **changes)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", choices=sorted(CLASSES), default="0-9")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="fast")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--generations", type=int, default=None, help="override the preset's generation count")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help="override a preset field, e.g. --set eps=0.5 --set antithetic=false (for ablations)")
    parser.add_argument("--tag", default="", help="suffix for the run's file names (e.g. the ablation's name)")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--no-baselines", action="store_true", help="skip SignSGD and SGD (evolution + evaluation only)")
    args = parser.parse_args(argv)
    preset = PRESETS[args.preset]
    if args.generations is not None:
        preset = dataclasses.replace(preset, generations=args.generations)
    preset = apply_overrides(preset, args.set)
    if args.tag:
        preset = dataclasses.replace(preset, name=f"{preset.name}-{args.tag}")
    command = "python -m experiments.table1 " + " ".join(argv if argv is not None else __import__("sys").argv[1:])
    out = args.out
    data = load_task_data(args.task, preset.per_class, args.seed)
    stem = f"{args.task}_{preset.name}_seed{args.seed}"
    run = evolve(preset, args.task, args.seed, data, out / "ckpt" / stem)
    mlp, state, curves = run["mlp"], run["state"], run["curves"]
    evals = evaluate_allele_freqs(mlp, state.allele_freqs, jnp.asarray(data["test_x"]), jnp.asarray(data["test_y"]), jax.random.PRNGKey(40_000 + args.seed))
    result: dict[str, Any] = {"config": run["config"], "seed": args.seed, **metadata(command), "wall_seconds": run["train_seconds"],
                              "train_size": len(data["train_x"]), "test_size": len(data["test_x"]), "curves": curves,
                              "final": {k: 100 * v for k, v in evals.items()}}
    paper = PAPER_TABLE1[args.task]
    rows = [dict(model="NNE", task=args.task, preset=preset.name, eval=mode, test_accuracy=100 * acc, std=None, seeds=1,
                 generations=preset.generations, wall_seconds=run["train_seconds"],
                 seconds_to_paper=seconds_to(curves, paper["NNE"] / 100) if mode == "mean-weights" else None,
                 device=result["device"], command=command) for mode, acc in evals.items()]
    if not args.no_baselines:
        start = time.perf_counter()
        sign = signsgd_readout(mlp, state.allele_freqs, data, args.seed, preset.signsgd_steps, preset.signsgd_lrs)
        sign["wall_seconds"] = time.perf_counter() - start
        result["signsgd"] = sign
        rows.append(dict(model="NNE+SignSGD", task=args.task, preset=preset.name, eval=None,
                         test_accuracy=100 * sign["test_accuracy"], std=None, seeds=1, generations=preset.generations,
                         wall_seconds=run["train_seconds"] + sign["wall_seconds"], seconds_to_paper=None, device=result["device"], command=command))
        sgd_path = out / f"sgd_{args.task}.json"
        sgd = json.loads(sgd_path.read_text()) if sgd_path.exists() else None
        if sgd is None or sgd.get("train_size") != len(data["train_x"]):
            sgd = {**sgd_baseline(mlp, data, args.task, seeds=3, epochs=100), **metadata(command), "train_size": len(data["train_x"])}
            write_json(sgd_path, sgd)
        result["sgd"] = sgd
        rows.append(dict(model="SGD", task=args.task, preset=None, eval=None, test_accuracy=100 * sgd["mean"], std=100 * sgd["std"],
                         seeds=sgd["seeds"], generations=None, wall_seconds=sgd["wall_seconds"], seconds_to_paper=None,
                         device=sgd["device"], command=sgd["command"]))
    write_json(out / f"{stem}.json", result)
    if out == OUT:
        update_summary(rows)
    try:
        from experiments.plots import plot_table1_curves

        plot_table1_curves(out, args.task)
    except ImportError as err:  # matplotlib is an optional extra
        print(f"(no plot: {err})")
    print(json.dumps({"final_test_accuracy_%": result["final"], "signsgd_%": 100 * result.get("signsgd", {}).get("test_accuracy", float("nan")),
                      "sgd_%": 100 * result.get("sgd", {}).get("mean", float("nan"))}, indent=1))
    return result


if __name__ == "__main__":
    main()
