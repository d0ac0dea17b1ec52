"""Provenance (issue 16, item 10): result files record a clean commit, or say they were allowed dirty."""
import importlib
import json
import os
import subprocess
import sys

import pytest

from experiments import common


def _git(root, *args):
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


def test_git_commit_ignores_changes_under_results(tmp_path):
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "config", "user.email", "t@t")
    _git(tmp_path, "config", "user.name", "t")
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "r.json").write_text("{}")
    (tmp_path / "code.py").write_text("x = 1\n")
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-qm", "init")
    sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True, check=True).stdout.strip()
    assert common.git_commit(tmp_path) == sha
    (tmp_path / "results" / "r.json").write_text('{"new": 1}')  # a result rewritten: still clean
    assert common.git_commit(tmp_path) == sha
    (tmp_path / "code.py").write_text("x = 2\n")  # code changed: dirty
    assert common.git_commit(tmp_path) == sha + "-dirty"
    assert common.git_commit(tmp_path / "no-such-dir") == "unknown"


@pytest.fixture
def dirty(monkeypatch):
    monkeypatch.setattr(common, "git_commit", lambda root=None: "abc123-dirty")
    monkeypatch.setitem(common._PROVENANCE, "allow_dirty", False)


def test_require_clean_refuses_results_from_a_dirty_tree(dirty, tmp_path):
    with pytest.raises(SystemExit, match="--allow-dirty"):
        common.require_clean(common.RESULTS / "table2")
    with pytest.raises(SystemExit, match="uncommitted"):
        common.require_clean(common.RESULTS)
    assert common.require_clean(tmp_path) == "abc123-dirty"  # outside results/: allowed, not flagged
    assert common.metadata("cmd")["allow_dirty"] is False
    assert common.require_clean(common.RESULTS / "theory", allow_dirty=True) == "abc123-dirty"
    meta = common.metadata("cmd")
    assert meta["allow_dirty"] is True and meta["git_commit"] == "abc123-dirty"
    assert common.require_clean(common.RESULTS / "table1") == "abc123-dirty"  # nested calls inherit the permission


def test_require_clean_accepts_a_clean_tree(monkeypatch):
    monkeypatch.setattr(common, "git_commit", lambda root=None: "abc123")
    monkeypatch.setitem(common._PROVENANCE, "allow_dirty", False)
    assert common.require_clean(common.RESULTS / "table2") == "abc123"
    assert common.metadata("cmd")["allow_dirty"] is False
    monkeypatch.setattr(common, "git_commit", lambda root=None: "unknown")
    with pytest.raises(SystemExit, match="unknown"):
        common.require_clean(common.RESULTS / "table2")


@pytest.mark.parametrize("module, argv", [
    ("experiments.theory", []),
    ("experiments.table2", ["--h", "1000"]),
    ("experiments.table1", ["--task", "0-4", "--preset", "smoke"]),
    ("experiments.ceiling", []),
    ("experiments.peer", ["sweep"]),
    ("experiments.faithful_gap", ["screen"]),
    ("experiments.ablations", []),
    ("experiments.further_work", ["fixation"]),
    ("experiments.figures", ["convergence"]),
    ("experiments.comparison", []),
    ("benchmarks.generation", ["--quick"]),
])
def test_every_experiment_refuses_before_computing(dirty, module, argv):
    main = importlib.import_module(module).main
    with pytest.raises(SystemExit, match="--allow-dirty"):
        main(argv)


def test_recorded_command_names_the_module_as_run_with_python_m(tmp_path):
    """``python -m pkg.mod`` is recorded as such (it was once recorded as ``python -m mod``)."""
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "mod.py").write_text(
        "import json\nfrom experiments import common\nprint(json.dumps(common.metadata()['command']))\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(common.RESULTS.parent), str(tmp_path)])}
    out = subprocess.run([sys.executable, "-m", "pkg.mod", "--x", "1"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, check=True).stdout
    assert json.loads(out.strip().splitlines()[-1]) == "python -m pkg.mod --x 1"
