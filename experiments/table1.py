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
from experiments.common import (
    RESULTS,
    add_allow_dirty,
    metadata,
    replace_rows,
    require_clean,
    write_json,
)
from experiments.presets import PAPER_TABLE1
from nne_jax.backprop import masked_mlp_logits, train_masked_mlp, train_readout_signsgd
from nne_jax.cli import add_data_arguments, configure_logging, resolve_data_arguments
from nne_jax.config import PRESETS, apply_overrides
from nne_jax.data import DataError
from nne_jax.data.tasks import TASK_CLASSES as CLASSES
from nne_jax.data.tasks import load_task_data
from nne_jax.evaluation import evaluate_allele_freqs
from nne_jax.parallel import use_host_devices
from nne_jax.runner import evolve, make_task
from nne_jax.seeds import stream_key

OUT = RESULTS / "table1"


def signsgd_readout(
    mlp: nj.MLPTask,
    allele_freqs: jax.Array,
    data: dict[str, np.ndarray],
    seed: int,
    steps: int,
    lrs: tuple[float, ...],
    start: str = "sampled",
) -> dict[str, Any]:
    """NNE + SignSGD: the output layer of an evolved network trained by equation (4), batch 50;
    ε' chosen on the validation set. ``start="sampled"``: a genotype sampled from ``p`` (the paper:
    "we randomly initialize the network weights using allele distribution learned"); ``"mean"``:
    the mean-weight network ``W p``."""
    key = stream_key("signsgd", seed)
    if start == "sampled":
        weights = nj.generate_weights(mlp.wg, nj.sample_genotypes(key, allele_freqs, 1)[0])
    else:
        weights = nj.mean_weights(mlp, allele_freqs)
    w1, w2 = nj.dense_params(mlp.arch, weights)
    x, y = jnp.asarray(data["train_x"]), jnp.asarray(data["train_y"])

    def acc(w: jax.Array, split: str) -> float:
        logits = masked_mlp_logits((w1, w), jnp.ones_like(w1), jnp.asarray(data[f"{split}_x"]))
        return float(jnp.mean(jnp.argmax(logits, -1) == jnp.asarray(data[f"{split}_y"])))

    trials = {lr: train_readout_signsgd(jax.random.fold_in(key, 1), w1, w2, x, y, lr, steps, logit_scale=mlp.logit_scale) for lr in lrs}
    val = {lr: acc(w, "val") for lr, w in trials.items()}
    best = max(val, key=val.get)
    return {
        "start": start,
        "start_test_accuracy": acc(w2, "test"),
        "test_accuracy": acc(trials[best], "test"),
        "learning_rate": best,
        "validation_accuracy": {str(k): v for k, v in val.items()},
        "steps": steps,
        "batch_size": 50,
    }


