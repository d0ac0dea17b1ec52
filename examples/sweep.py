"""8 seeds × 4 values of ε of the fast MNIST preset as ONE compiled, vmapped call.

    python examples/sweep.py            # the fast preset (n=4000, N=1000): hours on a CPU, for a GPU
    python examples/sweep.py --small    # a small network on a small subset (CI, a few seconds)
    python examples/sweep.py --small --sequential   # also the 32 runs one after another, timed
    python examples/sweep.py --generations 12 --seeds 2 --check   # full size: each run against its single run

``make_run`` builds ``run(key, params)``; the sweep is ``jit(vmap(vmap(run, (None, 0)), (0, None)))``
over 8 keys and 4 ``NNEParams`` that differ only in ``eps``: one compilation, one call, arrays
``(8, 4, ...)`` out. Every seed shares the task (the network mask and ``W`` of seed 0); the seed sets
the initial frequencies, the genotypes and the minibatches (the runner's stream, see
:mod:`nne_jax.run`). Prints a JSON summary (final training-batch accuracy per eps, times).
"""
from __future__ import annotations

import argparse
import json
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from nne_jax.config import PRESETS, RunConfig, with_fields
from nne_jax.run import make_run
from nne_jax.runner import make_task

EPS = (0.5, 1.0, 2.0, 4.0)
SEEDS = tuple(range(8))
# --small: the fast preset's strategy and fitness on a network small enough for CI
SMALL = dict(num_genes=200, pop_size=64, num_hidden=32, batch_size=32, per_class=10, generations=10)


def sweep_config(small: bool, generations: int | None = None) -> RunConfig:
    """The fast preset (``small``: with :data:`SMALL`'s sizes); ``generations`` overrides the budget."""
    config = PRESETS["fast"]
    if small:
        config = with_fields(config, **SMALL)
    return config if generations is None else with_fields(config, generations=generations)


def synthetic_data(config: RunConfig, seed: int = 0) -> dict[str, np.ndarray]:
    """Random images and labels of MNIST's shapes (for a test without the data set)."""
    rng = np.random.default_rng(seed)
    m = config.per_class * 10
    return {"train_x": rng.random((m, 784), np.float32), "train_y": rng.integers(0, 10, m).astype(np.int32)}


def build(config: RunConfig, data: dict[str, np.ndarray], seeds: tuple[int, ...] = SEEDS) -> tuple[Any, Any, jax.Array, Any]:
    """``(run, sweep, keys (S, 2), params (4,))``: the single run and the vmapped S × 4 sweep (both jitted)."""
    nne = config.strategy
    task = make_task(config, 0, 10)
    run = make_run(nne, task, config.generations, data=(data["train_x"], data["train_y"]), batch_size=config.batch_size,
                   fitness_fn=config.fitness_fn())
    keys = jnp.stack([jax.random.PRNGKey(s) for s in seeds])
    params = jax.vmap(lambda e: nne.default_params.replace(eps=e))(jnp.asarray(EPS, jnp.float32))
    sweep = jax.jit(jax.vmap(jax.vmap(run, in_axes=(None, 0)), in_axes=(0, None)))
    return run, sweep, keys, params


def single_params(params: Any, j: int) -> Any:
    """The ``j``-th of the stacked params."""
    return jax.tree.map(lambda leaf: leaf[j], params)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="a small network and subset (CI)")
    parser.add_argument("--generations", type=int, default=None, help="override the preset's generations")
    parser.add_argument("--sequential", action="store_true", help="also time the 32 runs one after another")
    parser.add_argument("--synthetic", action="store_true", help="random data of MNIST's shapes (no data set needed)")
    parser.add_argument("--seeds", type=int, default=len(SEEDS), help="the first K of the 8 seeds")
    parser.add_argument("--check", action="store_true", help="each run against the same run alone: max |Δp|")
    args = parser.parse_args(argv)
    config = sweep_config(args.small, args.generations)
    if args.synthetic:
        data = synthetic_data(config)
    else:
        from nne_jax.data.tasks import load_task_data

        data = load_task_data("0-9", config.per_class, 0)
    if not 1 <= args.seeds <= len(SEEDS):
        parser.error(f"--seeds must be in 1..{len(SEEDS)}, got {args.seeds}")
    seeds = SEEDS[:args.seeds]
    run, sweep, keys, params = build(config, data, seeds)
    start = time.perf_counter()
    states, metrics = jax.block_until_ready(sweep(keys, params))
    first = time.perf_counter() - start  # compile + run
    start = time.perf_counter()
    jax.block_until_ready(sweep(keys, params))
    steady = time.perf_counter() - start
    out: dict[str, Any] = {
        "config": {k: v for k, v in config.flat().items() if k in ("num_genes", "pop_size", "num_hidden", "batch_size",
                                                                   "generations", "per_class")},
        "eps": list(EPS), "seeds": list(seeds),
        "final_batch_accuracy_mean_over_seeds": np.asarray(metrics["batch_accuracy"][:, :, -1].mean(0)).round(4).tolist(),
        "sweep_seconds_first_call": round(first, 3), "sweep_seconds": round(steady, 3),
    }
    if args.sequential or args.check:
        start = time.perf_counter()
        jax.block_until_ready(run(keys[0], single_params(params, 0)))
        out["sequential_compile_and_first_run_seconds"] = round(time.perf_counter() - start, 3)
        start, largest = time.perf_counter(), 0.0
        for i in range(len(seeds)):
            for j in range(len(EPS)):
                single = jax.block_until_ready(run(keys[i], single_params(params, j)))[0]
                if args.check:
                    largest = max(largest, float(jnp.abs(states.allele_freqs[i, j] - single.allele_freqs).max()))
        out[f"sequential_{len(seeds) * len(EPS)}_runs_seconds"] = round(time.perf_counter() - start, 3)
        if args.check:
            out["max_abs_allele_freq_difference"] = largest
    print(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
