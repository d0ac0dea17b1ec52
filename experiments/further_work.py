"""The paper's "further work", each as an option of the library, measured on MNIST.

    python -m experiments.further_work gene-maps   # weights = g(W x), g in {identity, tanh, relu}
    python -m experiments.further_work kcap        # only the k largest hidden activations fire
    python -m experiments.further_work depth       # one vs two hidden layers of 1000 units
    python -m experiments.further_work fixation    # fix converged genes; drop them from W

Every variant is the ``fast`` preset (``experiments.table1 --preset fast --set FIELD=VALUE``:
checkpointed, resumable; run the same command again to continue) on MNIST 0–9 for
``--generations`` generations (default 200), so variants differ in one field only. Each experiment
writes ``results/further_work/<experiment>.json`` (config, seed, git commit, device, wall time, and
per variant: final test accuracy three ways, seconds per generation, curves) and
``<experiment>.png``; the runs' own JSON files are in ``results/further_work/<experiment>/``.
``fixation`` also times one generation of the full and the compacted task at several fractions of
fixed genes (the compute saving by itself); ``kcap`` times one generation per cap on the ``fused``
and ``sparse`` paths.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from experiments.common import RESULTS, add_allow_dirty, metadata, require_clean, write_json

OUT = RESULTS / "further_work"

# experiment -> [(variant label, --set overrides)]
VARIANTS: dict[str, list[tuple[str, list[str]]]] = {
    "gene-maps": [(g, [f"gene_map={g}"]) for g in ("identity", "tanh", "relu")],
    "kcap": [("k=none", [])] + [(f"k={k}", [f"k_cap={k}"]) for k in (100, 30)],
    "depth": [
        ("1 hidden layer", []),
        ("2 hidden layers", ["hidden_layers=2"]),
        ("2 hidden layers, fan-in scaled", ["hidden_layers=2", "fan_in_scale=true"]),
    ],
    "fixation": [("no fixation", []), ("fixation tau=0.05", ["fixation=0.05"])],
}


def run_variants(experiment: str, generations: int, seed: int, task: str) -> list[dict[str, Any]]:
    from experiments import table1

    rows = []
    for label, sets in VARIANTS[experiment]:
        tag = experiment + "-" + "".join(ch if ch.isalnum() else "-" for ch in label)
        argv = [
            "--task",
            task,
            "--preset",
            "fast",
            "--seed",
            str(seed),
            "--generations",
            str(generations),
            "--tag",
            tag,
            "--out",
            str(OUT / experiment),
            "--no-baselines",
        ] + [a for s in sets for a in ("--set", s)]
        res = table1.main(argv)
        c = res["curves"]
        rows.append(
            {
                "variant": label,
                "overrides": sets,
                "command": res["command"],
                "final_test_accuracy": res["final"],
                "seconds_per_generation": res["wall_seconds"] / generations,
                "wall_seconds": res["wall_seconds"],
                "curve": {k: c[k] for k in ("generation", "train_seconds", "test_accuracy", "allele_convergence")},
            }
        )
        print(
            f"== {experiment} / {label}: test acc (W·p) {res['final']['mean-weights']:.2f}%  "
            f"{rows[-1]['seconds_per_generation']:.3f} s/gen",
            flush=True,
        )
    return rows


def seconds_per_generation(generation: Any, state: Any, batch: tuple[Any, Any], reps: int) -> float:
    """Median wall seconds of one ``generation(state, key, batch)`` over ``reps`` runs after a warm-up."""
    import jax
    import numpy as np

    jax.block_until_ready(generation(state, jax.random.PRNGKey(2), batch))
    times = []
    for i in range(reps):
        start = time.perf_counter()
        jax.block_until_ready(generation(state, jax.random.PRNGKey(3 + i), batch))
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def fixation_timing(seed: int, fractions: tuple[float, ...] = (0.0, 0.5, 0.75, 0.9, 0.97), reps: int = 5) -> list[dict[str, float]]:
    """Seconds per generation (median of ``reps`` after warm-up) of the fast preset's shape with a
    given fraction of genes fixed, evaluated on the full task and on the compacted one."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    import nne_jax as nj
    from nne_jax.config import PRESETS, with_fields
    from nne_jax.fixation import compact_task
    from nne_jax.runner import make_task

    config = with_fields(PRESETS["fast"], fixation=0.05)
    task = make_task(config, seed, 10)
    nne = config.strategy
    x = jax.random.uniform(jax.random.PRNGKey(1), (config.batch_size, 784))
    y = jnp.arange(config.batch_size, dtype=jnp.int32) % 10
    rows = []
    for fraction in fractions:
        rng = np.random.default_rng(seed)
        fixed = rng.random(nne.num_genes) < fraction
        p = np.where(fixed, rng.integers(0, 2, nne.num_genes), 0.5).astype(np.float32)
        state = nj.NNEState(jnp.asarray(p), jnp.asarray(fixed), jnp.zeros((), jnp.int32))
        row = {"fraction_fixed": float(fixed.mean())}
        for name, t in (("full", task), ("compacted", compact_task(task, state))):
            generation = nj.make_generation(nne, t, config.fitness_fn())
            row[f"{name}_seconds_per_generation"] = seconds_per_generation(generation, state, (x, y), reps)
        row["speedup"] = row["full_seconds_per_generation"] / row["compacted_seconds_per_generation"]
        rows.append(row)
        print(
            f"fixed {100 * fraction:4.0f}%: full {row['full_seconds_per_generation']:.3f} s/gen, "
            f"compacted {row['compacted_seconds_per_generation']:.3f} s/gen (x{row['speedup']:.2f})",
            flush=True,
        )
    return rows


