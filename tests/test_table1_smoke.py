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
    result = table1.main(
        ["--task", "0-9", "--preset", "smoke", "--seed", "0", "--out", str(tmp_path), "--no-baselines", "--generations", "30"]
    )
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
    again = table1.main(
        ["--task", "0-9", "--preset", "smoke", "--seed", "0", "--out", str(straight), "--no-baselines", "--generations", "30"]
    )
    np.testing.assert_array_equal(again["allele_freqs"], result["allele_freqs"])
    assert again["curves"]["test_accuracy"] == curve


def test_seeds_give_mean_and_sample_std_with_the_p0_control(tmp_path):
    from experiments import table1

    out = table1.main(["--task", "0-4", "--preset", "smoke", "--seeds", "0", "1", "--out", str(tmp_path), "--generations", "10"])
    rows = {(r["model"], r["eval"]): r for r in out["rows"]}
    nne = rows[("NNE", "mean-weights")]
    assert nne["seeds"] == 2 and nne["seed_list"] == [0, 1] and "ddof=1" in nne["std_kind"]
    assert nne["test_accuracy"] == pytest.approx(np.mean(nne["per_seed"]))
    assert nne["std"] == pytest.approx(np.std(nne["per_seed"], ddof=1))
    for start in ("sampled-mean", "mean-weights"):
        control = rows[("SignSGD from p0 (control)", start)]
        assert control["generations"] == 0 and control["seeds"] == 2
    assert rows[("SGD", None)]["std"] == pytest.approx(np.std(rows[("SGD", None)]["per_seed"], ddof=1))
    # each seed's run is its own (different W, data subset, stream)
    assert out["runs"][0]["allele_freqs"].tolist() != out["runs"][1]["allele_freqs"].tolist()


def test_faithful_method_learns(tmp_path):
    """The paper's configuration itself (δ fitness, equation (3), i.i.d. genotypes, no shaping or bounds,
    p¹ ~ U[0, 1]ⁿ) learns on a small MNIST 0-4 problem: W p beats its own start clearly."""
    from nne_jax.config import PRESETS, with_fields
    from nne_jax.data.tasks import load_task_data
    from nne_jax.runner import evolve

    faithful = PRESETS["faithful"]
    assert faithful.fitness == "delta" and faithful.strategy.update_rule == "weak_selection"
    assert faithful.strategy.fitness_shaping == "none" and not faithful.strategy.antithetic
    config = with_fields(faithful, num_genes=1000, pop_size=200, per_class=40, generations=40, eval_every=20)
    data = load_task_data("0-4", config.per_class, 0)
    run = evolve(config, "0-4", 0, data, tmp_path, log=None)
    acc = run["curves"]["test_accuracy"]
    assert acc[-1] > acc[0] + 0.15, acc


def test_changed_config_is_refused(tmp_path):
    from experiments import table1
    from nne_jax.checkpoint import ConfigMismatchError

    table1.main(["--task", "0-4", "--preset", "smoke", "--seed", "1", "--out", str(tmp_path), "--no-baselines", "--generations", "10"])
    with pytest.raises(ConfigMismatchError, match="eps"):
        table1.main(
            [
                "--task",
                "0-4",
                "--preset",
                "smoke",
                "--seed",
                "1",
                "--out",
                str(tmp_path),
                "--no-baselines",
                "--generations",
                "20",
                "--set",
                "eps=2.0",
            ]
        )
    with pytest.raises(SystemExit, match="FIELD=VALUE"):
        table1.main(["--task", "0-4", "--preset", "smoke", "--set", "learning_rate=2"])
