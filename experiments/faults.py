"""Fault injection on a small NNE run (issue 14): kills, torn files, two runs, a full disk, non-finite fitness.

    python -m experiments.faults --quick      # 20 SIGKILLs and every other fault once, under 2 minutes on 2 cores
    python -m experiments.faults              # more kills and repeats

The fault stages (and the SIGKILL chains, split into ``--jobs`` lanes) run side by side, one worker
process per lane at a time; each stage draws its random moments from its own seeded stream.

Every run here is the runner's own code path (:func:`nne_jax.runner.evolve` under the CLI's exit-status
mapping :func:`nne_jax.cli.guarded`) in a separate process, on a tiny problem so that dozens of
processes fit in CI: 200 genes, 20 genotypes, 32 hidden units, synthetic data (uniform-noise 784-pixel
images, 5 classes; ours: no MNIST needed, the faults are about files and processes, not learning).
An uninterrupted run gives the reference. For each fault kind the summary counts

* ``injected`` — faults injected;
* ``recovered_exact`` — runs that, resumed after the fault, ended with allele frequencies bitwise equal
  to the uninterrupted run's;
* ``refused_with_message`` — processes that stopped with a non-zero exit status and a one-line message
  saying why (the intended outcome for two runs on one directory, unreadable checkpoints, NaN fitness);
* ``data_lost`` — metrics lines (generation, accuracy, fitness, convergence) or results lost, changed or
  mixed with another run's, compared with the uninterrupted run; must be 0.

Writes ``results/reliability/summary.json`` (or ``--out``).
"""
from __future__ import annotations

import argparse
import concurrent.futures
import copy
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import warnings
from pathlib import Path
from typing import Any

SEED = 0
TASK = "0-4"
GENERATIONS = 24
# ours: a tiny problem, so dozens of processes fit in CI
OVERRIDES = ["num_genes=200", "pop_size=20", "num_hidden=32", "eval_every=2", "batch_size=50", "per_class=20"]
KINDS = ("sigkill", "corrupt_newest_checkpoint", "corrupt_all_checkpoints", "torn_metrics", "two_runs_one_directory",
         "disk_full", "non_finite_fitness")
COMPARED = ("generation", "test_accuracy", "mean_fitness", "best_fitness", "batch_accuracy", "allele_convergence")


def _config(extra: list[str] = ()) -> Any:
    from nne_jax.config import PRESETS, apply_overrides, with_fields

    return apply_overrides(with_fields(PRESETS["smoke"], generations=GENERATIONS), OVERRIDES + list(extra))


def _data() -> dict[str, Any]:
    import numpy as np

    rng = np.random.default_rng(1234)
    return {"train_x": rng.random((100, 784), dtype=np.float32), "train_y": np.arange(100) % 5,
            "test_x": rng.random((200, 784), dtype=np.float32), "test_y": np.arange(200) % 5}


def worker(run_dir: str, extra: list[str], restart: bool, cache: str) -> int:
    """One run (or resume) in ``run_dir``; its exit status as the CLI gives it."""
    import jax

    jax.config.update("jax_compilation_cache_dir", cache)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    from nne_jax.checkpoint import run_lock
    from nne_jax.cli import guarded
    from nne_jax.records import dumps_strict, write_atomic
    from nne_jax.runner import evolve

    def go() -> None:
        config = _config(extra)
        with run_lock(run_dir):
            res = evolve(config, TASK, SEED, _data(), run_dir, log=lambda line: print(line, flush=True), restart=restart)
            write_atomic(Path(run_dir) / "result.json",
                         dumps_strict({"config": res["config"], "generations": res["generations"],
                                       "allele_freqs": res["state"].allele_freqs}) + "\n")

    return guarded(go, prog="faults-worker")


