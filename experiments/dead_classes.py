"""Dead classes: per-class test recall of a finished Table 1 run's mean-weight network ``W p``.

    python -m experiments.dead_classes --task 0-9 --preset faithful --seeds 0 1 2
    python -m experiments.dead_classes --task 0-9 --preset fast --seeds 0 1 2 --ckpt-root DIR   # the control

Reads each run's newest checkpoint (``<ckpt-root>/<task>_<preset>_seed<s>/``, written by
``python -m experiments.table1``; the checkpoint's identity is checked, so it must be the same task,
preset and seed), rebuilds the run's network and ``W`` from the seed, and evaluates ``W p`` on every
test image of the task. A class is *dead* when its recall is below ``--dead-below`` % (default 5):
the network (almost) never predicts it. Rows go to ``results/table1/dead_classes.json``, one per
(task, preset, seed), with the checkpoint's generation, the recall of every class and the classes
the network predicts at all.

Why it matters for the paper's method (our reading, measured here): the δ fitness of an example is
``α²`` when a network classifies it correctly and 0 otherwise, so an example of a class that the whole
population never predicts adds nothing to any genotype's fitness, and no allele is selected towards
that class until a sampled genotype happens to predict it.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import jax.numpy as jnp
import numpy as np

from experiments.common import add_allow_dirty, metadata, replace_rows, require_clean
from nne_jax.checkpoint import list_checkpoints, restore_checkpoint
from nne_jax.config import PRESETS
from nne_jax.data.tasks import load_task_data
from nne_jax.runner import make_task, run_identity

OUT = Path("results/table1/dead_classes.json")
CKPT_ROOT = Path("results/table1/ckpt")


def per_class_recall(predictions: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """``(C,)`` recall in % of each class ``0 … C-1`` (NaN for a class with no example)."""
    predictions, labels = np.asarray(predictions), np.asarray(labels)
    if predictions.shape != labels.shape:
        raise ValueError(f"predictions {predictions.shape} and labels {labels.shape} differ in shape")
    hits = np.bincount(labels[predictions == labels], minlength=num_classes)[:num_classes]
    counts = np.bincount(labels, minlength=num_classes)[:num_classes]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, 100.0 * hits / np.maximum(counts, 1), np.nan)


def dead_classes(recall: np.ndarray, below: float = 5.0) -> list[int]:
    """The classes whose recall (%) is below ``below``."""
    return [int(c) for c in np.flatnonzero(np.asarray(recall) < below)]


def analyse(task: str, preset_name: str, seed: int, ckpt_root: Path, below: float = 5.0) -> dict[str, Any]:
    """One run's row: its checkpoint's ``W p`` evaluated per class on the task's test set."""
    if preset_name not in PRESETS:
        raise ValueError(f"unknown preset {preset_name!r}; choose from {sorted(PRESETS)}")
    config = PRESETS[preset_name]
    directory = ckpt_root / f"{task}_{preset_name}_seed{seed}"
    if not list_checkpoints(directory):
        raise FileNotFoundError(f"no checkpoint in {directory}: run python -m experiments.table1 --task {task} "
                                f"--preset {preset_name} --seeds {seed} first (or pass --ckpt-root)")
    data = load_task_data(task, config.per_class, seed)
    num_classes = len(data["classes"])
    restored = restore_checkpoint(directory, run_identity(config, task, seed, num_classes, data))
    assert restored is not None  # list_checkpoints was non-empty and restore raises on unreadable ones
    step, saved = restored
    net = make_task(config, seed, num_classes)
    logits = net.forward(net.weights(jnp.asarray(saved["allele_freqs"])), jnp.asarray(data["test_x"]))
    predictions = np.asarray(jnp.argmax(logits, axis=-1))
    labels = np.asarray(data["test_y"])
    recall = per_class_recall(predictions, labels, num_classes)
    return {
        "task": task,
        "preset": preset_name,
        "seed": seed,
        "generation": int(step),
        "eval": "mean-weights",
        "test_accuracy": float(100.0 * np.mean(predictions == labels)),
        "per_class_recall": {str(c): round(float(r), 2) for c, r in zip(data["classes"], recall)},
        "dead_below_percent": below,
        "dead_classes": [int(data["classes"][c]) for c in dead_classes(recall, below)],
        "predicted_classes": sorted({int(data["classes"][c]) if c < num_classes else int(c) for c in np.unique(predictions)}),
        "checkpoint_dir": str(directory),
    }


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="0-9")
    parser.add_argument("--preset", default="faithful")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--ckpt-root", type=Path, default=CKPT_ROOT, help="where experiments.table1 keeps its checkpoints")
    parser.add_argument("--dead-below", type=float, default=5.0, help="a class is dead below this recall (%%)")
    parser.add_argument("--out", type=Path, default=OUT)
    add_allow_dirty(parser)
    args = parser.parse_args(argv)
    require_clean(args.out, args.allow_dirty)
    rows = [{**analyse(args.task, args.preset, s, args.ckpt_root, args.dead_below), **metadata()} for s in args.seeds]
    for r in rows:
        print(f"{r['task']} {r['preset']} seed {r['seed']} gen {r['generation']}: {r['test_accuracy']:.2f} %, "
              f"dead classes {r['dead_classes']}")
    replace_rows(args.out, rows, key=("task", "preset", "seed"))
    return rows


if __name__ == "__main__":
    main()
