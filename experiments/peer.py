"""A tuned peer for NNE: evosax ``Open_ES`` on the same network, data, population, minibatch and fitness.

    python -m experiments.peer sweep --task 0-9 --preset scaled --generations 60
    python -m experiments.peer final --task 0-9 --preset scaled --seeds 0 1 2 --seconds 600

``sweep`` runs a grid of σ (search std) × learning rate (Adam) for a few generations each and picks
the winner by *validation* accuracy (1000 held-out training images, never the test set);
``final`` runs the winner (or ``--sigma/--lr``) for a wall-clock budget per seed and records the
test accuracy of its mean against training seconds. The peer optimises the network's ``m``
real-valued link weights directly (Kaiming-uniform start), with the NNE preset's population ``N``,
minibatch ``B``, fitness and ``logit_scale``. Writes ``results/peer/sweep_<task>_<preset>.json``,
``results/peer/<task>_<preset>_open_es_seed<s>.json`` and the rows "Open_ES (tuned)" of
``results/table1/summary.json``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from experiments.common import RESULTS, add_allow_dirty, metadata, require_clean, write_json
from nne_jax.config import PRESETS, RunConfig, apply_overrides
from nne_jax.data.tasks import TASK_CLASSES, load_task_data
from nne_jax.evaluation import network_accuracy
from nne_jax.parallel import use_host_devices
from nne_jax.runner import make_task
from nne_jax.seeds import stream_key

OUT = RESULTS / "peer"


def run_open_es(
    config: RunConfig,
    task_name: str,
    seed: int,
    data: dict[str, np.ndarray],
    sigma: float,
    lr: float,
    generations: int | None = None,
    seconds: float | None = None,
    eval_every: int = 25,
    split: str = "test",
    log: bool = True,
) -> dict[str, Any]:
    """Open_ES for ``generations`` generations or until ``seconds`` of training (whichever comes first).

    Returns ``{"curves": {generation, train_seconds, <split>_accuracy}, "wall_seconds", "generations"}``.
    """
    from benchmarks.peers import open_es

    if generations is None and seconds is None:
        raise ValueError("give generations or seconds")
    task = make_task(config, seed, len(TASK_CLASSES[task_name]))  # NNE's mask and logit scale (W is unused)
    init, step, weights = open_es(task, config.pop_size, config.batch_size, sigma=sigma, lr=lr, fitness_fn=config.fitness_fn(),
                                  augment_shift=config.augment_shift)
    x, y = jnp.asarray(data["train_x"]), jnp.asarray(data["train_y"])
    ex, ey = jnp.asarray(data[f"{split}_x"]), jnp.asarray(data[f"{split}_y"])
    state, key = init(stream_key("peer_init", seed)), stream_key("peer_run", seed)
    acc_key = f"{split}_accuracy"
    curves: dict[str, list] = {"generation": [0], "train_seconds": [0.0], acc_key: [float(network_accuracy(task, weights(state), ex, ey))]}
    spent, g = 0.0, 0
    while (generations is None or g < generations) and (seconds is None or spent < seconds):
        g += 1
        start = time.perf_counter()
        state = step(state, jax.random.fold_in(key, g), x, y)
        jax.block_until_ready(state.mean)
        spent += time.perf_counter() - start
        done = (generations is not None and g >= generations) or (seconds is not None and spent >= seconds)
        if g % eval_every == 0 or done:
            acc = float(network_accuracy(task, weights(state), ex, ey))
            curves["generation"].append(g), curves["train_seconds"].append(spent), curves[acc_key].append(acc)
            if log:
                print(
                    f"[{task_name} open_es σ={sigma} lr={lr} seed {seed}] gen {g:5d}  {g / spent:5.2f} gen/s  "
                    f"{split} acc {100 * acc:5.2f}%",
                    flush=True,
                )
    return {"curves": curves, "wall_seconds": spent, "generations": g}


def sweep(config: RunConfig, task_name: str, seed: int, sigmas: list[float], lrs: list[float], generations: int) -> dict[str, Any]:
    """Every (σ, lr) for ``generations`` generations; the winner has the best final validation accuracy."""
    data = load_task_data(task_name, config.per_class, seed)
    trials = []
    for sigma, lr in itertools.product(sigmas, lrs):
        run = run_open_es(config, task_name, seed, data, sigma, lr, generations=generations, split="val", eval_every=generations)
        trials.append({"sigma": sigma, "lr": lr, "val_accuracy": run["curves"]["val_accuracy"][-1], "wall_seconds": run["wall_seconds"]})
    best = max(trials, key=lambda t: t["val_accuracy"])
    return {"trials": trials, "winner": {"sigma": best["sigma"], "lr": best["lr"]}, "generations": generations, "seed": seed}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=("sweep", "final"))
    parser.add_argument("--task", choices=sorted(TASK_CLASSES), default="0-9")
    parser.add_argument(
        "--preset", choices=sorted(PRESETS), default="fast", help="the NNE preset whose N, B, fitness, scale the peer shares"
    )
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE")
    parser.add_argument("--sigmas", type=float, nargs="+", default=[0.01, 0.02, 0.05])
    parser.add_argument("--lrs", type=float, nargs="+", default=[0.003, 0.01, 0.03])
    parser.add_argument("--generations", type=int, default=60, help="sweep: generations per trial; final: a cap")
    parser.add_argument("--seconds", type=float, default=600.0, help="final: training seconds per seed")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--sigma", type=float, default=None, help="final: σ (default: the sweep's winner)")
    parser.add_argument("--lr", type=float, default=None, help="final: learning rate (default: the sweep's winner)")
    parser.add_argument("--devices", type=int, default=None)
    parser.add_argument("--out", type=Path, default=OUT)
    add_allow_dirty(parser)
    args = parser.parse_args(argv)
    require_clean(args.out, args.allow_dirty)
    use_host_devices(args.devices)
    config = apply_overrides(PRESETS[args.preset], args.set)
    command = "python -m experiments.peer " + " ".join(argv if argv is not None else __import__("sys").argv[1:])
    sweep_path = args.out / f"sweep_{args.task}_{config.name}.json"
    if args.mode == "sweep":
        result = {
            **sweep(config, args.task, args.seeds[0], args.sigmas, args.lrs, args.generations),
            **metadata(command),
            "config": config.flat(),
        }
        write_json(sweep_path, result)
        print(json.dumps(result["winner"]))
        return result
    if args.sigma is None or args.lr is None:
        if not sweep_path.exists():
            raise SystemExit(f"no sweep result at {sweep_path}: run `python -m experiments.peer sweep ...` first or give --sigma/--lr")
        winner = json.loads(sweep_path.read_text())["winner"]
    sigma = args.sigma if args.sigma is not None else winner["sigma"]
    lr = args.lr if args.lr is not None else winner["lr"]
    finals = []
    for seed in args.seeds:
        data = load_task_data(args.task, config.per_class, seed)
        run = run_open_es(config, args.task, seed, data, sigma, lr, generations=None, seconds=args.seconds)
        run.update(
            {
                "config": {"algorithm": "evosax.Open_ES", "sigma": sigma, "optimizer": f"adam({lr})", **config.flat()},
                "task": args.task,
                "seed": seed,
                **metadata(command),
            }
        )
        write_json(args.out / f"{args.task}_{config.name}_open_es_seed{seed}.json", run)
        finals.append(run)
    return {"runs": finals}


if __name__ == "__main__":
    main()