class Lab:
    """Starts workers, injects faults, checks directories against the uninterrupted reference."""

    def __init__(self, root: Path, seed: int):
        self.root, self.seed, self.rng = root, seed, random.Random(seed)
        self.template_lock = threading.Lock()
        self.cache = str(root / "jax_cache")
        self.env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "NNE_FAULT_KILL")}
        self.env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent) + os.pathsep + self.env.get("PYTHONPATH", "")
        self.reference: dict[str, Any] = {}
        self.base_seconds = 5.0

    def fork(self, stream: str) -> Lab:
        """The same lab with its own random stream (``stream`` names it), for a stage run beside others."""
        lab = copy.copy(self)
        lab.rng = random.Random(f"{self.seed}:{stream}")
        return lab

    def start(self, run_dir: Path, extra: list[str] = (), restart: bool = False, kill_at: str | None = None) -> subprocess.Popen:
        cmd = [sys.executable, "-m", "experiments.faults", "--worker", str(run_dir), "--cache", self.cache]
        cmd += [a for s in extra for a in ("--set", s)] + (["--restart"] if restart else [])
        env = dict(self.env, **({"NNE_FAULT_KILL": kill_at} if kill_at else {}))
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)

    def run(self, run_dir: Path, extra: list[str] = (), restart: bool = False, kill_at: str | None = None) -> tuple[int, str]:
        proc = self.start(run_dir, extra, restart, kill_at)
        try:
            _, err = proc.communicate(timeout=1800)
        except subprocess.TimeoutExpired:
            proc.kill()  # never leave a worker behind
            proc.communicate()
            raise
        return proc.returncode, err

    def make_reference(self) -> None:
        from nne_jax.records import read_jsonl

        ref = self.root / "reference"
        self.run(ref)  # compiles once into the persistent cache
        shutil.rmtree(ref)
        start = time.perf_counter()
        code, err = self.run(ref)
        self.base_seconds = time.perf_counter() - start
        if code != 0:
            raise RuntimeError(f"the uninterrupted reference run failed: {err}")
        self.reference = {"freqs": self.final_freqs(ref), "lines": {r["generation"]: r for r in _quiet(read_jsonl, ref / "metrics.jsonl")}}

    def final_freqs(self, run_dir: Path) -> Any:
        import numpy as np

        from nne_jax.checkpoint import restore_checkpoint

        identity = {"task": TASK, "seed": SEED, **_config().identity()}
        got = _quiet(restore_checkpoint, run_dir, identity)
        return None if got is None or got[0] != GENERATIONS else np.asarray(got[1]["allele_freqs"])

    def verdict(self, run_dir: Path) -> tuple[bool, int]:
        """(final allele frequencies bitwise equal to the reference, metrics lines/results lost or mixed)."""
        import numpy as np

        from nne_jax.records import read_jsonl

        freqs = self.final_freqs(run_dir)
        exact = freqs is not None and np.array_equal(freqs, self.reference["freqs"])
        lines = {r["generation"]: r for r in _quiet(read_jsonl, run_dir / "metrics.jsonl")} if (run_dir / "metrics.jsonl").exists() else {}
        lost = sum(g not in lines or any(lines[g].get(k) != ref.get(k) for k in COMPARED)
                   for g, ref in self.reference["lines"].items())
        lost += len(set(lines) - set(self.reference["lines"]))
        result = run_dir / "result.json"
        lost += 0 if result.exists() and _json_ok(result) else 1
        return exact, lost

    def checkpoints(self, run_dir: Path) -> list[Path]:
        from nne_jax.checkpoint import list_checkpoints

        return list_checkpoints(run_dir)


def _quiet(fn: Any, *args: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args)


def _json_ok(path: Path) -> bool:
    import json

    try:
        return json.loads(path.read_text()).get("generations") == GENERATIONS
    except ValueError:
        return False


def _row() -> dict[str, Any]:
    return {"injected": 0, "recovered_exact": 0, "refused_with_message": 0, "data_lost": 0, "details": []}


def _one_line(err: str) -> str:
    lines = [ln for ln in err.strip().splitlines() if ln.startswith("faults-worker: error:")]
    return lines[-1] if lines else ""


