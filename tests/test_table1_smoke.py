"""The Table 1 experiment's smoke preset: end to end on real MNIST, the learning signal is real."""
import json
import os

import numpy as np
import pytest

pytestmark = pytest.mark.skipif(not os.environ.get("NNE_DATA_DIR"), reason="NNE_DATA_DIR not set (real MNIST needed)")


def test_smoke_preset_beats_chance_and_resumes(tmp_path):
    from experiments import table1

    # 20 generations, then the same command continued to 30: resumes from the checkpoint
    table1.main(["--task", "0-9", "--preset", "smoke", "--seed", "0", "--out", str(tmp_path), "--no-baselines", "--generations", "20"])
    result = table1.main(["--task", "0-9", "--preset", "smoke", "--seed", "0", "--out", str(tmp_path), "--no-baselines", "--generations", "30"])
    acc = result["final"]["mean-weights"]
    assert acc > 20.0, f"mean-weight network only {acc:.1f}% after 30 generations (chance is 10%)"
    curve = result["curves"]["test_accuracy"]
    assert result["curves"]["generation"] == [0, 10, 20, 30]
    assert curve[-1] > curve[0] + 0.08
    saved = json.loads((tmp_path / "0-9_smoke_seed0.json").read_text())
    for key in ("config", "seed", "git_commit", "device", "wall_seconds", "curves", "command"):
        assert key in saved
    # an uninterrupted run gives bitwise the same allele frequencies (PRNG stream independent of cuts)
    straight = tmp_path / "straight"
    again = table1.main(["--task", "0-9", "--preset", "smoke", "--seed", "0", "--out", str(straight), "--no-baselines", "--generations", "30"])
    np.testing.assert_array_equal(np.asarray(again["curves"]["test_accuracy"]), np.asarray(curve))


def test_changed_config_is_refused(tmp_path):
    from experiments import table1
    from nne_jax.checkpoint import ConfigMismatchError

    table1.main(["--task", "0-4", "--preset", "smoke", "--seed", "1", "--out", str(tmp_path), "--no-baselines", "--generations", "10"])
    with pytest.raises(ConfigMismatchError, match="eps"):
        table1.main(["--task", "0-4", "--preset", "smoke", "--seed", "1", "--out", str(tmp_path), "--no-baselines", "--generations", "20", "--set", "eps=2.0"])
    with pytest.raises(SystemExit, match="FIELD=VALUE"):
        table1.main(["--task", "0-4", "--preset", "smoke", "--set", "learning_rate=2"])