def sgd_baseline(mlp: nj.MLPTask, data: dict[str, Any], task: str, seeds: int, epochs: int) -> dict[str, Any]:
    """The masked net trained end to end with Adam (lr 1e-3, batch 50) on the same images (one output per class)."""
    steps = epochs * (len(data["train_x"]) // 50)
    mask = jnp.asarray(mlp.arch.input_mask())
    accs, start = [], time.perf_counter()
    for s in range(seeds):
        params = train_masked_mlp(
            stream_key("sgd", s), mask, len(data["classes"]), jnp.asarray(data["train_x"]), jnp.asarray(data["train_y"]), steps
        )
        logits = masked_mlp_logits(params, mask, jnp.asarray(data["test_x"]))
        accs.append(float(jnp.mean(jnp.argmax(logits, -1) == jnp.asarray(data["test_y"]))))
    return {
        "test_accuracy": accs,
        "mean": float(np.mean(accs)),
        "std": float(np.std(accs)),
        "seeds": seeds,
        "epochs": epochs,
        "optimizer": "adam(1e-3)",
        "batch_size": 50,
        "wall_seconds": time.perf_counter() - start,
    }


def run_peer(task: str, seed: int, data: dict[str, np.ndarray], generations: int, preset: Any) -> dict[str, Any]:
    """evosax Open_ES with its untuned settings (σ = 0.02, Adam lr = 0.01) on the same masked network,
    images, population, minibatch, fitness and scale as the NNE preset (the tuned peer: ``experiments.peer``)."""
    from experiments.peer import run_open_es

    run = run_open_es(preset, task, seed, data, sigma=0.02, lr=0.01, generations=generations, eval_every=preset.eval_every)
    return {
        **run,
        "config": {
            "algorithm": "evosax.Open_ES",
            "sigma": 0.02,
            "optimizer": "adam(0.01)",
            "pop_size": preset.pop_size,
            "batch_size": preset.batch_size,
            "generations": generations,
            "fitness": dataclasses.asdict(preset.fitness_fn()),
            "task": task,
            "seed": seed,
        },
    }


def seconds_to(curves: dict[str, list], threshold: float) -> float | None:
    """Training wall seconds at the first evaluation whose test accuracy reached ``threshold``."""
    for acc, sec in zip(curves["test_accuracy"], curves["train_seconds"]):
        if acc is not None and acc >= threshold:
            return float(sec)
    return None


def update_summary(rows: list[dict[str, Any]], path: Path = OUT / "summary.json") -> None:
    """Replaces, in ``path`` (``results/table1/summary.json``), every row of the same (task, model, preset, eval)."""
    replace_rows(path, rows, key=("task", "model", "preset", "eval"))


def dataset_name(data_dir: str) -> str:
    """The folder name of a data set directory (or the stem of an ``.npz``)."""
    path = Path(data_dir).expanduser().resolve()
    return path.stem if path.is_file() else path.name


STD_KIND = "sample standard deviation over seeds (ddof=1)"


def aggregate_rows(per_seed: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """One row per (model, eval) over seeds: mean accuracy, sample std (ddof=1), each seed's values."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for rows in per_seed:
        for row in rows:
            groups.setdefault((row["model"], row["eval"]), []).append(row)
    out = []
    for rows in groups.values():
        accs = [r["test_accuracy"] for r in rows]
        to_paper = [r["seconds_to_paper"] for r in rows]
        out.append(
            {
                **rows[0],
                "test_accuracy": float(np.mean(accs)),
                "std": float(np.std(accs, ddof=1)) if len(accs) > 1 else None,
                "std_kind": STD_KIND,
                "seeds": len(rows),
                "seed_list": [r["seed"] for r in rows],
                "per_seed": accs,
                "wall_seconds": float(np.mean([r["wall_seconds"] for r in rows])),
                "seconds_to_paper": None if None in to_paper else float(np.mean(to_paper)),
                "seconds_to_paper_per_seed": to_paper,
                "git_commits": sorted({r["git_commit"] for r in rows}),
            }
        )
    return out


def signsgd_control(mlp: nj.MLPTask, config: Any, seed: int, data: dict[str, np.ndarray]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The control for NNE + SignSGD: SignSGD on the readout of the *un-evolved* network (``p⁰``, generation 0)."""
    _, init_key, _ = jax.random.split(jax.random.PRNGKey(seed), 3)
    p0 = config.strategy.init(init_key).allele_freqs  # the run's own starting point
    result, rows = {}, []
    for start_from, eval_name in (("sampled", "sampled-mean"), ("mean", "mean-weights")):
        start = time.perf_counter()
        sign = signsgd_readout(mlp, p0, data, seed, config.signsgd_steps, config.signsgd_lrs, start_from)
        sign["wall_seconds"] = time.perf_counter() - start
        result[start_from] = sign
        rows.append(
            dict(
                model="SignSGD from p0 (control)",
                eval=eval_name,
                test_accuracy=100 * sign["test_accuracy"],
                generations=0,
                wall_seconds=sign["wall_seconds"],
                seconds_to_paper=None,
            )
        )
    return result, rows


def run_seed(args: argparse.Namespace, preset: Any, seed: int, command: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One seed: evolve (checkpointed), evaluate three ways, SignSGD readouts and their control; its JSON."""
    out = args.out
    data = load_data(args, preset, seed)
    stem = f"{args.task}_{preset.name}_seed{seed}"
    run = evolve(
        preset,
        args.task,
        seed,
        data,
        out / "ckpt" / stem,
        log=lambda line: print(line, flush=True),
        bar=None,
        restart=getattr(args, "restart", False),
    )
    mlp, state, curves = run["task"], run["state"], run["curves"]
    evals = evaluate_allele_freqs(
        mlp, state.allele_freqs, jnp.asarray(data["test_x"]), jnp.asarray(data["test_y"]), stream_key("evaluation", seed)
    )
    meta = metadata(command)
    result: dict[str, Any] = {
        "config": run["config"],
        "seed": seed,
        **meta,
        "wall_seconds": run["train_seconds"],
        "generations_run": run["generations"],
        "resumed_from": run["resumed_from"],
        "train_size": len(data["train_x"]),
        "test_size": len(data["test_x"]),
        "num_outputs": mlp.arch.num_classes if hasattr(mlp.arch, "num_classes") else None,
        "dataset": data["dataset"],
        "curves": curves,
        "final": {k: 100 * v for k, v in evals.items()},
    }
    paper = PAPER_TABLE1.get(args.task) if args.data_dir is None else None  # the paper's numbers are MNIST's
    common = dict(
        task=args.task,
        preset=preset.name,
        generations=preset.generations,
        device=meta["device"],
        command=command,
        git_commit=meta["git_commit"],
        seed=seed,
    )
    if args.data_dir is not None:
        common["dataset"] = data["dataset"]["name"]
    rows = [
        dict(
            model="NNE",
            eval=mode,
            test_accuracy=100 * acc,
            wall_seconds=run["train_seconds"],
            seconds_to_paper=seconds_to(curves, paper["NNE"] / 100) if paper and mode == "mean-weights" else None,
            **common,
        )
        for mode, acc in evals.items()
    ]
    if not args.no_baselines:
        result["signsgd"] = {}
        for start_from, eval_name in (("sampled", "sampled-mean"), ("mean", "mean-weights")):
            start = time.perf_counter()
            sign = signsgd_readout(mlp, state.allele_freqs, data, seed, preset.signsgd_steps, preset.signsgd_lrs, start_from)
            sign["wall_seconds"] = time.perf_counter() - start
            result["signsgd"][start_from] = sign
            # eval: which network SignSGD started from (a genotype sampled from p, or W·p)
            rows.append(
                dict(
                    model="NNE+SignSGD",
                    eval=eval_name,
                    test_accuracy=100 * sign["test_accuracy"],
                    wall_seconds=run["train_seconds"] + sign["wall_seconds"],
                    seconds_to_paper=None,
                    **common,
                )
            )
        result["signsgd_control_p0"], control = signsgd_control(mlp, preset, seed, data)
        rows += [{**common, **r} for r in control]
    write_json(out / f"{stem}.json", result)
    return {**result, "allele_freqs": np.asarray(state.allele_freqs)}, rows


def load_data(args: argparse.Namespace, preset: Any, seed: int) -> dict[str, Any]:
    """The run's images: MNIST, or the ``--data-dir`` set; ``--classes`` picks the classes. Bad data: one SystemExit."""
    try:
        return load_task_data(args.task, preset.per_class, seed, **args.data_args)
    except DataError as err:
        raise SystemExit(str(err)) from err


def sgd_rows(args: argparse.Namespace, mlp: Any, data: dict[str, Any], command: str) -> list[dict[str, Any]]:
    """The SGD (Adam) row: cached per task and network outputs, 3 seeds."""
    num_outputs = mlp.arch.num_classes
    sgd_path = args.out / f"sgd_{args.task}.json"
    sgd = json.loads(sgd_path.read_text()) if sgd_path.exists() else None
    if sgd is None or sgd.get("train_size") != len(data["train_x"]) or sgd.get("num_outputs", len(data["classes"])) != num_outputs:
        sgd = {
            **sgd_baseline(mlp, data, args.task, seeds=3, epochs=100),
            **metadata(command),
            "train_size": len(data["train_x"]),
            "num_outputs": num_outputs,
        }
        write_json(sgd_path, sgd)
    return [
        dict(
            model="SGD",
            task=args.task,
            preset=None,
            eval=None,
            test_accuracy=100 * sgd["mean"],
            std=100 * float(np.std(sgd["test_accuracy"], ddof=1)),
            std_kind=STD_KIND,
            seeds=sgd["seeds"],
            per_seed=[100 * a for a in sgd["test_accuracy"]],
            generations=None,
            wall_seconds=sgd["wall_seconds"],
            seconds_to_paper=None,
            device=sgd["device"],
            command=sgd["command"],
            git_commits=[sgd["git_commit"]],
            num_outputs=num_outputs,
        )
    ]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", choices=sorted(CLASSES), help="the paper's tasks (default 0-9)")
    add_data_arguments(parser)
    parser.add_argument("--preset", choices=sorted(PRESETS), default="fast")
    parser.add_argument("--seed", type=int, default=None, help="one seed (same as --seeds SEED)")
    parser.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=None,
        help="seeds to run one after another; the summary rows give mean ± sample std over them (default: 0)",
    )
    parser.add_argument("--generations", type=int, default=None, help="override the preset's generation count")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="override a preset field, e.g. --set eps=0.5 --set antithetic=false (for ablations)",
    )
    parser.add_argument("--tag", default="", help="suffix for the run's file names (e.g. the ablation's name)")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--no-baselines", action="store_true", help="skip SignSGD, its p0 control and SGD (evolution + evaluation only)")
    parser.add_argument(
        "--peer-generations",
        type=int,
        default=0,
        help="also run evosax Open_ES (σ 0.02, lr 0.01) on the same network for this many generations (same plot)",
    )
    parser.add_argument("--devices", type=int, default=None, help="XLA CPU devices to split the population over (default: one per core)")
    add_allow_dirty(parser)
    parser.add_argument(
        "--restart", action="store_true", help="if a run's checkpoints exist but none is readable, start it again (they are kept aside)"
    )
    args = parser.parse_args(argv)
    configure_logging()
    if args.seed is not None and args.seeds is not None:
        parser.error("give --seed or --seeds, not both")
    seeds = args.seeds or [0 if args.seed is None else args.seed]
    args.data_args = resolve_data_arguments(args)  # bad data options fail here, before anything runs
    args.task = args.data_args.pop("task")
    if args.data_dir is not None and args.out == OUT:  # another data set: its own folder, not the paper's summary
        args.out = OUT / dataset_name(args.data_dir)
    use_host_devices(args.devices)  # no effect if JAX is already running (e.g. under pytest)
    preset = PRESETS[args.preset]
    if args.generations is not None:
        preset = dataclasses.replace(preset, generations=args.generations)
    try:
        preset = apply_overrides(preset, args.set)
    except ValueError as err:
        raise SystemExit(f"--set: {err}") from err
    if args.tag:
        preset = dataclasses.replace(preset, name=f"{preset.name}-{args.tag}")
    require_clean(args.out, args.allow_dirty)
    command = "python -m experiments.table1 " + " ".join(argv if argv is not None else __import__("sys").argv[1:])
    results, per_seed = [], []
    for seed in seeds:
        result, rows = run_seed(args, preset, seed, command)
        results.append(result)
        per_seed.append(rows)
    summary_rows = aggregate_rows(per_seed)
    if not args.no_baselines:
        data = load_data(args, preset, seeds[0])
        summary_rows += sgd_rows(args, make_task(preset, seeds[0], len(data["classes"]), data["train_x"].shape[1]), data, command)
    if args.peer_generations:
        data = load_data(args, preset, seeds[0])
        peer = run_peer(args.task, seeds[0], data, args.peer_generations, preset)
        peer.update(metadata(command))
        paper = PAPER_TABLE1.get(args.task) if args.data_dir is None else None
        peer["seconds_to_paper_nne"] = seconds_to(peer["curves"], paper["NNE"] / 100) if paper else None
        write_json(args.out / f"peer_{args.task}_open_es_seed{seeds[0]}.json", peer)
    if args.out == OUT:
        update_summary(summary_rows)
    try:
        from experiments.plots import plot_table1_curves

        plot_table1_curves(args.out, args.task)
    except ImportError as err:  # matplotlib is an optional extra
        print(f"(no plot: {err})")
    print(
        json.dumps(
            {
                f"{r['model']} [{r['eval']}]": (round(r["test_accuracy"], 2), r["std"] and round(r["std"], 2), r["seeds"])
                for r in summary_rows
            },
            indent=1,
        )
    )
    return results[-1] if len(results) == 1 else {"runs": results, "rows": summary_rows}


if __name__ == "__main__":
    main()
