"""The ceiling of NNE's parametrisation: the mean-weight network ``W p`` trained by gradient descent.

    python -m experiments.ceiling --task 0-9 --preset fast --set logit_scale=0.03 --set num_genes=16000

NNE never differentiates anything; this experiment does, as the upper reference every NNE setting
is compared with. It takes the same task as an NNE run (the preset plus ``--set`` overrides: same
mask, same ``W`` from the same seed, same logit scale, same training images) and trains the allele
frequencies themselves, ``p = clip(sigmoid(θ), p_min, p_max)``, with Adam on the mean
cross-entropy of the network ``W p`` (minibatches of the preset's ``batch_size``). What it reaches
is what a perfect estimator of the gradient of ``p`` could reach with this ``W``, scale and data;
NNE's sampling noise can regularise (and beat it on test), but the number shows where the
parametrisation, not the estimator, is the limit. Writes ``results/ceiling/<task>_<name>_seed<s>.json``
and a row of ``results/ceiling/summary.json``.
"""
from __future__ import annotations

import argparse
import functools
import json
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from experiments.common import RESULTS, add_allow_dirty, metadata, replace_rows, require_clean, write_json
from nne_jax.backprop import batch_indices
from nne_jax.config import PRESETS, RunConfig, apply_overrides
from nne_jax.data.augment import random_shift
from nne_jax.data.tasks import TASK_CLASSES, load_task_data
from nne_jax.evaluation import network_accuracy
from nne_jax.fitness import cross_entropy
from nne_jax.runner import make_task
from nne_jax.seeds import stream_key

OUT = RESULTS / "ceiling"


