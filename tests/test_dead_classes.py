"""experiments.dead_classes: per-class recall of a run's W p, read back from its checkpoint."""
import numpy as np
import pytest

from experiments.dead_classes import analyse, dead_classes, per_class_recall
from nne_jax.config import PRESETS, with_fields
from nne_jax.data.tasks import load_task_data
from nne_jax.runner import evolve


def test_per_class_recall_known_values():
    labels = np.array([0, 0, 1, 1, 1, 2, 2, 2, 2])
    preds = np.array([0, 1, 1, 1, 0, 1, 1, 1, 1])  # class 2 never predicted
    recall = per_class_recall(preds, labels, 4)
    np.testing.assert_allclose(recall[:3], [50.0, 200 / 3, 0.0])
    assert np.isnan(recall[3])  # no example of class 3
    assert dead_classes(recall) == [2] and dead_classes(recall, below=60.0) == [0, 2]
    with pytest.raises(ValueError, match="differ in shape"):
        per_class_recall(preds[:3], labels, 3)


def test_analyse_reads_the_runs_checkpoint_and_agrees_with_its_own_evaluation(tmp_path, monkeypatch):
    config = with_fields(PRESETS["smoke"], name="smoke-short", generations=10)
    monkeypatch.setitem(PRESETS, "smoke-short", config)
    data = load_task_data("0-4", config.per_class, 0)
    run = evolve(config, "0-4", 0, data, tmp_path / "0-4_smoke-short_seed0", log=None)
    row = analyse("0-4", "smoke-short", 0, tmp_path)
    assert row["generation"] == config.generations and set(row["per_class_recall"]) == {"0", "1", "2", "3", "4"}
    # the same W p the run ended with: its last curve point is this accuracy
    assert row["test_accuracy"] == pytest.approx(100 * run["curves"]["test_accuracy"][-1], abs=1e-3)
    counts = np.bincount(data["test_y"], minlength=5)
    recall = np.array([row["per_class_recall"][str(c)] for c in range(5)])
    assert row["test_accuracy"] == pytest.approx(float(recall @ counts / counts.sum()), abs=0.05)
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        analyse("0-4", "smoke-short", 1, tmp_path)