def kcap_timing(seed: int, caps: tuple[int | None, ...] = (None, 100, 30), reps: int = 5) -> list[dict[str, Any]]:
    """Seconds per generation (median of ``reps`` after warm-up) at the fast preset's shape, per
    k-cap, on the ``fused`` and the ``sparse`` path."""
    import jax
    import jax.numpy as jnp

    import nne_jax as nj
    from nne_jax.config import PRESETS, with_fields
    from nne_jax.runner import make_task

    x = jax.random.uniform(jax.random.PRNGKey(1), (PRESETS["fast"].batch_size, 784))
    y = jnp.arange(x.shape[0], dtype=jnp.int32) % 10
    rows = []
    for cap in caps:
        config = with_fields(PRESETS["fast"], k_cap=cap)
        state = config.strategy.init(jax.random.PRNGKey(0))
        for path in ("fused", "sparse"):
            task = make_task(config, seed, 10).replace(path=path)
            generation = nj.make_generation(config.strategy, task, config.fitness_fn())
            rows.append({"k_cap": cap, "path": path, "seconds_per_generation": seconds_per_generation(generation, state, (x, y), reps)})
            print(f"k_cap={cap} {path}: {rows[-1]['seconds_per_generation']:.3f} s/gen", flush=True)
    return rows


def plot(experiment: str, res: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    timing = res.get("timing")
    fig, axes = plt.subplots(1, 3 if timing else 2, figsize=(15 if timing else 10, 4))
    for row in res["rows"]:
        c = row["curve"]
        acc = [100 * a for a in c["test_accuracy"]]
        axes[0].plot(c["generation"], acc, marker=".", label=f"{row['variant']} ({row['final_test_accuracy']['mean-weights']:.1f}%)")
        axes[1].plot(c["train_seconds"], acc, marker=".", label=f"{row['variant']} ({row['seconds_per_generation']:.2f} s/gen)")
    axes[0].set_xlabel("generation"), axes[1].set_xlabel("training wall time (s)")
    for ax in axes[:2]:
        ax.set_ylabel("test accuracy of W·p (%)"), ax.grid(alpha=0.3), ax.legend(fontsize=7)
    if timing:
        fr = [100 * t["fraction_fixed"] for t in timing]
        axes[2].plot(fr, [t["full_seconds_per_generation"] for t in timing], marker="o", label="full W")
        axes[2].plot(fr, [t["compacted_seconds_per_generation"] for t in timing], marker="o", label="compacted W (free genes only)")
        (
            axes[2].set_xlabel("genes fixed (%)"),
            axes[2].set_ylabel("seconds per generation"),
            axes[2].grid(alpha=0.3),
            axes[2].legend(fontsize=7),
        )
    fig.suptitle(f"{experiment}: fast preset, MNIST {res['task']}, seed {res['seed']} ({res['device']})", fontsize=9)
    fig.tight_layout()
    fig.savefig(OUT / f"{experiment}.png", dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("experiment", choices=sorted(VARIANTS))
    parser.add_argument("--generations", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--task", default="0-9")
    add_allow_dirty(parser)
    args = parser.parse_args(argv)
    require_clean(OUT, args.allow_dirty)
    command = "python -m experiments.further_work " + " ".join(argv if argv is not None else __import__("sys").argv[1:])
    start = time.perf_counter()
    rows = run_variants(args.experiment, args.generations, args.seed, args.task)
    res: dict[str, Any] = {
        **metadata(command),
        "experiment": args.experiment,
        "preset": "fast",
        "task": args.task,
        "seed": args.seed,
        "generations": args.generations,
        "rows": rows,
    }
    if args.experiment == "fixation":
        res["timing"] = fixation_timing(args.seed)
    if args.experiment == "kcap":
        res["timing_by_path"] = kcap_timing(args.seed)
    res["wall_seconds"] = time.perf_counter() - start
    write_json(OUT / f"{args.experiment}.json", res)
    plot(args.experiment, res)
    return res


if __name__ == "__main__":
    main()
