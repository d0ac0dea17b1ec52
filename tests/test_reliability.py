"""Issue 14: runs and inputs that cannot lose or mix data. One test per numbered item of the issue.

All runs are tiny (60 genes, 8 genotypes, synthetic 784-pixel data) and share one compiled chunk.
"""
import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from nne_jax.checkpoint import (
    CheckpointsUnreadableError,
    RunLockedError,
    list_checkpoints,
    restore_checkpoint,
    run_lock,
    save_checkpoint,
)
from nne_jax.config import PRESETS, ConfigError, apply_overrides, with_fields
from nne_jax.records import dumps_strict, read_jsonl, write_atomic
from nne_jax.runner import NonFiniteFitnessError, ResumeRefusedError, evolve

ROOT = Path(__file__).resolve().parent.parent
TINY = with_fields(PRESETS["smoke"], num_genes=60, pop_size=8, num_hidden=16, generations=6, eval_every=2, batch_size=20)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    return {"train_x": rng.random((40, 784), dtype=np.float32), "train_y": np.arange(40) % 5,
            "test_x": rng.random((50, 784), dtype=np.float32), "test_y": np.arange(50) % 5}


def _run(data, out, generations=6, config=TINY, **kw):
    return evolve(with_fields(config, generations=generations), "0-4", 0, data, out, log=None, **kw)


def _identity(config=TINY):
    return {"task": "0-4", "seed": 0, **config.identity()}


def _generations(path):
    return [r["generation"] for r in read_jsonl(path)]


# 1 -------------------------------------------------------------------------------------------------
def test_1_run_directory_lock_refuses_a_second_run_and_recovers_a_stale_one(tmp_path, data):
    holder = subprocess.Popen(
        [sys.executable, "-c", ("import sys, time; from nne_jax.checkpoint import run_lock\n"
                                "with run_lock(sys.argv[1]):\n    print('held', flush=True); time.sleep(600)"), str(tmp_path)],
        stdout=subprocess.PIPE, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunLockedError, match=rf"pid {holder.pid} on host {socket.gethostname()}"):
            _run(data, tmp_path)
        assert not list_checkpoints(tmp_path) and not (tmp_path / "metrics.jsonl").exists()  # failed before any work
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert (tmp_path / ".lock").exists()  # the crash left its lock file behind
    with pytest.warns(UserWarning, match=rf"stale lock .* pid {holder.pid}"):
        run = _run(data, tmp_path)
    assert run["generations"] == 6 and not (tmp_path / ".lock").exists()  # released on exit
    with run_lock(tmp_path), run_lock(tmp_path):  # reentrant within one process
        pass


# 2 -------------------------------------------------------------------------------------------------
def test_2_torn_metrics_line_is_dropped_with_a_warning_and_rewrites_are_atomic(tmp_path, data, monkeypatch):
    _run(data, tmp_path, generations=4)
    metrics = tmp_path / "metrics.jsonl"
    with open(metrics, "a") as fh:
        fh.write('{"generation": 6, "train_sec')  # a writer killed mid-line
    with pytest.warns(UserWarning, match=r"metrics\.jsonl: dropping a torn last line"):
        _run(data, tmp_path, generations=6)
    assert _generations(metrics) == [2, 4, 6]
    # a failing rewrite (disk full, killed) leaves the old file whole and no temporary behind
    before = metrics.read_bytes()

    def broken_replace(*_):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("nne_jax.records.os.replace", broken_replace)
    with pytest.raises(OSError, match="No space"):
        write_atomic(metrics, "x\n")
    assert metrics.read_bytes() == before and sorted(p.name for p in tmp_path.glob(".metrics*")) == []
    # a line lost from the middle is rebuilt from the checkpoint's curves, not silently missing
    monkeypatch.undo()
    lines = metrics.read_text().splitlines()
    metrics.write_text("\n".join([lines[0], "garbage", lines[2]]) + "\n")
    with pytest.warns(UserWarning, match="unreadable line 2"):
        _run(data, tmp_path, generations=6)
    recs = read_jsonl(metrics)
    assert [r["generation"] for r in recs] == [2, 4, 6] and recs[1].get("rebuilt_from_checkpoint") is True


# 3 -------------------------------------------------------------------------------------------------
def test_3_unreadable_checkpoints_are_kept_and_restart_from_zero_needs_restart(tmp_path, data):
    _run(data, tmp_path, generations=6)
    files = list_checkpoints(tmp_path)
    for f in files:
        f.write_bytes(f.read_bytes()[:40])  # torn
    with pytest.raises(CheckpointsUnreadableError, match="none is readable") as err:
        _run(data, tmp_path, generations=6)
    assert all(f.name in str(err.value) for f in files) and "--restart" in str(err.value)
    assert list_checkpoints(tmp_path) == files  # nothing deleted
    with pytest.warns(UserWarning, match="setting aside unreadable checkpoint"):
        run = _run(data, tmp_path, generations=6, restart=True)
    assert run["resumed_from"] is None and run["generations"] == 6
    assert sorted(p.name for p in tmp_path.glob("*.unreadable")) == sorted(f.name + ".unreadable" for f in files)
    assert _generations(tmp_path / "metrics.jsonl") == [2, 4, 6]  # no duplicated history
    assert _generations(tmp_path / "metrics.jsonl.before-restart") == [2, 4, 6]  # the old one kept