def sigkill(lab: Lab, kills: int, lane: int = 0) -> dict[str, Any]:
    """SIGKILLs at random moments (since launch; mid-run after the first checkpoint; inside a checkpoint
    write; inside a metrics write), each followed by a resume; chains of kills end in a completed run.
    ``lane`` names this call's run directories (``sigkill<lane>_<chain>``), so lanes can run side by side."""
    row = _row()
    hooks = min(max(2, kills // 6), kills // 2)  # kills inside a checkpoint write, and as many inside a metrics write
    rest = kills - 2 * hooks
    plan = ["checkpoint"] * hooks + ["metrics"] * hooks + ["launch", "mid-run"] * (rest // 2) + ["mid-run"] * (rest % 2)
    lab.rng.shuffle(plan)
    chain, chain_kills = 0, []
    run_dir = lab.root / f"sigkill{lane}_0"
    while plan:
        moment = plan[0]
        steps = [int(p.stem.split("_")[1]) for p in lab.checkpoints(run_dir)]
        if steps and max(steps) >= GENERATIONS - 4:  # too close to the end to land a kill: finish this chain
            row["details"].append(_finish_chain(lab, run_dir, chain_kills, row))
            chain, chain_kills = chain + 1, []
            run_dir = lab.root / f"sigkill{lane}_{chain}"
            continue
        kill_at = f"{moment}:{lab.rng.randint(1, 2)}" if moment in ("checkpoint", "metrics") else None
        proc = lab.start(run_dir, kill_at=kill_at)
        if moment == "launch":
            time.sleep(lab.rng.uniform(0.2, lab.base_seconds))
        elif moment == "mid-run":
            deadline = time.time() + 120
            before = len(lab.checkpoints(run_dir))
            while proc.poll() is None and time.time() < deadline and len(lab.checkpoints(run_dir)) <= before:
                time.sleep(0.02)
            time.sleep(lab.rng.uniform(0.0, 0.3))
        if moment in ("launch", "mid-run"):
            alive = proc.poll() is None
            if alive:
                proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=600)
        killed = proc.returncode == -signal.SIGKILL
        if killed:
            plan.pop(0)
            row["injected"] += 1
            step = max([int(p.stem.split("_")[1]) for p in lab.checkpoints(run_dir)], default=0)
            chain_kills.append({"moment": moment, "kill_at": kill_at, "newest_checkpoint": step})
        elif proc.returncode == 0:  # finished before the kill landed
            row["details"].append(_finish_chain(lab, run_dir, chain_kills, row))
            chain, chain_kills = chain + 1, []
            run_dir = lab.root / f"sigkill{lane}_{chain}"
        else:
            raise RuntimeError(f"a worker failed on its own (exit {proc.returncode}) in {run_dir}")
    if chain_kills:
        row["details"].append(_finish_chain(lab, run_dir, chain_kills, row))
    return row


def _finish_chain(lab: Lab, run_dir: Path, chain_kills: list[dict], row: dict[str, Any]) -> dict[str, Any]:
    code, err = lab.run(run_dir)
    exact, lost = lab.verdict(run_dir)
    row["recovered_exact"] += len(chain_kills) if exact and code == 0 else 0
    row["data_lost"] += lost
    return {"run_dir": run_dir.name, "kills": chain_kills, "final_exit": code, "exact": exact, "lost": lost,
            **({"stderr_tail": err[-500:]} if code else {})}


def _corrupt(path: Path, how: str, rng: random.Random) -> None:
    data = bytearray(path.read_bytes())
    if how == "truncate":
        path.write_bytes(bytes(data[: len(data) // 2]))
    elif how == "tear":  # the second half zeroed, as after a crash with unflushed pages
        path.write_bytes(bytes(data[: len(data) // 2]) + bytes(len(data) - len(data) // 2))
    elif how == "bitflip":
        for _ in range(8):
            i = rng.randrange(len(data))
            data[i] ^= 0xFF
        path.write_bytes(bytes(data))
    elif how == "garbage_line":
        lines = bytes(data).split(b"\n")
        lines[len(lines) // 3] = b"\x00garbage{"
        path.write_bytes(b"\n".join(lines))
    elif how == "delete":
        path.unlink()


def checkpoint_faults(lab: Lab, repeats: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The newest checkpoint, then all checkpoints, truncated / torn / bit-flipped mid-run."""
    newest, every = _row(), _row()
    for r in range(repeats):
        for how in ("truncate", "tear", "bitflip"):
            run_dir = _killed_mid_run(lab, f"newest_{how}{r}")
            target = lab.checkpoints(run_dir)[-1]
            _corrupt(target, how, lab.rng)
            newest["injected"] += 1
            code, _ = lab.run(run_dir)
            exact, lost = lab.verdict(run_dir)
            newest["recovered_exact"] += int(exact and code == 0)
            newest["data_lost"] += lost + int(not any(p.name.startswith(target.name) for p in run_dir.iterdir()))
            newest["details"].append({"how": how, "file": target.name, "exit": code, "exact": exact, "lost": lost})

            run_dir = _killed_mid_run(lab, f"all_{how}{r}")
            files = lab.checkpoints(run_dir)
            for f in files:
                _corrupt(f, how, lab.rng)
            every["injected"] += 1
            code, err = lab.run(run_dir)
            message = _one_line(err)
            refused = code == 2 and "none is readable" in message and all(f.name in message for f in files)
            every["refused_with_message"] += int(refused)
            kept = all(f.exists() for f in files)
            code2, _ = lab.run(run_dir, restart=True)  # the user asks for a fresh start
            exact, lost = lab.verdict(run_dir)
            every["recovered_exact"] += int(exact and code2 == 0)
            every["data_lost"] += lost + int(not kept)
            every["details"].append({"how": how, "exit": code, "message": message, "files_kept": kept,
                                     "restart_exit": code2, "exact": exact, "lost": lost})
    return newest, every


def _killed_mid_run(lab: Lab, name: str) -> Path:
    """A copy of a run directory SIGKILLed inside its 4th checkpoint write (checkpoints 2, 4, 6 on disk,
    a partial temporary, metrics lines to generation 8): a run in the middle of its budget."""
    template = lab.root / "killed_template"
    with lab.template_lock:  # made once, shared by the stages that run side by side
        if not template.exists():
            code, err = lab.run(template, kill_at="checkpoint:4")
            if code != -signal.SIGKILL:
                raise RuntimeError(f"the mid-run kill did not happen (exit {code}): {err[-2000:]}")
    run_dir = lab.root / name
    shutil.copytree(template, run_dir)
    return run_dir


def metrics_faults(lab: Lab, repeats: int) -> dict[str, Any]:
    """metrics.jsonl torn at its end, truncated to half, a garbage line in the middle, deleted."""
    row = _row()
    for r in range(repeats):
        for how in ("tear_last_line", "truncate", "garbage_line", "delete"):
            run_dir = _killed_mid_run(lab, f"metrics_{how}{r}")
            path = run_dir / "metrics.jsonl"
            if how == "tear_last_line":
                with open(path, "ab") as fh:
                    fh.write(b'{"generation": 99, "test_acc')
            else:
                _corrupt(path, how, lab.rng)
            row["injected"] += 1
            code, _ = lab.run(run_dir)
            exact, lost = lab.verdict(run_dir)
            row["recovered_exact"] += int(exact and code == 0)
            row["data_lost"] += lost
            row["details"].append({"how": how, "exit": code, "exact": exact, "lost": lost})
    return row


def two_runs(lab: Lab) -> dict[str, Any]:
    """A second run (another eps) started on a directory a first run is using (the first is paused with
    SIGSTOP once it holds the lock, so the second surely meets it, then continued with SIGCONT)."""
    row = _row()
    run_dir = lab.root / "two_runs"
    first = lab.start(run_dir)
    deadline = time.time() + 300
    while not lab.checkpoints(run_dir) and first.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    first.send_signal(signal.SIGSTOP)
    try:
        code2, err2 = lab.run(run_dir, extra=["eps=2.0"])
    finally:
        first.send_signal(signal.SIGCONT)
    first.communicate(timeout=600)
    row["injected"] = 1
    message = _one_line(err2)
    row["refused_with_message"] = int(code2 == 1 and f"pid {first.pid}" in message)
    exact, lost = lab.verdict(run_dir)
    row["recovered_exact"] = int(exact and first.returncode == 0)
    row["data_lost"] = lost
    row["details"].append({"second_exit": code2, "message": message, "first_exit": first.returncode, "exact": exact})
    return row


def disk_full(lab: Lab) -> dict[str, Any]:
    """The run directory on a tiny tmpfs (20 KiB: five 4 KiB pages) that fills mid-run; then more room and a resume."""
    row = _row()
    mnt = lab.root / "tmpfs"
    mnt.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=20k", "tmpfs", str(mnt)], capture_output=True, text=True,
                             check=False)
    if mounted.returncode != 0:
        row["skipped"] = f"cannot mount a tmpfs here: {(mounted.stderr or mounted.stdout).strip() or 'mount failed'}"
        return row
    try:
        run_dir = mnt / "run"
        code, err = lab.run(run_dir)
        message = _one_line(err)
        if code == 0:  # the run fitted: no fault was injected
            row["skipped"] = "the run fitted in the tmpfs: the disk never filled"
            return row
        row["injected"] = 1
        row["refused_with_message"] = int(code == 1 and "No space left" in message)
        subprocess.run(["mount", "-o", "remount,size=16m", str(mnt)], check=True)
        code2, _ = lab.run(run_dir)
        exact, lost = lab.verdict(run_dir)
        row["recovered_exact"] = int(exact and code2 == 0)
        row["data_lost"] = lost
        row["details"].append({"exit": code, "message": message, "resume_exit": code2, "exact": exact, "lost": lost})
    finally:
        subprocess.run(["umount", str(mnt)], check=False)
    return row


def non_finite(lab: Lab) -> dict[str, Any]:
    """Fitness NaN in every generation (the runner must stop), and NaN / +inf / negative fitness fed to
    ``NNE.tell`` (does the state stay finite? this row reports the strategy as it is)."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from nne_jax.strategy import NNE

    row = _row()
    run_dir = lab.root / "nan_run"
    code, err = lab.run(run_dir, extra=["temperature=1e-45"])
    message = _one_line(err)
    row["injected"] += 1
    row["refused_with_message"] += int(code == 1 and "non-finite" in message)
    row["data_lost"] += 0 if not lab.checkpoints(run_dir) else 1  # nothing of the NaN chunk may be saved
    row["details"].append({"case": "runner: NaN fitness every generation", "exit": code, "message": message})
    # a signed fitness on equation (3): the runner must warn about the clipped multipliers
    code, err = lab.run(lab.root / "signed_run", extra=["update_rule=weak_selection", "fitness_shaping=none",
                                                        "fitness=neg_cross_entropy", "eps=20", "p_min=0", "p_max=1"])
    warned = "clipped at 0" in err
    row["injected"] += 1
    row["refused_with_message"] += 0
    row["details"].append({"case": "runner: negative fitness on equation (3)", "exit": code, "warned": warned})
    row["warned"] = int(warned)
    nne = NNE(num_genes=50, pop_size=16, eps=0.5)
    state_finite = 0
    for case, value in (("NaN", np.nan), ("+inf", np.inf), ("negative", -5.0)):
        state = nne.init(jax.random.PRNGKey(0))
        genotypes, state = nne.ask(jax.random.PRNGKey(1), state)
        fitness = jnp.ones((16,)).at[3].set(value) if case != "negative" else jnp.full((16,), value).at[3].set(-4.0)
        try:
            new = nne.tell(state, genotypes, fitness)
            finite = bool(jnp.all(jnp.isfinite(new.allele_freqs)))
            moved = bool(jnp.any(new.allele_freqs != state.allele_freqs))
            note = None
        except (ValueError, FloatingPointError) as e:  # a strategy that refuses is also not silent
            finite, moved, note = True, False, str(e)
        row["injected"] += 1
        state_finite += int(finite)
        row["details"].append({"case": f"NNE.tell with {case} fitness", "state_finite": finite, "p_changed": moved,
                               "error": note})
    row["tell_state_finite"] = state_finite
    row["tell_cases"] = 3
    return row


def _add_rows(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """One row from the rows of one fault kind's lanes: counts added, details in lane order."""
    out = _row()
    for row in rows:
        for key in ("injected", "recovered_exact", "refused_with_message", "data_lost"):
            out[key] += row[key]
        out["details"] += row["details"]
    errors = [row["error"] for row in rows if "error" in row]
    if errors:
        out["error"] = "\n".join(errors)
    return out


def _lane_kills(kills: int, lanes: int) -> list[int]:
    """``kills`` split over at most ``lanes`` lanes as evenly as possible (no empty lane)."""
    lanes = max(1, min(lanes, kills))
    return [kills // lanes + (i < kills % lanes) for i in range(lanes)]


def merge(parts: list[Path], out: Path) -> dict[str, Any]:
    """One summary from the summaries of ``--only`` runs of the same settings (e.g. run side by side)."""
    import json

    from experiments.common import metadata, write_json

    loaded = [json.loads(Path(p).read_text()) for p in parts]
    faults: dict[str, Any] = {}
    for part in loaded:
        faults.update(part["faults"])
    summary = {**loaded[0], "faults": faults, "complete": set(KINDS) <= set(faults) and not any("error" in r for r in faults.values()),
               "parts": [{"kinds": sorted(p["faults"]), **{k: p[k] for k in ("command", "git_commit", "timestamp", "wall_seconds")}}
                         for p in loaded],
               **metadata(), "wall_seconds": max(p["wall_seconds"] for p in loaded),
               "wall_seconds_note": "the parts ran side by side: the longest part's wall time"}
    write_json(out, summary)
    _print_table(faults)
    print(f"wrote {out}")
    return summary


def _print_table(faults: dict[str, Any]) -> None:
    print(f"{'fault':28s} injected  recovered_exact  refused_with_message  data_lost")
    for name, row in faults.items():
        print(f"{name:28s} {row['injected']:8d}  {row['recovered_exact']:15d}  {row['refused_with_message']:20d}  {row['data_lost']:9d}"
              + (f"  (skipped: {row['skipped']})" if "skipped" in row else ""))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="CI size: 20 kills, each other fault once")
    parser.add_argument("--kills", type=int, help="number of SIGKILLs (default 20 quick, 40 full)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random kill moments")
    parser.add_argument("--jobs", type=int, help="stages (and SIGKILL lanes) run side by side (default: cores, at most 4)")
    parser.add_argument("--out", type=Path, help="summary file (default results/reliability/summary.json)")
    parser.add_argument("--only", nargs="+", choices=KINDS, help="run only these fault kinds (a slice, for debugging)")
    parser.add_argument("--merge", nargs="+", type=Path, metavar="PART",
                        help="combine the summaries of --only runs (run side by side) into --out")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--cache", help=argparse.SUPPRESS)
    parser.add_argument("--set", action="append", default=[], help=argparse.SUPPRESS)
    parser.add_argument("--restart", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        sys.exit(worker(args.worker, args.set, args.restart, args.cache))

    from experiments.common import RESULTS, metadata, write_json

    if args.merge:
        return merge(args.merge, args.out or RESULTS / "reliability" / "summary.json")
    start = time.perf_counter()
    kills = args.kills or (20 if args.quick else 40)
    repeats = 1 if args.quick else 2
    out = args.out or RESULTS / "reliability" / "summary.json"
    only = set(args.only or KINDS)
    if args.jobs is not None and args.jobs < 1:
        parser.error(f"--jobs must be >= 1, got {args.jobs}")
    if args.kills is not None and args.kills < 1:
        parser.error(f"--kills must be >= 1, got {args.kills}")
    jobs = args.jobs or min(4, os.cpu_count() or 1)
    lanes = _lane_kills(kills, jobs)
    stages: list[tuple[str, Any]] = [(f"sigkill:{i}", lambda lab, i=i, k=k: {"sigkill": sigkill(lab, k, lane=i)})
                                     for i, k in enumerate(lanes)]
    stages += [("corrupt_newest_checkpoint", lambda lab: dict(zip(("corrupt_newest_checkpoint", "corrupt_all_checkpoints"),
                                                                  checkpoint_faults(lab, repeats)))),
               ("torn_metrics", lambda lab: {"torn_metrics": metrics_faults(lab, repeats)}),
               ("two_runs_one_directory", lambda lab: {"two_runs_one_directory": two_runs(lab)}),
               ("disk_full", lambda lab: {"disk_full": disk_full(lab)}),
               ("non_finite_fitness", lambda lab: {"non_finite_fitness": non_finite(lab)})]
    stages = [(name, stage) for name, stage in stages if name.split(":")[0] in only
              or (name == "corrupt_newest_checkpoint" and "corrupt_all_checkpoints" in only)]
    parts: dict[str, list[dict[str, Any]]] = {}  # fault kind -> its rows, one per lane, in stage order
    summary: dict[str, Any] = {}
    faults: dict[str, Any] = {}
    config = _config()

    def guarded_stage(lab: Lab, name: str, stage: Any) -> dict[str, Any]:
        try:
            return stage(lab.fork(name))
        except Exception:  # noqa: BLE001 - recorded in the summary (an experiment bug, not a fault outcome)
            return {name.split(":")[0]: {**_row(), "error": traceback.format_exc()[-3000:]}}

    with tempfile.TemporaryDirectory(prefix="nne_faults_") as tmp:
        lab = Lab(Path(tmp), args.seed)
        lab.make_reference()
        order = {name: i for i, (name, _) in enumerate(stages)}
        done: dict[str, dict[str, Any]] = {}
        with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = {pool.submit(guarded_stage, lab, name, stage): name for name, stage in stages}
            for future in concurrent.futures.as_completed(futures):
                done[futures[future]] = future.result()
                parts = {}
                for name in sorted(done, key=order.__getitem__):
                    for kind, row in done[name].items():
                        parts.setdefault(kind, []).append(row)
                faults = {kind: (rows[0] if len(rows) == 1 else _add_rows(rows)) for kind, rows in parts.items()}
                faults = {kind: faults[kind] for kind in KINDS if kind in faults}
                summary = {"faults": faults, "complete": False,
                           "config": {**config.flat(), "overrides": OVERRIDES, "task": TASK,
                                      "data": "synthetic: uniform noise 784 px, 100 train / 200 test, 5 classes (ours)"},
                           "seed": SEED, "kill_seed": args.seed, "quick": args.quick, "jobs": jobs, "sigkill_lanes": lanes,
                           "reference_seconds": lab.base_seconds, **metadata(), "wall_seconds": time.perf_counter() - start}
                write_json(out, summary)  # after every stage: a partial summary survives an interrupted experiment
    summary["complete"] = True
    write_json(out, summary)
    _print_table(faults)
    print(f"wrote {out} in {summary['wall_seconds']:.0f} s")
    if any("error" in row for row in faults.values()):
        sys.exit("some fault stages failed: see 'error' in " + str(out))
    return summary


if __name__ == "__main__":
    main()
