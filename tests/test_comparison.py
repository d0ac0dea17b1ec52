"""experiments.comparison: peer and ceiling rows from result files (synthetic files, known values)."""
import json

import numpy as np

from experiments import comparison


def _write(path, payload):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload))


def test_peer_rows_mean_sample_std_and_seconds_to_paper(tmp_path):
    peer = tmp_path / "peer"
    finals = {0: [0.5, 0.80, 0.86], 1: [0.5, 0.70, 0.88]}  # seed 1 reaches 78.8 % only at its last point
    for seed, acc in finals.items():
        _write(peer / f"0-9_wide_open_es_seed{seed}.json", {
            "curves": {"generation": [0, 10, 20], "train_seconds": [0.0, 5.0, 9.0], "test_accuracy": acc},
            "generations": 20, "wall_seconds": 9.0 + seed, "seed": seed, "config": {"sigma": 0.02, "optimizer": "adam(0.01)"},
            "device": "cpu", "command": "python -m experiments.peer final", "git_commit": "abc"})
    (row,) = comparison.peer_rows(peer, "0-9")
    assert row["model"] == "Open_ES (tuned)" and row["preset"] == "wide" and row["seeds"] == 2
    np.testing.assert_allclose(row["test_accuracy"], 87.0)
    np.testing.assert_allclose(row["std"], np.std([86.0, 88.0], ddof=1))
    assert row["seconds_to_paper_per_seed"] == [5.0, 9.0]
    np.testing.assert_allclose(row["seconds_to_paper"], 7.0)
    assert comparison.peer_rows(peer, "0-4") == []


def test_main_merges_rows_into_the_summary_and_keeps_others(tmp_path):
    table1, peer, ceiling = tmp_path / "table1", tmp_path / "peer", tmp_path / "ceiling"
    _write(table1 / "summary.json", [{"task": "0-9", "model": "NNE", "preset": "wide", "eval": "mean-weights", "test_accuracy": 88.0}])
    _write(ceiling / "summary.json", [{"task": "0-9", "name": "wide", "seed": 0, "steps": 2000, "train_accuracy": 99.0,
                                       "test_accuracy": 90.5, "wall_seconds": 30.0, "device": "cpu", "command": "c",
                                       "git_commit": "abc"}])
    peer.mkdir()
    comparison.main(["--table1", str(table1), "--peer", str(peer), "--ceiling", str(ceiling)])
    rows = json.loads((table1 / "summary.json").read_text())
    assert {(r["model"], r["test_accuracy"]) for r in rows} == {("NNE", 88.0), ("Ceiling (Adam on p)", 90.5)}
    comparison.main(["--table1", str(table1), "--peer", str(peer), "--ceiling", str(ceiling)])  # idempotent
    assert len(json.loads((table1 / "summary.json").read_text())) == 2