# 4 -------------------------------------------------------------------------------------------------
def test_4_resume_is_exact_or_refused(tmp_path, data, monkeypatch):
    run = _run(data, tmp_path, generations=4)
    assert run["generations"] == 4 and run["resumed_from"] is None
    with pytest.raises(ResumeRefusedError, match="already holds generation 4.*--generations >= 4"):
        _run(data, tmp_path, generations=2)
    # another device split: refused, naming the --devices that resumes exactly
    step, state = restore_checkpoint(tmp_path, _identity())
    save_checkpoint(tmp_path, step, {**state, "population_shards": np.asarray(2)}, _identity())
    with pytest.raises(ResumeRefusedError, match="split over 2 device.*--devices 2"):
        _run(data, tmp_path, generations=6)
    save_checkpoint(tmp_path, step, {**state, "population_shards": np.asarray(1)}, _identity())
    assert _run(data, tmp_path, generations=6)["resumed_from"] == 4
    # an unusable --out is found before any compute
    monkeypatch.setattr("nne_jax.runner.make_task", lambda *a: pytest.fail("computed before checking --out"))
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(NotADirectoryError, match="not a directory"):
        _run(data, a_file)
    if os.geteuid() != 0:  # root writes anywhere
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o500)
        with pytest.raises(PermissionError):
            _run(data, ro / "run")


# 5 -------------------------------------------------------------------------------------------------
def test_5_fitness_non_finite_throughout_a_chunk_stops_the_run_and_results_are_strict_json(tmp_path, data):
    hot = with_fields(TINY, temperature=1e-45)  # logits / 1e-45 overflow: every fitness is NaN
    with pytest.raises(NonFiniteFitnessError, match="non-finite .* every generation of generations 1..2"):
        _run(data, tmp_path, config=hot)
    assert not list_checkpoints(tmp_path) and _generations(tmp_path / "metrics.jsonl") == []
    assert dumps_strict({"a": float("nan"), "b": [np.float32("inf"), 1.5]}) == '{"a": null, "b": [null, 1.5]}'


# 6 -------------------------------------------------------------------------------------------------
def test_6_clipped_multipliers_of_equation_3_are_warned_on_the_host(tmp_path, data):
    from nne_jax.runner import clipped_fraction

    assert float(clipped_fraction(np.array([-1.0, -0.01, 0.5, 2.0]), 10.0)) == 0.25
    signed = apply_overrides(TINY, ["update_rule=weak_selection", "fitness_shaping=none", "fitness=neg_cross_entropy",
                                    "eps=20", "p_min=0", "p_max=1"])  # fitness ≈ -1.6: 1 + 20 f < 0
    with pytest.warns(UserWarning, match=r"100% of equation \(3\)'s multipliers .* clipped"):
        _run(data, tmp_path, generations=2, config=signed)


# 7 -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("field, value, message", [
    ("antithetic", "false", "antithetic must be true or false, got 'false'"),
    ("generations", 2.5, "generations must be an int"),
    ("eps", True, "eps must be a finite number"),
    ("eps", "abc", "eps must be a finite number"),
    ("signsgd_lrs", "abc", "signsgd_lrs must be a non-empty list"),
    ("temperature", float("nan"), "temperature must be a finite number"),
    ("k_cap", 5000, "k_cap=5000 exceeds num_hidden"),
    ("fan_in_scale", 1, "fan_in_scale must be true or false"),
])
def test_7_every_field_is_checked_by_type_and_range_naming_it(field, value, message):
    with pytest.raises(ConfigError, match=message):
        with_fields(TINY, **{field: value})


def test_7_set_seed_batch_size_and_labels_are_checked(tmp_path, data):
    with pytest.raises(ConfigError, match="temperature expects a number, got 'abc'"):
        apply_overrides(TINY, ["temperature=abc"])
    with pytest.raises(ConfigError, match="seed must be an int in 0..4294967295"):
        evolve(TINY, "0-4", 2**32, data, tmp_path, log=None)
    with pytest.raises(ConfigError, match="batch_size=100 is larger than the training set \\(40 examples\\)"):
        _run(data, tmp_path, config=with_fields(TINY, batch_size=100))
    with pytest.raises(ConfigError, match=r"classes \[0, 1, 2, 3, 4\] but the data holds labels \[7\]"):
        _run({**data, "train_y": np.where(np.arange(40) == 3, 7, data["train_y"])}, tmp_path)
    assert with_fields(TINY, eps=2).identity()["eps"] == 2.0  # 2 and 2.0 from JSON are one run


