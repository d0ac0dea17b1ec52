"""Generations per second: every evaluation path against the hardware's limit and the alternatives.

    python -m benchmarks.generation --quick          # < 5 minutes on a 2-core CPU
    python -m benchmarks.generation                  # the full sweep over N, n, B and h

For each shape and path it reports seconds per generation (median of ``--reps`` >= 5 timed runs
after a warm-up), generations/s, genotype evaluations/s, the flops the path actually does and the
dense-equivalent flops (dense ``W x`` and dense masked layers), the device's matmul peak measured
in the same run (a float32 GEMM: the roofline), the fraction of it reached for both flop counts,
and XLA's peak memory estimate for the compiled generation. The big memory-check row (N = 10 000,
B = 200, ``pop_chunk`` = 1000) runs in a fresh subprocess that also reports its measured peak RSS
(``VmHWM`` after the timed generations; ``--no-rss``: run it in-process, no RSS).

For the paper's N = n = h = 1000 rows on the device's default path it also times generations
inside the ``lax.scan`` runner (``run_generations``: minibatches drawn from a 60,000-example
training set, chunks of 10), i.e. what a real run pays per generation.

In the same run, for the paper's shape, it times the two plain NumPy generations of
``benchmarks/numpy_generation.py`` (same math, checked equal) and the peer ``evosax.Open_ES``
(same network, population, minibatch), and reports the ratios:

* the *optimised* NumPy baseline (``NumpyNNE``: CSR ``W x``), a full generation at N = 1000, B = 50;
* the *naive* NumPy baseline (``NaiveNumpyNNE``: dense ``W x``, dense masked layers — the loop a
  user would write first), at every B of the N = n = h = 1000 rows. Its cost is a loop over
  independent genotypes, exactly linear in N, so its fitness is timed on ``--naive-genotypes``
  genotypes (median of 3) and scaled to N, plus the sampling and allele update timed at full N;
  the JSON says so (``numpy_naive_timed_genotypes``).

On CPU the population is split over one XLA CPU device per core (``--devices``, default: all
cores), which is how ``nne_jax.parallel`` runs on a CPU host. On a GPU/TPU just run the same
command there; results go to ``results/benchmarks/<device-kind>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import nne_jax as nj
from experiments.common import RESULTS, add_allow_dirty, metadata, require_clean, write_json
from nne_jax.parallel import population_mesh, replicate, use_host_devices
from nne_jax.population import default_path, dense_equivalent_flops


def _devices_arg(argv: list[str]) -> int | None:
    """``--devices K`` from the command line (read before JAX starts), else ``None`` (one per core)."""
    return int(argv[argv.index("--devices") + 1]) if "--devices" in argv[:-1] else None


if __name__ == "__main__":  # only when run as a program: importing this module changes nothing
    use_host_devices(_devices_arg(sys.argv))


def timed(fn, *args, reps: int) -> float:
    """Median wall seconds of ``fn(*args)`` over ``reps`` runs after one warm-up (compile) run."""
    jax.block_until_ready(fn(*args))
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def measured_peak_flops(size: int = 4096, reps: int = 5) -> float:
    """float32 GEMM flops/s of the default device (all its cores), measured now."""
    a = jax.random.normal(jax.random.PRNGKey(0), (size, size))
    b = jax.random.normal(jax.random.PRNGKey(1), (size, size))
    mesh_devices = jax.devices()
    if len(mesh_devices) > 1 and mesh_devices[0].platform == "cpu":
        # host devices share the cores: run one GEMM per device at once
        arrs = [jax.device_put(a, d) for d in mesh_devices], [jax.device_put(b, d) for d in mesh_devices]
        mm = jax.jit(lambda x, y: x @ y)

        def run(*_: Any) -> list:
            return [mm(x, y) for x, y in zip(*arrs)]

        return len(mesh_devices) * 2 * size**3 / timed(run, reps=reps)
    mm = jax.jit(lambda x, y: x @ y)
    return 2 * size**3 / timed(mm, a, b, reps=reps)


def flops(path: str, task: nj.MLPTask, pop: int, batch: int) -> tuple[float, float]:
    """(flops the path does, dense-equivalent flops) for one generation's weights + forward: the
    path's own count (:data:`nne_jax.PATHS` entries carry it) and the naive one."""
    done = nj.PATHS[path].flops(task.arch, task.wg, task.blocks, pop, batch)
    return done, dense_equivalent_flops(task.arch, task.wg, pop, batch)


