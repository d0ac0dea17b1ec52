"""The command line: presets, a short run, resume, clear errors."""

import json
import os
import subprocess
import sys

import pytest

from nne_jax.cli import main


def test_presets_listing(capsys):
    main(["presets"])
    listed = json.loads(capsys.readouterr().out)
    assert {"faithful", "fast", "smoke"} <= set(listed)
    assert listed["faithful"]["update_rule"] == "weak_selection" and listed["faithful"]["fitness_shaping"] == "none"


def test_bad_override_is_a_clear_error(capsys):
    assert main(["run", "--preset", "smoke", "--set", "nonsense=1"]) == 2
    assert "FIELD=VALUE" in capsys.readouterr().err
    assert main(["run", "--preset", "smoke", "--set", "antithetic=maybe"]) == 2
    assert "true or false" in capsys.readouterr().err


@pytest.mark.skipif(not os.environ.get("NNE_DATA_DIR"), reason="NNE_DATA_DIR not set (real MNIST needed)")
def test_cli_run_resume_and_outputs(tmp_path):
    out = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "nne_jax",
        "run",
        "--preset",
        "smoke",
        "--task",
        "0-4",
        "--generations",
        "20",
        "--out",
        str(out),
        "--devices",
        "2",
    ]
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}  # --devices decides
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert first.returncode == 0, first.stderr
    assert "gen     20/20" in first.stdout and "gen/s" in first.stdout and "ETA" in first.stdout
    cmd[cmd.index("20")] = "30"
    second = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert second.returncode == 0, second.stderr
    assert "resumed from generation 20" in second.stdout
    lines = [json.loads(ln) for ln in (out / "metrics.jsonl").read_text().splitlines()]
    assert [ln["generation"] for ln in lines] == [10, 20, 30]
    result = json.loads((out / "result.json").read_text())
    assert result["devices"] == 2 and result["final_test_accuracy"]["mean-weights"] > 0.3  # 5 classes: chance 0.2
    assert (out / "curve.png").stat().st_size > 1000
