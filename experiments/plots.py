"""Plots for the experiment modules (matplotlib, an optional extra)."""
from __future__ import annotations

import json
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot_table1_curves(out: Path, task: str) -> Path:
    """Test accuracy of the mean-weight network vs generations and vs wall seconds, every run of ``task``."""
    runs = sorted(out.glob(f"{task}_*_seed*.json"))
    fig, (ax_g, ax_t) = plt.subplots(1, 2, figsize=(11, 4))
    device = ""
    for path in runs:
        res = json.loads(path.read_text())
        c = res["curves"]
        label = path.stem.removeprefix(f"{task}_")
        acc = [100 * a for a in c["test_accuracy"]]
        ax_g.plot(c["generation"], acc, label=label)
        ax_t.plot(c["train_seconds"], acc, label=label)
        device = res.get("device", device)
    for peer in sorted(out.glob(f"peer_{task}_*.json")):
        res = json.loads(peer.read_text())
        c = res["curves"]
        ax_g.plot(c["generation"], [100 * a for a in c["test_accuracy"]], "--", label=peer.stem.removeprefix("peer_"))
        ax_t.plot(c["train_seconds"], [100 * a for a in c["test_accuracy"]], "--", label=peer.stem.removeprefix("peer_"))
    from experiments.presets import PAPER_TABLE1

    for ax in (ax_g, ax_t):
        ax.axhline(PAPER_TABLE1[task]["NNE"], color="gray", ls=":", label=f"paper NNE {PAPER_TABLE1[task]['NNE']}%")
        ax.set_ylabel("test accuracy (%)")
        ax.grid(alpha=0.3)
    ax_g.set_xlabel("generation")
    ax_t.set_xlabel("training wall time (s)")
    ax_g.legend(fontsize=7)
    fig.suptitle(f"NNE on MNIST {task} ({device})", fontsize=9)
    fig.tight_layout()
    path = out / f"curves_{task}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _mean_curve(paths: list[Path], key: str = "test_accuracy") -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Seconds and accuracy (%) averaged over runs at their shared evaluation points: (t, mean, lo, hi)."""
    curves = [json.loads(p.read_text())["curves"] for p in paths]
    length = min(len(c[key]) for c in curves)
    acc = np.array([[100 * (a if a is not None else np.nan) for a in c[key][:length]] for c in curves])
    secs = np.array([c["train_seconds"][:length] for c in curves]).mean(0)
    return secs, acc.mean(0), acc.min(0), acc.max(0)


def plot_accuracy_vs_seconds(table1_dir: Path, peer_dir: Path, ceiling_dir: Path, presets: list[str], path: Path,
                             tasks: tuple[str, ...] = ("0-4", "0-9")) -> Path:
    """Test accuracy against training seconds, one panel per task: each NNE preset (mean over its seeds,
    band = min..max), the tuned Open_ES peer (same), the gradient ceiling of W p and Adam (lines)."""
    from experiments.presets import PAPER_TABLE1

    fig, axes = plt.subplots(1, len(tasks), figsize=(6 * len(tasks), 4.2), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        for preset in presets:
            runs = sorted(table1_dir.glob(f"{task}_{preset}_seed*.json"))
            if runs:
                t, mean, lo, hi = _mean_curve(runs)
                ax.plot(t, mean, label=f"NNE {preset} (W p, {len(runs)} seeds)")
                ax.fill_between(t, lo, hi, alpha=0.2)
        for name in sorted({p.name.split("_open_es")[0] for p in peer_dir.glob(f"{task}_*_open_es_seed*.json")}):
            runs = sorted(peer_dir.glob(f"{name}_open_es_seed*.json"))
            t, mean, lo, hi = _mean_curve(runs)
            ax.plot(t, mean, "--", label=f"Open_ES tuned, {name.removeprefix(task + '_')} settings ({len(runs)} seeds)")
            ax.fill_between(t, lo, hi, alpha=0.15)
        summary = ceiling_dir / "summary.json"
        for row in json.loads(summary.read_text()) if summary.exists() else []:
            if row["task"] == task and row["name"].split("-")[0] in presets:
                ax.axhline(row["test_accuracy"], color="k", ls="-.", lw=0.8,
                           label=f"ceiling: Adam on p, {row['name']} ({row['test_accuracy']:.1f}%)")
        sgd = table1_dir / f"sgd_{task}.json"
        if sgd.exists():
            res = json.loads(sgd.read_text())
            ax.axhline(100 * res["mean"], color="tab:red", ls=":", label=f"Adam, masked net end to end ({100 * res['mean']:.1f}%)")
        ax.axhline(PAPER_TABLE1[task]["NNE"], color="gray", ls=":", lw=0.8, label=f"paper NNE {PAPER_TABLE1[task]['NNE']}%")
        ax.set_title(f"MNIST {task}", fontsize=9)
        ax.set_xlabel("training wall time (s)")
        ax.set_ylabel("test accuracy (%)")
        ax.set_ylim(60 if task == "0-9" else 80, 100)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6.5, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