def max_rss_bytes() -> int:
    """This process's peak resident set size so far.

    Linux: ``VmHWM`` of ``/proc/self/status`` — the high-water mark of this process's own memory.
    (Not ``ru_maxrss``: Linux carries the parent's peak into a child through fork + exec, so a
    subprocess started by a big parent would report the parent's peak.) Elsewhere: ``ru_maxrss``.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024  # kB
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024)


RUNNER_CHUNK = 10  # generations per timed run_generations call
RUNNER_EXAMPLES = 60_000  # training-set size the runner draws its minibatches from (MNIST's)


def runner_seconds(nne: nj.NNE, task: nj.MLPTask, state: Any, batch: int, reps: int) -> float:
    """Seconds per generation inside :func:`nne_jax.run_generations` (a ``lax.scan`` of
    ``RUNNER_CHUNK`` generations, each drawing its own minibatch from ``RUNNER_EXAMPLES`` random
    examples): what a real run pays. Median of ``reps`` calls after a compiling one."""
    rng = np.random.default_rng(0)
    x = rng.random((RUNNER_EXAMPLES, task.num_inputs), dtype=np.float32)
    y = np.arange(RUNNER_EXAMPLES) % task.arch.num_classes
    x, y = replicate((jnp.asarray(x), jnp.asarray(y, jnp.int32)), task.mesh)

    def run(s: Any) -> Any:
        return nj.run_generations(nne, task, s, jax.random.PRNGKey(3), x, y, RUNNER_CHUNK, batch_size=batch, chunk_size=RUNNER_CHUNK)[0]

    return timed(run, state, reps=reps) / RUNNER_CHUNK


def bench_config(
    pop: int,
    genes: int,
    batch: int,
    hidden: int,
    path: str,
    reps: int,
    pop_chunk: int | None,
    mesh: Any,
    measure_rss: bool = False,
    runner: bool = False,
    beta: float = 0.0025,
) -> dict[str, Any]:
    """One row. ``beta``: density of ``W`` (the paper's 0.0025; a preset may use another).
    ``measure_rss``: record the process's peak RSS before the config and right after its
    timed generations (meaningful only in a fresh process: see :func:`single_in_subprocess`).
    ``runner``: also time generations inside the ``lax.scan`` runner (:func:`runner_seconds`)."""
    rss_before = max_rss_bytes() if measure_rss else None
    key = jax.random.PRNGKey(0)
    task = nj.mlp_task(key, genes, beta=beta, num_hidden=hidden, path=path, pop_chunk=pop_chunk)
    if mesh is not None and pop % mesh.size == 0:
        task = task.replace(mesh=mesh)
    nne = nj.NNE(num_genes=genes, pop_size=pop, eps=1.0)
    state = nne.init(key)
    x = jax.random.uniform(jax.random.PRNGKey(1), (batch, 784))
    y = jnp.arange(batch, dtype=jnp.int32) % 10
    generation = nj.make_generation(nne, task)
    step_key = jax.random.PRNGKey(2)
    # arguments already on the devices, as in a loop that feeds each generation the last one's state
    state, x, y, step_key = replicate((state, x, y, step_key), task.mesh)
    seconds = timed(lambda s: generation(s, step_key, (x, y))[0].allele_freqs, state, reps=reps)
    rss_after = max_rss_bytes() if measure_rss else None
    in_runner = runner_seconds(nne, task, state, batch, reps) if runner else None
    from nne_jax.generation import _generation_jit, delta_fitness

    compiled = _generation_jit.lower(nne, delta_fitness, task, state, step_key, (x, y)).compile()
    mem = compiled.memory_analysis()
    peak_mem = None if mem is None else int(mem.temp_size_in_bytes + mem.argument_size_in_bytes + mem.output_size_in_bytes)
    done, dense = flops(path, task, pop, batch)
    return {
        "N": pop,
        "n": genes,
        "B": batch,
        "h": hidden,
        "beta": beta,
        "path": path,
        "devices": 1 if task.mesh is None else mesh.size,
        "pop_chunk": pop_chunk,
        "seconds_per_generation": seconds,
        "generations_per_second": 1.0 / seconds,
        "evals_per_second": pop / seconds,
        "flops_done": done,
        "flops_dense_equivalent": dense,
        "peak_memory_bytes": peak_mem,
        "runner_seconds_per_generation": in_runner,
        "numpy_seconds_per_generation": None,
        "numpy_naive_seconds_per_generation": None,
        "numpy_naive_timed_genotypes": None,
        "numpy_naive_seconds_per_genotype": None,
        "numpy_naive_update_seconds": None,
        "numpy_naive_dense_W_bytes": None,
        "numpy_naive_max_abs_delta_diff_vs_optimised": None,
        "evosax_seconds_per_generation": None,
        "peak_rss_bytes": rss_after,
        "rss_before_config_bytes": rss_before,
    }


SINGLE_MARKER = "SINGLE_ROW_JSON "


def parse_config(values: list[str]) -> tuple[int, int, int, int, str, int | None]:
    """``--single N n B h path pop_chunk`` values (``pop_chunk``: an int or ``none``) → a config tuple."""
    if len(values) != 6:
        raise ValueError(f"--single needs 6 values (N n B h path pop_chunk), got {len(values)}")
    pop, genes, batch, hidden = (int(v) for v in values[:4])
    path, chunk = values[4], values[5]
    return pop, genes, batch, hidden, path, None if chunk.lower() == "none" else int(chunk)


def parse_single_output(stdout: str) -> dict[str, Any]:
    """The row a ``--single`` run printed (its last ``SINGLE_ROW_JSON {...}`` line)."""
    lines = [line for line in stdout.splitlines() if line.startswith(SINGLE_MARKER)]
    if not lines:
        raise ValueError("no " + SINGLE_MARKER.strip() + " line in the output of the --single run")
    return json.loads(lines[-1][len(SINGLE_MARKER) :])


def run_single(values: list[str], reps: int) -> dict[str, Any]:
    """The ``--single`` entry point: one config in this (fresh) process, its row printed as JSON."""
    pop, genes, batch, hidden, path, chunk = parse_config(values)
    mesh = population_mesh() if jax.device_count() > 1 else None
    row = bench_config(pop, genes, batch, hidden, path, reps, chunk, mesh, measure_rss=True)
    print(SINGLE_MARKER + json.dumps(row), flush=True)
    return row


def single_in_subprocess(
    pop: int, genes: int, batch: int, hidden: int, path: str, pop_chunk: int | None, reps: int, timeout: float = 600.0
) -> dict[str, Any]:
    """Runs one config in a fresh ``python -m benchmarks.generation --single ...`` process (same
    XLA CPU device count as this one) and returns its row, with the measured ``peak_rss_bytes``."""
    env = dict(os.environ)
    root = Path(__file__).resolve().parent.parent
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH", "")]))
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.generation",
        "--single",
        str(pop),
        str(genes),
        str(batch),
        str(hidden),
        path,
        "none" if pop_chunk is None else str(pop_chunk),
        "--reps",
        str(reps),
        "--devices",
        str(jax.device_count()),
    ]
    proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return parse_single_output(proc.stdout)


def bf16_effect_on_delta(pop: int, genes: int, batch: int, hidden: int) -> dict[str, float]:
    """How much the genespace path's bfloat16 matmul changes δ (genotypes are exact in bf16; Z rounds)."""
    task = nj.mlp_task(jax.random.PRNGKey(0), genes, num_hidden=hidden)
    g = nj.sample_genotypes(jax.random.PRNGKey(1), jax.random.uniform(jax.random.PRNGKey(2), (genes,)), pop)
    x = jax.random.uniform(jax.random.PRNGKey(3), (batch, 784))
    y = jnp.arange(batch, dtype=jnp.int32) % 10
    ref = nj.delta_fitness(nj.population_logits(task.arch, task.wg, g, x, "genespace", pop_chunk=250), y)
    low = nj.delta_fitness(nj.population_logits(task.arch, task.wg, g, x, "genespace", pop_chunk=250, matmul_dtype="bfloat16"), y)
    ranks = lambda v: np.argsort(np.argsort(np.asarray(v)))
    return {
        "max_abs_delta_error": float(jnp.max(jnp.abs(ref - low))),
        "mean_abs_delta_error": float(jnp.mean(jnp.abs(ref - low))),
        "delta_std": float(jnp.std(ref)),
        "rank_correlation": float(np.corrcoef(ranks(ref), ranks(low))[0, 1]),
    }


def numpy_seconds(pop: int, genes: int, batch: int, hidden: int, reps: int) -> float:
    """Optimised NumPy baseline (CSR ``W x``): median seconds of full generations."""
    from benchmarks.numpy_generation import NumpyNNE

    task = nj.mlp_task(jax.random.PRNGKey(0), genes, num_hidden=hidden)
    ref = NumpyNNE(task)
    rng = np.random.default_rng(0)
    x = rng.random((batch, 784), dtype=np.float32)
    y = np.arange(batch) % 10
    p = rng.random(genes)
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        ref.generation(rng, p, pop, 1.0, x, y)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def naive_numpy_seconds(
    pop: int, genes: int, batches: list[int], hidden: int, timed_genotypes: int = 40, reps: int = 3
) -> dict[int, dict[str, Any]]:
    """Naive NumPy baseline (dense ``W x``, dense masked layers), per minibatch size ``B``.

    Its fitness is an independent loop over genotypes, so its cost is exactly linear in N: the
    fitness of ``timed_genotypes`` genotypes is timed (median of ``reps``) and scaled by
    ``N / timed_genotypes``; sampling the N genotypes and the allele update are timed at full N
    (median of ``reps``) and added. On the timed genotypes the naive δ is checked against the
    optimised baseline's (``max_abs_delta_diff_vs_optimised``).
    """
    from benchmarks.numpy_generation import NaiveNumpyNNE, NumpyNNE

    task = nj.mlp_task(jax.random.PRNGKey(0), genes, num_hidden=hidden)
    naive, optimised = NaiveNumpyNNE(task), NumpyNNE(task)
    rng = np.random.default_rng(0)
    p = rng.random(genes)
    update_times = []
    for _ in range(reps):
        start = time.perf_counter()
        genotypes = (rng.random((pop, genes)) < p).astype(np.float32)
        naive.update(p, genotypes, rng.random(pop).astype(np.float32), 1.0)
        update_times.append(time.perf_counter() - start)
    update_s = float(np.median(update_times))
    sub = (rng.random((timed_genotypes, genes)) < p).astype(np.float32)
    out = {}
    for batch in batches:
        x = rng.random((batch, 784), dtype=np.float32)
        y = np.arange(batch) % 10
        times = []
        for _ in range(reps):
            start = time.perf_counter()
            fit = naive.fitness(sub, x, y)
            times.append(time.perf_counter() - start)
        fitness_s = float(np.median(times))
        diff = float(np.max(np.abs(fit - optimised.fitness(sub, x, y))))
        if diff > 1e-3:
            raise AssertionError(f"naive and optimised NumPy baselines disagree on δ by {diff} (B={batch})")
        out[batch] = {
            "seconds": fitness_s * pop / timed_genotypes + update_s,
            "seconds_per_genotype": fitness_s / timed_genotypes,
            "update_seconds": update_s,
            "timed_genotypes": timed_genotypes,
            "dense_W_bytes": naive.nbytes,
            "max_abs_delta_diff_vs_optimised": diff,
        }
    return out


def evosax_seconds(pop: int, genes: int, batch: int, hidden: int, reps: int) -> float | None:
    try:
        from benchmarks.peers import open_es
    except ImportError:
        return None
    task = nj.mlp_task(jax.random.PRNGKey(0), genes, num_hidden=hidden)
    if jax.device_count() > 1 and pop % jax.device_count() == 0:
        task = task.replace(mesh=population_mesh())  # sharded exactly like NNE
    try:
        init, step, _ = open_es(task, pop, batch)
    except ImportError:
        return None
    x = jax.random.uniform(jax.random.PRNGKey(1), (2000, 784))
    y = jnp.arange(2000, dtype=jnp.int32) % 10
    state = init(jax.random.PRNGKey(0))
    return timed(lambda s: step(s, jax.random.PRNGKey(3), x, y).mean, state, reps=reps)


QUICK = [  # (N, n, B, h, paths, pop_chunk)
    (1000, 1000, 50, 1000, ("fused", "sparse", "genespace"), None),
    (1000, 1000, 200, 1000, ("fused", "sparse"), None),
    (1000, 2000, 100, 1000, ("fused",), None),
    (10000, 1000, 200, 1000, ("fused",), 1000),
]
# the shape of a preset that is not the paper's (N, n, B, h, path, pop_chunk, beta), in --quick too
PRESET_SHAPES = {"wide": (1000, 16000, 100, 1000, None, None, 0.000625)}  # path None: the default path
RSS_ROWS = {(10000, 1000, 200, 1000, "fused", 1000)}  # (N, n, B, h, path, pop_chunk): run in a subprocess, peak RSS measured
FULL = QUICK + [
    (250, 1000, 50, 1000, ("fused",), None),
    (4000, 1000, 50, 1000, ("fused",), None),
    (1000, 250, 50, 1000, ("fused",), None),
    (1000, 4000, 50, 1000, ("fused",), None),
    (1000, 8000, 50, 1000, ("fused",), None),
    (1000, 1000, 100, 1000, ("fused", "genespace"), None),
    (1000, 1000, 50, 250, ("fused",), None),
    (1000, 1000, 50, 4000, ("fused",), None),
]


def _with_provenance(row: dict[str, Any], peak: float, meta: dict[str, Any], command: str) -> dict[str, Any]:
    """``row`` plus its fraction of the measured peak and the run's provenance (commit, command, time, seed)."""
    return {
        **row,
        "peak_flops_measured": peak,
        "fraction_of_peak": row["flops_done"] / row["seconds_per_generation"] / peak,
        "fraction_of_peak_dense_equivalent": row["flops_dense_equivalent"] / row["seconds_per_generation"] / peak,
        "device": meta["device"],
        "command": command,
        "git_commit": meta["git_commit"],
        "allow_dirty": meta["allow_dirty"],
        "timestamp": meta["timestamp"],
        "seed": "fixed PRNGKeys 0-3 (synthetic task and inputs)",
    }


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the paper's shape and a few others (< 5 min on 2 CPU cores)")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--devices", type=int, default=None, help="XLA CPU devices to split the population over (default: cores)")
    parser.add_argument("--no-peers", action="store_true", help="skip the NumPy and evosax comparisons")
    parser.add_argument(
        "--naive-genotypes", type=int, default=40, help="genotypes the naive NumPy baseline's fitness is timed on (scaled to N; default 40)"
    )
    parser.add_argument("--no-rss", action="store_true", help="run the memory-check row in-process: no measured peak RSS")
    parser.add_argument(
        "--single",
        nargs=6,
        metavar=("N", "n", "B", "h", "PATH", "POP_CHUNK"),
        default=None,
        help="internal: time one config in this process and print its row as JSON, with peak RSS",
    )
    parser.add_argument("--out", type=Path, default=None)
    add_allow_dirty(parser)
    args = parser.parse_args(argv)
    if args.reps < 5:
        parser.error("--reps must be >= 5 (medians of at least 5 timed runs)")
    if args.naive_genotypes < 1:
        parser.error("--naive-genotypes must be >= 1")
    if args.single is not None:
        try:
            parse_config(args.single)
        except ValueError as err:
            parser.error(str(err))
        return [run_single(args.single, args.reps)]
    require_clean(args.out or RESULTS / "benchmarks", args.allow_dirty)
    command = "python -m benchmarks.generation " + " ".join(argv if argv is not None else sys.argv[1:])
    t_start, meta = time.perf_counter(), metadata(command)
    mesh = population_mesh() if jax.device_count() > 1 else None
    peak = measured_peak_flops()
    print(f"{meta['device']}; measured float32 GEMM peak {peak / 1e9:.0f} GFLOP/s", flush=True)
    rows = []
    header = (f"{'N':>6} {'n':>5} {'B':>4} {'h':>5} {'path':>9} {'dev':>3} {'s/gen':>8} {'gen/s':>7} {'evals/s':>9} "
              f"{'%peak':>6} {'%peak(dense)':>12} {'mem GiB':>8}")
    print(header, flush=True)
    for pop, genes, batch, hidden, paths, chunk in QUICK if args.quick else FULL:
        for path in paths:
            runner = (pop, genes, hidden) == (1000, 1000, 1000) and path == default_path()
            row = None
            if (pop, genes, batch, hidden, path, chunk) in RSS_ROWS and not args.no_rss:
                try:
                    row = single_in_subprocess(pop, genes, batch, hidden, path, chunk, args.reps)
                except (RuntimeError, ValueError, subprocess.TimeoutExpired) as err:
                    print(f"WARNING: the peak-RSS subprocess failed, running in-process without RSS: {err}", flush=True)
            if row is None:
                row = bench_config(pop, genes, batch, hidden, path, args.reps, chunk, mesh, runner=runner)
            row = _with_provenance(row, peak, meta, command)
            rows.append(row)
            mem = row["peak_memory_bytes"]
            print(
                f"{pop:6d} {genes:5d} {batch:4d} {hidden:5d} {path:>9} {row['devices']:3d} {row['seconds_per_generation']:8.4f} "
                f"{row['generations_per_second']:7.2f} {row['evals_per_second']:9.0f} {100 * row['fraction_of_peak']:5.1f}% "
                f"{100 * row['fraction_of_peak_dense_equivalent']:11.1f}% {'' if mem is None else f'{mem / 2**30:8.2f}'}",
                flush=True,
            )
            if row["runner_seconds_per_generation"] is not None:
                print(
                    f"{'':>6} inside the lax.scan runner (run_generations, {RUNNER_CHUNK} per call, minibatches drawn from "
                    f"{RUNNER_EXAMPLES} examples): {row['runner_seconds_per_generation']:.4f} s/gen",
                    flush=True,
                )
            if row["peak_rss_bytes"] is not None:
                print(
                    f"{'':>6} measured peak RSS of a fresh process running this row: {row['peak_rss_bytes'] / 2**30:.2f} GiB "
                    f"(VmHWM after the timed generations; {row['rss_before_config_bytes'] / 2**30:.2f} GiB before the config: "
                    f"Python + JAX runtime)",
                    flush=True,
                )
    for preset, (pop, genes, batch, hidden, path, chunk, beta) in PRESET_SHAPES.items():
        path = path or default_path()
        row = bench_config(pop, genes, batch, hidden, path, args.reps, chunk, mesh, beta=beta)
        row = _with_provenance({**row, "preset": preset}, peak, meta, command)
        rows.append(row)
        print(
            f"{pop:6d} {genes:5d} {batch:4d} {hidden:5d} {path:>9} {row['devices']:3d} {row['seconds_per_generation']:8.4f} "
            f"{row['generations_per_second']:7.2f} {row['evals_per_second']:9.0f}   (the {preset} preset's shape, beta={beta})",
            flush=True,
        )
    if not args.no_peers:
        paper_rows = [r for r in rows if (r["N"], r["n"], r["h"]) == (1000, 1000, 1000)]
        best = {b: min(r["seconds_per_generation"] for r in paper_rows if r["B"] == b) for b in sorted({r["B"] for r in paper_rows})}
        np_s = numpy_seconds(1000, 1000, 50, 1000, reps=2)
        naive = naive_numpy_seconds(1000, 1000, list(best), 1000, timed_genotypes=min(args.naive_genotypes, 1000))
        es_s = evosax_seconds(1000, 1000, 50, 1000, reps=args.reps)
        for r in paper_rows:
            nv = naive[r["B"]]
            r.update(
                numpy_naive_seconds_per_generation=nv["seconds"],
                numpy_naive_timed_genotypes=nv["timed_genotypes"],
                numpy_naive_seconds_per_genotype=nv["seconds_per_genotype"],
                numpy_naive_update_seconds=nv["update_seconds"],
                numpy_naive_dense_W_bytes=nv["dense_W_bytes"],
                numpy_naive_max_abs_delta_diff_vs_optimised=nv["max_abs_delta_diff_vs_optimised"],
            )
            if r["B"] == 50:
                r["numpy_seconds_per_generation"], r["evosax_seconds_per_generation"] = np_s, es_s
        for b, fastest in best.items():
            nv = naive[b]
            ratios = (
                f"x{np_s / fastest:.0f} the optimised NumPy baseline, " if b == 50 else ""
            ) + f"x{nv['seconds'] / fastest:.0f} the naive NumPy baseline"
            print(f"\nN=n=h=1000, B={b}{' (paper shape)' if b == 50 else ''}: fastest NNE path {fastest:.4f} s/gen = {ratios}")
            if b == 50:
                print(f"  optimised NumPy baseline (CSR W x; full generation, median of 2): {np_s:.2f} s/gen -> NNE x{np_s / fastest:.0f}")
            print(
                f"  naive NumPy baseline (dense W x, dense masked layers; {nv['timed_genotypes']} genotypes timed, scaled to N=1000): "
                f"{nv['seconds']:.1f} s/gen ({1000 * nv['seconds_per_genotype']:.1f} ms/genotype) -> NNE x{nv['seconds'] / fastest:.0f}"
            )
            if b == 50:
                print(f"  evosax Open_ES: {'n/a' if es_s is None else f'{es_s:.4f} s/gen (NNE is x{es_s / fastest:.2f} its speed)'}")
        effect = bf16_effect_on_delta(1000, 1000, 50, 1000)
        print(
            f"genespace bfloat16 vs float32 on δ (N=1000, B=50): max |Δδ| {effect['max_abs_delta_error']:.4f}, "
            f"mean |Δδ| {effect['mean_abs_delta_error']:.5f} (std of δ across genotypes {effect['delta_std']:.3f}), "
            f"rank correlation {effect['rank_correlation']:.5f}"
        )
        for r in rows:
            if r["path"] == "genespace":
                r["bf16_effect_on_delta"] = effect
    kind = jax.devices()[0].device_kind.lower().replace(" ", "_") if jax.devices()[0].platform != "cpu" else "cpu"
    out = args.out or RESULTS / "benchmarks" / f"{'h100' if 'h100' in kind else 'h200' if 'h200' in kind else kind}.json"
    for r in rows:
        r["benchmark_wall_seconds"] = time.perf_counter() - t_start  # the whole invocation, all rows
    write_json(out, rows)
    print(f"wrote {out}")
    return rows


if __name__ == "__main__":
    main()