def train_allele_freqs(task: Any, inputs: jax.Array, labels: jax.Array, key: jax.Array, steps: int, batch_size: int,
                       learning_rate: float, p_min: float, p_max: float, eval_every: int = 0,
                       augment_shift: int = 0) -> tuple[jax.Array, jax.Array]:
    """Adam on ``θ`` with ``p = clip(sigmoid(θ), p_min, p_max)`` for the network ``task.weights(p)``.

    Args:
      task: an NNE task (``weights``, ``forward``); inputs ``(M, d)``, labels ``(M,)``.
      eval_every: record the training-set accuracy every this many steps (0: never).
      augment_shift: shift each minibatch image by up to this many pixels, as the NNE runner does (0: none).

    Returns:
      ``(p (n,), train_accuracy (steps // eval_every,))``. Starts from ``p = 1/2`` (``θ = 0``).
    """
    every = eval_every or steps
    batches = batch_indices(key, inputs.shape[0], steps // every * every, batch_size).reshape(-1, every, batch_size)
    shift_keys = jax.random.split(jax.random.fold_in(key, 1), batches.shape[0] * every).reshape(batches.shape[0], every, -1)
    theta, train_acc = _train(task, inputs, labels, batches, shift_keys, learning_rate, p_min, p_max, augment_shift)
    return jnp.clip(jax.nn.sigmoid(theta), p_min, p_max), train_acc if eval_every else train_acc[:0]


@functools.partial(jax.jit, static_argnames=("augment_shift",))
def _train(task: Any, inputs: jax.Array, labels: jax.Array, batches: jax.Array, shift_keys: jax.Array, learning_rate: float,
           p_min: float, p_max: float, augment_shift: int) -> tuple[jax.Array, jax.Array]:
    """``batches (segments, steps, B)`` → final ``θ (n,)`` and the training accuracy after each segment."""
    opt = optax.adam(learning_rate)
    theta = jnp.zeros((task.num_genes,), jnp.float32)

    def freqs(t: jax.Array) -> jax.Array:
        return jnp.clip(jax.nn.sigmoid(t), p_min, p_max)

    def loss(t: jax.Array, x: jax.Array, y: jax.Array) -> jax.Array:
        return jnp.mean(cross_entropy(task.forward(task.weights(freqs(t)), x), y))

    def step(carry: tuple, batch_and_key: tuple) -> tuple:
        (t, s), (batch, key) = carry, batch_and_key
        updates, s = opt.update(jax.grad(loss)(t, random_shift(key, inputs[batch], augment_shift), labels[batch]), s, t)
        return (optax.apply_updates(t, updates), s), None

    def segment(carry: tuple, segment: tuple) -> tuple:
        carry, _ = jax.lax.scan(step, carry, segment)
        return carry, network_accuracy(task, task.weights(freqs(carry[0])), inputs, labels)

    (theta, _), train_acc = jax.lax.scan(segment, (theta, opt.init(theta)), (batches, shift_keys))
    return theta, train_acc


def ceiling(config: RunConfig, task_name: str, seed: int, data: dict[str, np.ndarray], steps: int, learning_rate: float,
            eval_every: int = 100) -> dict[str, Any]:
    """Trains ``p`` through ``config``'s task (see the module doc) and reports train/test accuracy of ``W p``."""
    task = make_task(config, seed, len(np.unique(data["train_y"])) if task_name not in TASK_CLASSES else
                     len(TASK_CLASSES[task_name]))
    x, y = jnp.asarray(data["train_x"]), jnp.asarray(data["train_y"])
    test_x, test_y = jnp.asarray(data["test_x"]), jnp.asarray(data["test_y"])
    strategy = config.strategy
    start = time.perf_counter()
    p, train_curve = train_allele_freqs(task, x, y, stream_key("ceiling", seed), steps, config.batch_size,
                                        learning_rate, strategy.p_min, strategy.p_max, eval_every, config.augment_shift)
    jax.block_until_ready(p)
    seconds = time.perf_counter() - start
    bound = np.asarray(jnp.minimum(p - strategy.p_min, strategy.p_max - p) < 1e-6)
    return {"train_accuracy": float(network_accuracy(task, task.weights(p), x, y)),
            "test_accuracy": float(network_accuracy(task, task.weights(p), test_x, test_y)),
            "train_curve": {"step": [eval_every * (i + 1) for i in range(len(train_curve))],
                            "train_accuracy": np.asarray(train_curve).tolist()},
            "fraction_at_bounds": float(bound.mean()), "steps": steps // eval_every * eval_every, "learning_rate": learning_rate,
            "optimizer": "adam", "batch_size": config.batch_size, "wall_seconds": seconds}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", choices=sorted(TASK_CLASSES), default="0-9")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="fast")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="override a preset field")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--lr", type=float, default=0.05, help="Adam's learning rate on the logits of p")
    parser.add_argument("--tag", default="", help="suffix for the result's name")
    parser.add_argument("--out", type=Path, default=OUT)
    add_allow_dirty(parser)
    args = parser.parse_args(argv)
    try:
        config = apply_overrides(PRESETS[args.preset], args.set)
    except ValueError as err:
        raise SystemExit(f"--set: {err}") from err
    name = config.name + (f"-{args.tag}" if args.tag else "")
    require_clean(args.out, args.allow_dirty)
    command = "python -m experiments.ceiling " + " ".join(argv if argv is not None else __import__("sys").argv[1:])
    data = load_task_data(args.task, config.per_class, args.seed)
    result = ceiling(config, args.task, args.seed, data, args.steps, args.lr)
    row = {"task": args.task, "name": name, "seed": args.seed, "steps": args.steps, "learning_rate": args.lr,
           "num_genes": config.num_genes, "logit_scale": config.logit_scale, "augment_shift": config.augment_shift,
           "train_accuracy": 100 * result["train_accuracy"], "test_accuracy": 100 * result["test_accuracy"],
           "fraction_at_bounds": result["fraction_at_bounds"], "wall_seconds": result["wall_seconds"], **metadata(command)}
    write_json(args.out / f"{args.task}_{name}_seed{args.seed}.json",
               {"config": {**config.flat(), "task": args.task}, "seed": args.seed, **metadata(command), **result})
    replace_rows(args.out / "summary.json", [row], key=("task", "name", "seed", "steps", "learning_rate"))
    print(json.dumps({k: row[k] for k in ("task", "name", "num_genes", "logit_scale", "train_accuracy", "test_accuracy",
                                         "fraction_at_bounds", "wall_seconds")}))
    return row


if __name__ == "__main__":
    main()
