"""experiments.faithful_gap: the paper's method is kept in every setting; results merge and resume."""
import json

import numpy as np
import pytest

from experiments import common, faithful_gap
from nne_jax.checkpoint import save_checkpoint
from nne_jax.config import PRESETS


def test_every_setting_keeps_the_papers_method():
    base = PRESETS["faithful"]
    for name, overrides in faithful_gap.SETTINGS.items():
        config = faithful_gap.setting_config(name, 7)
        assert config.generations == 7
        assert config.fitness == base.fitness == "delta"
        assert config.strategy.update_rule == "weak_selection" and config.strategy.init_freqs == "uniform"
        assert not config.strategy.antithetic and config.pop_size == 1000 and config.strategy.fitness_shaping == "none"
        assert config.beta == base.beta
        changed = {k for k, v in config.flat().items() if v != base.flat()[k]} - {"generations", "eval_every"}
        assert changed == {o.split("=")[0] for o in overrides}, name


def test_unknown_setting_is_named():
    with pytest.raises(ValueError, match="unknown setting 'nope'"):
        faithful_gap.setting_config("nope", 10)


def test_a_short_setting_runs_records_and_resumes(tmp_path):
    out = faithful_gap.main(["screen", "--settings", "scale-0.1", "--generations", "2", "--out", str(tmp_path)])
    (run,) = out["runs"]
    assert run["setting"] == "scale-0.1" and run["generations"] == 2 and run["curves"]["generation"][-1] == 2
    assert set(run["final"]) == {"mean-weights", "mode-genotype", "sampled-mean"}
    assert run["config"]["logit_scale"] == 0.1 and "git_commit" in run and "command" in run
    assert [(s["from_generation"], s["to_generation"], s["git_commit"]) for s in run["segments"]] == [(0, 2, run["git_commit"])]
    again = faithful_gap.main(["screen", "--settings", "scale-0.1", "--generations", "2", "--out", str(tmp_path)])
    assert len(again["runs"]) == 1 and again["runs"][0]["final"] == run["final"]  # resumed from its checkpoint, replaced
    assert json.loads((tmp_path / "faithful_gap.json").read_text())["runs"][0]["setting"] == "scale-0.1"


def test_a_run_resumed_across_commits_lists_each_segment(tmp_path, monkeypatch):
    commits = iter(["aaa", "bbb", "ccc"])
    monkeypatch.setattr(common, "git_commit", lambda: next(commits))
    common.record_segment(tmp_path, "cmd")  # a fresh run, by commit aaa
    save_checkpoint(tmp_path, 300, {"x": np.zeros(2)}, {"c": 1})
    common.record_segment(tmp_path, "cmd")  # killed after 300; bbb resumes and is killed before its next checkpoint
    common.record_segment(tmp_path, "cmd")  # ccc resumes from 300 and finishes
    segments = common.run_segments(tmp_path, 1000)
    assert [(s["git_commit"], s["from_generation"], s["to_generation"]) for s in segments] == [("aaa", 0, 300), ("ccc", 300, 1000)]
