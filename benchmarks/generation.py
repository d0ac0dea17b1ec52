"""Generations per second: every evaluation path against the hardware's limit and the alternatives.

    python -m benchmarks.generation --quick          # < 5 minutes on a 2-core CPU
    python -m benchmarks.generation                  # the full sweep over N, n, B and h

For each shape and path it reports seconds per generation (median of ``--reps`` >= 5 timed runs
after a warm-up), generations/s, genotype evaluations/s, the flops the path actually does and the
dense-equivalent flops (dense ``W x`` and dense masked layers), the device's matmul peak measured
in the same run (a float32 GEMM: the roofline), the fraction of it reached for both flop counts,
and XLA's peak memory estimate for the compiled generation. In the same run, for the paper's
shape, it times the plain NumPy generation of ``benchmarks/numpy_generation.py`` and the peer
``evosax.Open_ES`` (same network, population, minibatch), and reports the ratios.

On CPU the population is split over one XLA CPU device per core (``--devices``, default: all
cores), which is how ``nne_jax.parallel`` runs on a CPU host. On a GPU/TPU just run the same
command there; results go to ``results/benchmarks/<device-kind>.json``.
"""
from __future__ import annotations

import argparse
import os
import sys


def _set_host_devices(argv: list[str]) -> None:
    """Before JAX starts: one XLA CPU device per core (unless XLA_FLAGS already says otherwise)."""
    count = os.cpu_count() or 1
    if "--devices" in argv:
        count = int(argv[argv.index("--devices") + 1])
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={count}".strip()


if __name__ == "__main__":  # only when run as a program: importing this module changes nothing
    _set_host_devices(sys.argv)

import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import nne_jax as nj  # noqa: E402
from experiments.common import RESULTS, metadata, write_json  # noqa: E402
from nne_jax.parallel import population_mesh  # noqa: E402


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
    """(flops the path does, dense-equivalent flops) for one generation's weights + forward."""
    a = task.arch
    n, nnz, m = task.num_genes, task.wg.nnz, a.num_links
    h, k, c, d = a.num_hidden, a.slots_per_unit, a.num_classes, a.num_inputs
    dense = 2.0 * pop * n * m + 2.0 * pop * batch * (d * h + h * c)
    if path in ("sparse", "fused"):
        done = 2.0 * nnz * pop + 2.0 * pop * batch * h * (k + c)
    elif path == "genespace":
        done = 2.0 * nnz * batch + 2.0 * pop * n * h * batch + 2.0 * pop * n * h * c + 2.0 * pop * batch * h * c
    else:  # dense reference: sparse W x, then per-network dense-masked forward on slots
        done = 2.0 * nnz * pop + 2.0 * pop * batch * h * (k + c)
    return done, dense


def bench_config(pop: int, genes: int, batch: int, hidden: int, path: str, reps: int, pop_chunk: int | None, mesh: Any) -> dict[str, Any]:
    key = jax.random.PRNGKey(0)
    task = nj.mlp_task(key, genes, num_hidden=hidden, path=path, pop_chunk=pop_chunk)
    if mesh is not None and pop % mesh.size == 0:
        task = task.replace(mesh=mesh)
    nne = nj.NNE(num_genes=genes, pop_size=pop, eps=1.0)
    state = nne.init(key)
    x = jax.random.uniform(jax.random.PRNGKey(1), (batch, 784))
    y = jnp.arange(batch, dtype=jnp.int32) % 10
    generation = nj.make_generation(nne, task)
    step_key = jax.random.PRNGKey(2)
    seconds = timed(lambda s: generation(s, step_key, (x, y))[0].allele_freqs, state, reps=reps)
    from nne_jax.generation import _generation_jit, delta_fitness

    compiled = _generation_jit.lower(nne, delta_fitness, task, state, step_key, (x, y)).compile()
    mem = compiled.memory_analysis()
    peak_mem = None if mem is None else int(mem.temp_size_in_bytes + mem.argument_size_in_bytes + mem.output_size_in_bytes)
    done, dense = flops(path, task, pop, batch)
    return {"N": pop, "n": genes, "B": batch, "h": hidden, "path": path, "devices": 1 if task.mesh is None else mesh.size,
            "pop_chunk": pop_chunk, "seconds_per_generation": seconds, "generations_per_second": 1.0 / seconds,
            "evals_per_second": pop / seconds, "flops_done": done, "flops_dense_equivalent": dense, "peak_memory_bytes": peak_mem,
            "numpy_seconds_per_generation": None, "evosax_seconds_per_generation": None}


