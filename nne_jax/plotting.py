"""``nne-jax plot RUN_DIR``: a run's curves from its ``metrics.jsonl``, finished or still running.

Four panels: test accuracy of the mean-weight network against generations and against training seconds,
the population's mean and best fitness per generation, and allele convergence (the paper's Figure 2: the
fraction of genes with ``min(p, 1 - p) > x``, one curve per point in time).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["plot_run", "read_metrics"]

FIELDS = ("generation", "train_seconds", "test_accuracy", "mean_fitness", "best_fitness", "allele_convergence")


def read_metrics(run_dir: str | Path) -> dict[str, list[Any]]:
    """The run's ``metrics.jsonl`` as curves ``{field: [value per chunk]}`` (fields in :data:`FIELDS`).

    A last line cut short (the run is writing it) is skipped; a bad line before the last is an error.

    Raises:
      FileNotFoundError: no ``metrics.jsonl`` in ``run_dir`` (naming both).
      ValueError: a line that is not JSON (naming file and line number), or no complete line yet.
    """
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file ({run_dir} is not a run directory of nne-jax run, "
                                "or the run has not finished its first chunk yet)")
    lines = path.read_text().splitlines()
    points = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            points.append(json.loads(line))
        except json.JSONDecodeError as err:
            if n == len(lines):  # being written right now
                break
            raise ValueError(f"{path}:{n}: not a JSON line ({err})") from err
    if not points:
        raise ValueError(f"{path}: no complete line yet")
    return {k: [p.get(k) for p in points] for k in FIELDS}


def plot_run(run_dir: str | Path, out: str | Path | None = None, max_convergence_curves: int = 6) -> Path:
    """Draws the run's curves into ``out`` (default ``RUN_DIR/curves.png``); returns the file's path.

    Raises:
      ImportError: matplotlib is not installed (with the pip command).
      FileNotFoundError, ValueError: see :func:`read_metrics`.
    """
    from nne_jax.runner import CONVERGENCE_X

    curves = read_metrics(run_dir)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise ImportError("nne-jax plot needs matplotlib: pip install nne_jax[experiments]") from err
    gens, secs = curves["generation"], curves["train_seconds"]
    acc = [None if a is None else 100 * a for a in curves["test_accuracy"]]
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5))
    (ax_g, ax_t), (ax_f, ax_c) = axes
    ax_g.plot(gens, acc, marker=".")
    ax_g.set(xlabel="generation", ylabel="test accuracy of W·p (%)")
    ax_t.plot(secs, acc, marker=".")
    ax_t.set(xlabel="training seconds", ylabel="test accuracy of W·p (%)")
    ax_f.plot(gens, curves["mean_fitness"], label="mean")
    ax_f.plot(gens, curves["best_fitness"], label="best")
    ax_f.set(xlabel="generation", ylabel="fitness (last generation of each chunk)")
    ax_f.legend()
    rows = [(g, c) for g, c in zip(gens, curves["allele_convergence"]) if c is not None]
    picked = rows[::max(1, -(-len(rows) // max_convergence_curves))]
    if picked[-1] is not rows[-1]:
        picked.append(rows[-1])
    for g, conv in picked:
        ax_c.plot(CONVERGENCE_X[:len(conv)], conv, label=f"generation {g}")
    ax_c.set(xlabel="x", ylabel="fraction of genes with min(p, 1-p) > x", ylim=(0, 1.02))
    ax_c.legend(fontsize=8)
    for ax in axes.flat:
        ax.grid(alpha=0.3)
    fig.suptitle(f"{Path(run_dir).resolve().name}: generation {gens[-1]}", fontsize=10)
    fig.tight_layout()
    out = Path(out) if out is not None else Path(run_dir) / "curves.png"
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
