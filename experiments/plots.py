"""Plots for the experiment modules (matplotlib, an optional extra)."""
from __future__ import annotations

import json
from pathlib import Path

import matplotlib

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