def bf16_effect_on_delta(pop: int, genes: int, batch: int, hidden: int) -> dict[str, float]:
    """How much the genespace path's bfloat16 matmul changes δ (genotypes are exact in bf16; Z rounds)."""
    task = nj.mlp_task(jax.random.PRNGKey(0), genes, num_hidden=hidden)
    g = nj.sample_genotypes(jax.random.PRNGKey(1), jax.random.uniform(jax.random.PRNGKey(2), (genes,)), pop)
    x = jax.random.uniform(jax.random.PRNGKey(3), (batch, 784))
    y = jnp.arange(batch, dtype=jnp.int32) % 10
    ref = nj.delta_fitness(nj.population_logits(task.arch, task.wg, g, x, "genespace", pop_chunk=250), y)
    low = nj.delta_fitness(nj.population_logits(task.arch, task.wg, g, x, "genespace", pop_chunk=250, matmul_dtype="bfloat16"), y)
    ranks = lambda v: np.argsort(np.argsort(np.asarray(v)))
    return {"max_abs_delta_error": float(jnp.max(jnp.abs(ref - low))), "mean_abs_delta_error": float(jnp.mean(jnp.abs(ref - low))),
            "delta_std": float(jnp.std(ref)), "rank_correlation": float(np.corrcoef(ranks(ref), ranks(low))[0, 1])}


def numpy_seconds(pop: int, genes: int, batch: int, hidden: int, reps: int) -> float:
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


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the paper's shape and a few others (< 5 min on 2 CPU cores)")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--devices", type=int, default=None, help="XLA CPU devices to split the population over (default: cores)")
    parser.add_argument("--no-peers", action="store_true", help="skip the NumPy and evosax comparisons")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.reps < 5:
        parser.error("--reps must be >= 5 (medians of at least 5 timed runs)")
    command = "python -m benchmarks.generation " + " ".join(argv if argv is not None else sys.argv[1:])
    meta = metadata(command)
    mesh = population_mesh() if jax.device_count() > 1 else None
    peak = measured_peak_flops()
    print(f"{meta['device']}; measured float32 GEMM peak {peak / 1e9:.0f} GFLOP/s", flush=True)
    rows = []
    header = f"{'N':>6} {'n':>5} {'B':>4} {'h':>5} {'path':>9} {'dev':>3} {'s/gen':>8} {'gen/s':>7} {'evals/s':>9} {'%peak':>6} {'%peak(dense)':>12} {'mem GiB':>8}"
    print(header, flush=True)
    for pop, genes, batch, hidden, paths, chunk in QUICK if args.quick else FULL:
        for path in paths:
            row = bench_config(pop, genes, batch, hidden, path, args.reps, chunk, mesh)
            row.update(peak_flops_measured=peak, fraction_of_peak=row["flops_done"] / row["seconds_per_generation"] / peak,
                       fraction_of_peak_dense_equivalent=row["flops_dense_equivalent"] / row["seconds_per_generation"] / peak,
                       device=meta["device"], command=command)
            rows.append(row)
            mem = row["peak_memory_bytes"]
            print(f"{pop:6d} {genes:5d} {batch:4d} {hidden:5d} {path:>9} {row['devices']:3d} {row['seconds_per_generation']:8.4f} "
                  f"{row['generations_per_second']:7.2f} {row['evals_per_second']:9.0f} {100 * row['fraction_of_peak']:5.1f}% "
                  f"{100 * row['fraction_of_peak_dense_equivalent']:11.1f}% {'' if mem is None else f'{mem / 2**30:8.2f}'}", flush=True)
    if not args.no_peers:
        paper = next(r for r in rows if (r["N"], r["n"], r["B"], r["h"]) == (1000, 1000, 50, 1000))
        best = min(r["seconds_per_generation"] for r in rows if (r["N"], r["n"], r["B"], r["h"]) == (1000, 1000, 50, 1000))
        np_s = numpy_seconds(1000, 1000, 50, 1000, reps=2)
        es_s = evosax_seconds(1000, 1000, 50, 1000, reps=args.reps)
        for r in rows:
            if (r["N"], r["n"], r["B"], r["h"]) == (1000, 1000, 50, 1000):
                r["numpy_seconds_per_generation"], r["evosax_seconds_per_generation"] = np_s, es_s
        print(f"\npaper shape (N=n=h=1000, B=50): fastest NNE path {best:.4f} s/gen; NumPy baseline {np_s:.2f} s/gen "
              f"(x{np_s / best:.0f}); evosax Open_ES {'n/a' if es_s is None else f'{es_s:.4f} s/gen (NNE is x{es_s / best:.2f} its speed)'}")
        del paper
        effect = bf16_effect_on_delta(1000, 1000, 50, 1000)
        print(f"genespace bfloat16 vs float32 on δ (N=1000, B=50): max |Δδ| {effect['max_abs_delta_error']:.4f}, "
              f"mean |Δδ| {effect['mean_abs_delta_error']:.5f} (std of δ across genotypes {effect['delta_std']:.3f}), "
              f"rank correlation {effect['rank_correlation']:.5f}")
        for r in rows:
            if r["path"] == "genespace":
                r["bf16_effect_on_delta"] = effect
    kind = jax.devices()[0].device_kind.lower().replace(" ", "_") if jax.devices()[0].platform != "cpu" else "cpu"
    out = args.out or RESULTS / "benchmarks" / f"{'h100' if 'h100' in kind else 'h200' if 'h200' in kind else kind}.json"
    write_json(out, rows)
    print(f"wrote {out}")
    return rows


if __name__ == "__main__":
    main()
