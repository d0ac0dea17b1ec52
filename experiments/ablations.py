"""Fast-NNE ablations: each candidate added (or removed) one at a time, same budget, one plot.

    python -m experiments.ablations --task 0-9 --generations 200

Every variant is a Table 1 run (``experiments.table1`` with ``--set`` overrides and a ``--tag``),
so each is checkpointed and resumable, and its JSON lands in ``results/ablations/``. Writes
``results/ablations/<task>.json`` (final accuracy and time per variant) and
``results/ablations/<task>.png`` (test accuracy vs generations and vs seconds).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from experiments.common import RESULTS, add_allow_dirty, metadata, require_clean, write_json

OUT = RESULTS / "ablations"

# (tag, base preset, overrides): a ladder from the paper's method to the first fast preset
# ("fast-delta"), then single changes to it. The committed results/ablations/*.json of variants
# tagged "fast..." were run when that preset was still called "fast" (their file names, and the
# git commit inside each file, say so); the configuration is the same.
VARIANTS: list[tuple[str, str, list[str]]] = [
    ("faithful", "faithful", []),
    ("+standardize", "faithful", ["fitness_shaping=standardize", "eps=0.3"]),
    ("+mw", "faithful", ["fitness_shaping=standardize", "update_rule=multiplicative_weights", "eps=1.0"]),
    ("+antithetic", "faithful", ["fitness_shaping=standardize", "update_rule=multiplicative_weights", "eps=1.0", "antithetic=true"]),
    ("fast", "fast-delta", []),
    ("fast-ranks", "fast-delta", ["fitness_shaping=centered_ranks", "eps=3.0"]),
    ("fast-eps2", "fast-delta", ["eps=2.0"]),
    ("fast-n4000", "fast-delta", ["num_genes=4000"]),
    ("fast-T10", "fast-delta", ["temperature=10.0"]),
    ("fast-ce", "fast-delta", ["fitness=neg_cross_entropy"]),
    ("fast-ce-T10", "fast-delta", ["fitness=neg_cross_entropy", "temperature=10.0"]),
    ("fast-n8000", "fast-delta", ["num_genes=8000"]),
    ("fast-ce-eps2", "fast-delta", ["fitness=neg_cross_entropy", "eps=2.0"]),
    ("fast-ce-n4000", "fast-delta", ["fitness=neg_cross_entropy", "num_genes=4000"]),
    ("fast-ce-n8000", "fast-delta", ["fitness=neg_cross_entropy", "num_genes=8000"]),
]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="0-9", choices=["0-4", "0-9"])
    parser.add_argument("--generations", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", nargs="*", default=None, help="run only these variant tags")
    add_allow_dirty(parser)
    args = parser.parse_args(argv)
    require_clean(OUT, args.allow_dirty)
    from experiments import table1

    summary = {}
    for tag, preset, overrides in VARIANTS:
        if args.only and tag not in args.only:
            continue
        run_argv = ["--task", args.task, "--preset", preset, "--seed", str(args.seed), "--generations", str(args.generations),
                    "--out", str(OUT), "--no-baselines", "--tag", f"abl{tag}", "--set", "eval_every=25"]
        for o in overrides:
            run_argv += ["--set", o]
        res = table1.main(run_argv)
        summary[tag] = {"preset": preset, "overrides": overrides, "final": res["final"], "wall_seconds": res["wall_seconds"],
                        "curve": {k: res["curves"][k] for k in ("generation", "train_seconds", "test_accuracy")}}
    path = OUT / f"{args.task}.json"
    old = json.loads(path.read_text())["variants"] if path.exists() else {}
    old.update(summary)
    write_json(path, {"task": args.task, "generations": args.generations, "seed": args.seed, **metadata(), "variants": old})
    plot(path)
    return old


def plot(path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    res = json.loads(path.read_text())
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    colors = plt.get_cmap("tab20").colors
    for i, (tag, v) in enumerate(res["variants"].items()):
        acc = [100 * x for x in v["curve"]["test_accuracy"]]
        style = "-" if tag.startswith("fast") else "--"
        a.plot(v["curve"]["generation"], acc, style, color=colors[i % 20], label=tag)
        b.plot(v["curve"]["train_seconds"], acc, style, color=colors[i % 20], label=tag)
    for ax, xl in ((a, "generation"), (b, "training wall time (s)")):
        ax.set_xlabel(xl), ax.set_ylabel("test accuracy of W·p (%)"), ax.grid(alpha=0.3)
    a.legend(fontsize=6, ncol=2)
    fig.suptitle(f"fast-NNE ablations, MNIST {res['task']}, seed {res['seed']} ({res['device']})", fontsize=9)
    fig.tight_layout()
    out = path.with_suffix(".png")
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


if __name__ == "__main__":
    main()
