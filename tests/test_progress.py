"""Progress: a tqdm bar on a terminal (a real pseudo-terminal), plain lines otherwise; compilation reported apart."""

from __future__ import annotations

import io
import logging
import os
import pty

import pytest

from nne_jax.progress import Progress, steady_rate

POINT = {"mean_fitness": -1.5, "test_accuracy": 0.5, "near_0_or_1": 0.01}


def _feed(progress: Progress) -> None:
    """Three chunks of 10 generations: the first with 30 s of compilation, then 2 s each (5 gen/s)."""
    for generation, seconds in ((10, 32.0), (20, 2.0), (30, 2.0)):
        progress.update(generation, seconds, POINT)
    progress.close()


def test_steady_rate_leaves_out_the_first_chunk():
    assert steady_rate([(10, 32.0)]) is None
    assert steady_rate([(10, 32.0), (10, 2.0), (20, 6.0)]) == pytest.approx(30 / 8)


def test_plain_lines_when_not_a_terminal():
    stream = io.StringIO()
    progress = Progress(30, 0, "[t]", stream=stream)
    assert not progress.is_bar
    _feed(progress)
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("[t] gen     10/30  first chunk 32.0 s (with compilation)")
    assert lines[1] == "[t] compilation ≈ 30.0 s (first chunk 32.0 s for 10 generations; steady 5.00 gen/s)"
    assert "gen     20/30    5.00 gen/s" in lines[2] and "ETA   0.0 min" in lines[-1] and "\r" not in stream.getvalue()
    assert len(lines) == 4  # one line per chunk, the compilation once


def test_resumed_run_counts_from_where_it_starts():
    stream = io.StringIO()
    progress = Progress(50, 20, "[t]", stream=stream)
    progress.update(30, 12.0, POINT)
    progress.update(40, 4.0, POINT)
    assert progress.chunks == [(10, 12.0), (10, 4.0)]
    assert "compilation ≈ 8.0 s" in stream.getvalue() and "2.50 gen/s" in stream.getvalue()


def test_tqdm_bar_on_a_pseudo_terminal():
    master, slave = pty.openpty()
    with os.fdopen(slave, "w", buffering=1) as terminal:
        progress = Progress(30, 0, "[t]", stream=terminal)
        assert progress.is_bar
        _feed(progress)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # the terminal's other end is closed: everything was read
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    out = b"".join(chunks).decode()
    assert "\r" in out and "█" in out and "30/30 gen" in out  # a redrawn bar, filled to the end
    assert "5.00 gen/s" in out and "acc 50.00%" in out
    assert "compilation ≈ 30.0 s" in out  # reported once, above the bar
    assert out.count("compilation ≈") == 1 and "gen     10/30" not in out  # no plain lines


def test_library_messages_go_through_logging_to_stdout(capsys):
    """The CLI's logging setup prints ``nne_jax.*`` records (e.g. the runner's resume notice) as plain lines."""
    from nne_jax.cli import configure_logging
    from nne_jax.runner import logger

    configure_logging()
    configure_logging()  # idempotent: one handler
    logger.info("resumed from generation %d in %s", 20, "runs/x")
    logging.getLogger("nne_jax.runner").debug("not shown at INFO")
    assert capsys.readouterr().out == "resumed from generation 20 in runs/x\n"


def test_nne_jax_run_draws_a_bar_on_a_terminal(tmp_path):
    """End to end: ``nne-jax run`` with its stdout on a pseudo-terminal draws the bar, not plain lines."""
    import subprocess
    import sys

    from test_datasets import write_kmnist_style

    write_kmnist_style(tmp_path / "data")
    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    cmd = [
        sys.executable,
        "-m",
        "nne_jax",
        "run",
        "--data-dir",
        str(tmp_path / "data"),
        "--sha256",
        "none",
        "--classes",
        "0,1",
        "--preset",
        "smoke",
        "--generations",
        "30",
        "--set",
        "num_hidden=50",
        "--set",
        "batch_size=20",
        "--out",
        str(tmp_path / "run"),
        "--devices",
        "1",
    ]
    proc = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=subprocess.PIPE, env=env, close_fds=True)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err.decode()[-3000:]
    out = b"".join(chunks).decode()
    assert "█" in out and "\r" in out and "30/30 gen" in out and "gen/s" in out
    assert out.count("compilation ≈") == 1 and "gen     30/30" not in out  # the bar, not the plain lines
