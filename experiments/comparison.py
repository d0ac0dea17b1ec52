"""NNE against its peer and its ceiling: accuracy against training seconds, and the summary rows.

    python -m experiments.comparison

Reads what the other experiments wrote — NNE runs (``results/table1/<task>_<preset>_seed<s>.json``),
the tuned Open_ES peer (``results/peer/<task>_<preset>_open_es_seed<s>.json``), the gradient ceiling of
``W p`` (``results/ceiling/summary.json``) and Adam on the masked net (``results/table1/sgd_<task>.json``) —
and writes, for each task, the rows "Open_ES (tuned)" and "Ceiling (Adam on p)" into
``results/table1/summary.json`` (mean ± sample std over seeds, seconds to the paper's NNE accuracy) and
the plot ``results/table1/accuracy_vs_seconds.png``. Runs nothing itself.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from experiments.common import RESULTS, add_allow_dirty, require_clean
from experiments.presets import PAPER_TABLE1
from experiments.table1 import STD_KIND, seconds_to, update_summary

TASKS = ("0-4", "0-9")


def _stats(values: list[float]) -> tuple[float, float | None]:
    return float(np.mean(values)), (float(np.std(values, ddof=1)) if len(values) > 1 else None)


def peer_rows(peer_dir: Path, task: str) -> list[dict[str, Any]]:
    """One "Open_ES (tuned)" row per NNE preset whose settings the peer shared: final test accuracy and
    seconds to the paper's NNE accuracy, over the peer's seeds."""
    rows = []
    presets = sorted({p.name.split("_")[1] for p in peer_dir.glob(f"{task}_*_open_es_seed*.json")})
    for preset in presets:
        runs = [json.loads(p.read_text()) for p in sorted(peer_dir.glob(f"{task}_{preset}_open_es_seed*.json"))]
        accs = [100 * r["curves"]["test_accuracy"][-1] for r in runs]
        mean, std = _stats(accs)
        to_paper = [seconds_to(r["curves"], PAPER_TABLE1[task]["NNE"] / 100) for r in runs]
        cfg = runs[0]["config"]
        rows.append(dict(model="Open_ES (tuned)", eval="mean", task=task, preset=preset, test_accuracy=mean, std=std,
                         std_kind=STD_KIND, seeds=len(runs), seed_list=[r["seed"] for r in runs], per_seed=accs,
                         generations=[r["generations"] for r in runs],
                         wall_seconds=float(np.mean([r["wall_seconds"] for r in runs])),
                         seconds_to_paper=None if None in to_paper else float(np.mean(to_paper)),
                         seconds_to_paper_per_seed=to_paper, sigma=cfg["sigma"], optimizer=cfg["optimizer"],
                         device=runs[0]["device"], command=runs[0]["command"],
                         git_commits=sorted({r["git_commit"] for r in runs})))
    return rows


def ceiling_rows(ceiling_dir: Path, task: str) -> list[dict[str, Any]]:
    """One "Ceiling (Adam on p)" row per ceiling configuration run on ``task``."""
    path = ceiling_dir / "summary.json"
    rows = []
    for row in json.loads(path.read_text()) if path.exists() else []:
        if row["task"] == task:
            rows.append(dict(model="Ceiling (Adam on p)", eval="mean-weights", task=task, preset=row["name"],
                             test_accuracy=row["test_accuracy"], std=None, std_kind=STD_KIND, seeds=1, seed_list=[row["seed"]],
                             per_seed=[row["test_accuracy"]], generations=None, steps=row["steps"],
                             train_accuracy=row["train_accuracy"], wall_seconds=row["wall_seconds"], seconds_to_paper=None,
                             device=row["device"], command=row["command"], git_commits=[row["git_commit"]]))
    return rows


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--table1", type=Path, default=RESULTS / "table1")
    parser.add_argument("--peer", type=Path, default=RESULTS / "peer")
    parser.add_argument("--ceiling", type=Path, default=RESULTS / "ceiling")
    parser.add_argument("--presets", nargs="+", default=["wide", "fast", "faithful"], help="NNE presets to plot")
    add_allow_dirty(parser)
    args = parser.parse_args(argv)
    require_clean(args.table1, args.allow_dirty)
    rows = [r for task in TASKS for r in peer_rows(args.peer, task) + ceiling_rows(args.ceiling, task)]
    if rows:
        update_summary(rows, args.table1 / "summary.json")
    try:
        from experiments.plots import plot_accuracy_vs_seconds

        path = plot_accuracy_vs_seconds(args.table1, args.peer, args.ceiling, args.presets, args.table1 / "accuracy_vs_seconds.png")
        print(f"wrote {path}")
    except ImportError as err:  # matplotlib is an optional extra
        print(f"(no plot: {err})")
    for r in rows:
        std = f" ± {r['std']:.2f}" if r["std"] is not None else ""
        print(f"{r['task']} {r['model']} [{r['preset']}]: {r['test_accuracy']:.2f}{std} ({r['seeds']} seeds)")
    return rows


if __name__ == "__main__":
    main()
