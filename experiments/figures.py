"""The paper's appendix figures: genes vs accuracy, and allele convergence.

    python -m experiments.figures genes --generations 100          # both tasks, n in {250..8000}
    python -m experiments.figures convergence                       # from a Table 1 run's curves

``genes`` runs the fast preset (``experiments.table1`` with ``--set num_genes=<n>``; checkpointed,
resumable) for a fixed generation budget per n and plots test accuracy of ``W p`` and seconds per
generation against n. ``convergence`` draws the paper's Figure 2 — the fraction of genes with
``min(p, 1 − p) > x`` against x, after several generation counts t — from the per-chunk
allele-convergence fractions every run records (default: the faithful 0–9 Table 1 run).
Outputs: ``results/figures/genes.{json,png}``, ``results/figures/convergence_<run>.png``.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from experiments.common import RESULTS, add_allow_dirty, metadata, require_clean, write_json

OUT = RESULTS / "figures"
GENES = (250, 500, 1000, 2000, 4000, 8000)


def genes(generations: int, seed: int, tasks: tuple[str, ...]) -> dict:
    from experiments import table1

    rows = []
    for task in tasks:
        for n in GENES:
            res = table1.main(["--task", task, "--preset", "fast", "--seed", str(seed), "--generations", str(generations),
                               "--set", f"num_genes={n}", "--tag", f"n{n}", "--out", str(OUT / "genes"), "--no-baselines"])
            c = res["curves"]
            rows.append({"task": task, "n": n, "generations": generations, "test_accuracy": res["final"]["mean-weights"],
                         "seconds_per_generation": res["wall_seconds"] / generations,
                         "curve": {k: c[k] for k in ("generation", "train_seconds", "test_accuracy")}})
    out = {**metadata(), "preset": "fast", "seed": seed, "rows": rows}
    write_json(OUT / "genes.json", out)
    plot_genes(out)
    return out


def plot_genes(res: dict) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    for task in sorted({r["task"] for r in res["rows"]}):
        rows = [r for r in res["rows"] if r["task"] == task]
        a.plot([r["n"] for r in rows], [r["test_accuracy"] for r in rows], marker="o", label=f"MNIST {task}")
        b.plot([r["n"] for r in rows], [r["seconds_per_generation"] for r in rows], marker="o", label=f"MNIST {task}")
    for ax, yl in ((a, f"test accuracy of W·p after {res['rows'][0]['generations']} generations (%)"), (b, "seconds per generation")):
        ax.set_xscale("log"), ax.set_xlabel("number of genes n"), ax.set_ylabel(yl), ax.grid(alpha=0.3), ax.legend(fontsize=8)
        ax.set_xticks(GENES, [str(n) for n in GENES]), ax.minorticks_off()
    fig.suptitle(f"genes vs accuracy, fast preset, seed {res['seed']} ({res['device']})", fontsize=9)
    fig.tight_layout()
    path = OUT / "genes.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def convergence(run: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from nne_jax.runner import CONVERGENCE_X

    res = json.loads(run.read_text())
    c = res["curves"]
    fig, ax = plt.subplots(figsize=(6, 4))
    points = [i for i, g in enumerate(c["generation"]) if c["allele_convergence"][i] is not None]
    for i in points[:: max(1, len(points) // 5)] + ([points[-1]] if (len(points) - 1) % max(1, len(points) // 5) else []):
        ax.plot(CONVERGENCE_X, c["allele_convergence"][i], marker=".", label=f"t = {int(c['generation'][i])}")
    ax.set_xlabel("x"), ax.set_ylabel("fraction of genes with min(p, 1 − p) > x"), ax.grid(alpha=0.3), ax.legend(fontsize=8)
    ax.set_title(f"allele convergence: {run.stem}", fontsize=9)
    fig.tight_layout()
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"convergence_{run.stem}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_allow_dirty(parser)
    sub = parser.add_subparsers(dest="figure", required=True)
    g = sub.add_parser("genes")
    g.add_argument("--generations", type=int, default=100)
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--tasks", nargs="+", default=["0-4", "0-9"])
    c = sub.add_parser("convergence")
    c.add_argument("--run", type=Path, default=RESULTS / "table1" / "0-9_faithful_seed0.json")
    args = parser.parse_args(argv)
    require_clean(OUT, args.allow_dirty)
    if args.figure == "genes":
        genes(args.generations, args.seed, tuple(args.tasks))
    else:
        print(convergence(args.run))


if __name__ == "__main__":
    main()
