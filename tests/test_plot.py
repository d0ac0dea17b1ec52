"""nne-jax plot RUN_DIR: curves from metrics.jsonl, for a finished or a still-running run."""
from __future__ import annotations

import json
import re

import pytest

from nne_jax.cli import main
from nne_jax.plotting import read_metrics

pytest.importorskip("matplotlib")


def _point(generation: int) -> dict:
    conv = [max(0.0, 1.0 - 0.04 * i - 0.001 * generation) for i in range(21)]
    return {"generation": generation, "train_seconds": 0.5 * generation, "test_accuracy": 0.1 + generation / 1000,
            "mean_fitness": -2.0 + generation / 100, "best_fitness": -1.0 + generation / 100, "batch_accuracy": 0.5,
            "allele_convergence": conv, "near_0_or_1": 0.0}


def _write_run(run_dir, generations, tail: str = "") -> None:
    run_dir.mkdir()
    lines = "".join(json.dumps(_point(g)) + "\n" for g in generations)
    (run_dir / "metrics.jsonl").write_text(lines + tail)


def test_plot_a_finished_run(tmp_path, capsys):
    run = tmp_path / "run"
    _write_run(run, range(10, 310, 10))
    assert main(["plot", str(run)]) == 0
    path = run / "curves.png"
    assert path.stat().st_size > 20_000  # four panels of curves
    assert capsys.readouterr().out.strip() == f"wrote {path}"
    with open(path, "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"


def test_plot_a_running_run_skips_the_line_being_written(tmp_path):
    run = tmp_path / "running"
    _write_run(run, [10, 20, 30], tail='{"generation": 40, "train_sec')
    curves = read_metrics(run)
    assert curves["generation"] == [10, 20, 30] and curves["train_seconds"] == [5.0, 10.0, 15.0]
    assert curves["test_accuracy"] == pytest.approx([0.11, 0.12, 0.13]) and len(curves["allele_convergence"][0]) == 21
    assert main(["plot", str(run), "--out", str(tmp_path / "x.png")]) == 0
    assert (tmp_path / "x.png").stat().st_size > 10_000


def test_plot_errors_are_clear(tmp_path, capsys):
    assert main(["plot", str(tmp_path)]) == 2  # bad input: exit 2, one line, no traceback
    err = capsys.readouterr().err
    assert re.search("nne-jax plot: .*metrics.jsonl: no such file", err) and "Traceback" not in err
    bad = tmp_path / "bad"
    _write_run(bad, [10], tail="garbage\n" + json.dumps(_point(20)) + "\n")
    assert main(["plot", str(bad)]) == 2
    assert re.search(r"metrics.jsonl:2: not a JSON line", capsys.readouterr().err)