# 8 -------------------------------------------------------------------------------------------------
def test_8_cli_exit_codes_one_line_errors_debug_and_version(tmp_path, capsys):
    from nne_jax import __version__
    from nne_jax.cli import main

    with pytest.raises(SystemExit) as ex:
        main(["--version"])
    assert ex.value.code == 0 and __version__ in capsys.readouterr().out
    assert main(["presets"]) == 0
    capsys.readouterr()
    assert main(["run", "--preset", "smoke", "--seed", str(2**32)]) == 2
    err = capsys.readouterr().err
    assert "--seed" in err and "4294967295" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    bad = tmp_path / "bad.json"
    bad.write_text('{"antithetic": "false"}')
    assert main(["run", "--preset", "smoke", "--config", str(bad)]) == 2
    assert "antithetic must be true or false" in capsys.readouterr().err
    assert main(["--debug", "run", "--preset", "smoke", "--devices", "0"]) == 2
    assert "Traceback" in capsys.readouterr().err
    # the console script / python -m exit 0 on success (it used to exit 1 after every command)
    done = subprocess.run([sys.executable, "-m", "nne_jax", "presets"], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False)
    assert done.returncode == 0 and done.stderr == ""


# 9 -------------------------------------------------------------------------------------------------
class _Trickle(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "1000000")
        self.end_headers()
        try:
            for _ in range(200):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.05)
        except OSError:
            pass

    def log_message(self, *args):
        pass


def test_9_downloads_have_an_overall_deadline_progress_and_an_offline_switch(tmp_path, monkeypatch):
    from nne_jax.data.download import DownloadError, download_file
    from nne_jax.data.errors import DataNotFoundError
    from nne_jax.data.locate import locate_files

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Trickle)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    lines = []
    try:
        monkeypatch.setattr("nne_jax.data.download._PROGRESS_EVERY", 0.2)
        with pytest.raises(DownloadError, match="deadline of 1 s for this file passed"):
            download_file("f.gz", tmp_path, [f"http://127.0.0.1:{server.server_port}/"], timeout=30, deadline=1.0,
                          progress=lines.append)
    finally:
        server.shutdown()
    assert lines and lines[0].startswith("downloading http://127.0.0.1") and "of 1.0 MB" in lines[0]
    monkeypatch.setenv("NNE_OFFLINE", "1")
    monkeypatch.delenv("NNE_DATA_DIR", raising=False)
    with pytest.raises(DownloadError, match="offline"):
        download_file("f.gz", tmp_path, ["http://127.0.0.1:9/"])
    with pytest.raises(DataNotFoundError, match="NNE_OFFLINE=1") as err:
        locate_files(["train-labels-idx1-ubyte"], data_dir=None, cache_dir=tmp_path / "cache",
                     mirrors=["http://127.0.0.1:9/"], sha256=None, timeout=1)
    assert "127.0.0.1:9" not in str(err.value)  # the network was never tried


# the fault-injection experiment: the whole --quick mode, as CI runs it ------------------------------------
@pytest.mark.slow
@pytest.mark.skipif(not (ROOT / "experiments" / "faults.py").exists(), reason="experiments/faults.py not present")
def test_faults_experiment_quick_runs_every_fault_and_loses_nothing(tmp_path):
    """The whole ``--quick`` experiment, as the issue asks CI to run it (about 90 s on 2 cores)."""
    out = tmp_path / "summary.json"
    done = subprocess.run([sys.executable, "-m", "experiments.faults", "--quick", "--out", str(out)],
                          capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                          timeout=900, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(out.read_text())
    kinds = summary["faults"]
    assert summary["complete"] is True
    assert set(kinds) == {"sigkill", "corrupt_newest_checkpoint", "corrupt_all_checkpoints", "torn_metrics",
                          "two_runs_one_directory", "disk_full", "non_finite_fitness"}
    assert all(k["data_lost"] == 0 for k in kinds.values()), kinds
    assert kinds["sigkill"]["injected"] >= 20 and kinds["sigkill"]["recovered_exact"] == kinds["sigkill"]["injected"]
    moments = {kill["moment"] for chain in kinds["sigkill"]["details"] for kill in chain["kills"]}
    assert {"checkpoint", "metrics"} <= moments  # inside a checkpoint write and inside a metrics write
    for name in ("corrupt_newest_checkpoint", "corrupt_all_checkpoints", "torn_metrics"):
        assert kinds[name]["recovered_exact"] == kinds[name]["injected"] > 0, (name, kinds[name])
    assert kinds["corrupt_all_checkpoints"]["refused_with_message"] == kinds["corrupt_all_checkpoints"]["injected"]
    assert kinds["two_runs_one_directory"]["refused_with_message"] == 1
    assert "skipped" in kinds["disk_full"] or kinds["disk_full"]["refused_with_message"] == 1
    assert kinds["non_finite_fitness"]["refused_with_message"] == 1
    for key in ("config", "seed", "git_commit", "device", "wall_seconds"):
        assert key in summary
