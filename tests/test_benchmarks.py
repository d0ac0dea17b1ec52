"""The benchmark's baselines compute the same generation as the library (same δ, same update)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nne_jax as nj
from benchmarks.numpy_generation import NaiveNumpyNNE, NumpyNNE
from nne_jax.population import PATHS


@pytest.fixture(scope="module")
def task():
    return nj.mlp_task(jax.random.PRNGKey(0), num_genes=150, beta=0.02, num_inputs=40, num_hidden=60, num_classes=10, density=0.2)


def test_numpy_baselines_equal_each_other_and_every_jax_path(task):
    genotypes = np.asarray(jax.random.bernoulli(jax.random.PRNGKey(1), 0.5, (12, 150)), np.float32)
    inputs = np.asarray(jax.random.uniform(jax.random.PRNGKey(2), (16, 40)))
    labels = np.arange(16) % 10
    ref = NumpyNNE(task).fitness(genotypes, inputs, labels)
    assert np.ptp(ref) > 0  # a non-trivial comparison
    naive = NaiveNumpyNNE(task)
    assert naive.W.shape == (task.arch.num_links, 150) and np.count_nonzero(naive.W) == task.wg.nnz  # dense W over the real links
    np.testing.assert_allclose(naive.fitness(genotypes, inputs, labels), ref, rtol=1e-5, atol=1e-5)
    # the naive dense forward gives the library's single-network logits too
    weights = nj.generate_weights(task.wg, jnp.asarray(genotypes[0]))
    np.testing.assert_allclose(naive.logits(genotypes[0], inputs), np.asarray(nj.mlp_forward(task.arch, weights, jnp.asarray(inputs))),
                               rtol=1e-4, atol=1e-4)
    for path in PATHS:
        logits = nj.population_logits(task.arch, task.wg, jnp.asarray(genotypes), jnp.asarray(inputs), path=path, blocks=task.blocks)
        np.testing.assert_allclose(np.asarray(nj.delta_fitness(logits, jnp.asarray(labels))), ref, rtol=1e-4, atol=1e-4, err_msg=path)


@pytest.mark.parametrize("path", sorted(set(PATHS) - {"dense"}))
def test_every_fast_path_gives_the_reference_generation(task, path):
    """A whole jitted generation (sample, weights, forward, δ, allele rewards, update) through each
    fast path gives the reference (dense) path's δ statistics and updated allele frequencies."""
    nne = nj.NNE(num_genes=150, pop_size=24, eps=0.5)
    state = nne.init(jax.random.PRNGKey(6))
    batch = (jax.random.uniform(jax.random.PRNGKey(7), (16, 40)), jnp.arange(16, dtype=jnp.int32) % 10)
    ref_state, ref_metrics = nj.make_generation(nne, task.replace(path="dense"))(state, jax.random.PRNGKey(8), batch)
    new_state, metrics = nj.make_generation(nne, task.replace(path=path))(state, jax.random.PRNGKey(8), batch)
    assert not np.allclose(np.asarray(ref_state.allele_freqs), np.asarray(state.allele_freqs))  # the update did something
    np.testing.assert_allclose(np.asarray(new_state.allele_freqs), np.asarray(ref_state.allele_freqs), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(metrics.mean_fitness), np.asarray(ref_metrics.mean_fitness), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(metrics.best_fitness), np.asarray(ref_metrics.best_fitness), rtol=1e-4, atol=1e-5)


def test_numpy_update_equals_library(task):
    rng = np.random.default_rng(3)
    p = rng.random(150).astype(np.float32)
    genotypes = (rng.random((40, 150)) < p).astype(np.float32)
    genotypes[:, 0], genotypes[:, 1] = 1.0, 0.0
    fitness = rng.random(40).astype(np.float32) * 5
    f, fb = nj.allele_rewards(jnp.asarray(genotypes), jnp.asarray(fitness))
    expected = np.asarray(nj.update_allele_freqs(jnp.asarray(p), f, fb, 0.7))
    np.testing.assert_allclose(NumpyNNE.update(p, genotypes, fitness, 0.7), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(NaiveNumpyNNE.update(p, genotypes, fitness, 0.7), expected, rtol=1e-5, atol=1e-6)


def test_naive_generation_equals_optimised_generation(task):
    inputs = np.asarray(jax.random.uniform(jax.random.PRNGKey(4), (8, 40)))
    labels = np.arange(8) % 10
    p = np.full(150, 0.5)
    a = NumpyNNE(task).generation(np.random.default_rng(5), p, 10, 1.0, inputs, labels)
    b = NaiveNumpyNNE(task).generation(np.random.default_rng(5), p, 10, 1.0, inputs, labels)
    assert not np.allclose(a, p)
    np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)


def test_flop_counts_are_consistent(task):
    from benchmarks.generation import flops

    done, dense = flops("fused", task, 100, 50)
    assert 0 < done < dense
    unblocked, _ = flops("fused", task.replace(blocks=None), 100, 50)
    trimmed = sum(g.num_units * g.slots_per_unit for g in task.blocks)
    assert unblocked - done == 2.0 * 100 * 50 * (task.arch.num_hidden * task.arch.slots_per_unit - trimmed) > 0
    done_g, _ = flops("genespace", task, 100, 50)
    assert done_g > 0


def test_single_config_parsing_and_output_format():
    from benchmarks.generation import SINGLE_MARKER, parse_config, parse_single_output

    assert parse_config(["10000", "1000", "200", "1000", "fused", "1000"]) == (10000, 1000, 200, 1000, "fused", 1000)
    assert parse_config(["8", "50", "4", "16", "sparse", "none"]) == (8, 50, 4, 16, "sparse", None)
    with pytest.raises(ValueError):
        parse_config(["8", "50", "4", "16", "fused"])
    out = "some log line\n" + SINGLE_MARKER + '{"N": 8, "peak_rss_bytes": 123}\nmore log\n'
    assert parse_single_output(out) == {"N": 8, "peak_rss_bytes": 123}
    with pytest.raises(ValueError):
        parse_single_output("no row here\n")


def test_bench_config_row_and_runner_timing():
    from benchmarks.generation import bench_config

    row = bench_config(8, 50, 4, 16, "fused", 5, None, None, runner=True)
    assert row["runner_seconds_per_generation"] > 0 and row["seconds_per_generation"] > 0
    assert row["flops_done"] < row["flops_dense_equivalent"] and (row["N"], row["n"], row["B"], row["h"]) == (8, 50, 4, 16)
    assert bench_config(8, 50, 4, 16, "sparse", 5, None, None)["runner_seconds_per_generation"] is None


def test_single_config_in_a_subprocess_reports_peak_rss():
    """The benchmark's peak-RSS entry point, end to end, on a tiny config (a fresh process)."""
    from benchmarks.generation import single_in_subprocess

    row = single_in_subprocess(8, 50, 4, 16, "fused", None, reps=5, timeout=120)
    assert (row["N"], row["n"], row["B"], row["h"], row["path"], row["pop_chunk"]) == (8, 50, 4, 16, "fused", None)
    assert row["seconds_per_generation"] > 0
    assert row["peak_rss_bytes"] >= row["rss_before_config_bytes"] > 10 * 2**20  # bytes, not KiB: a JAX process is > 10 MiB
    # the child's own high-water mark, not the parent's carried over fork + exec (as ru_maxrss is)
    assert row["rss_before_config_bytes"] < 0.75 * 2**30


def test_open_es_peer_learns_a_separable_task():
    """The evosax peer: real-valued weights in the slot layout (padding slots stay 0), and its
    steps raise the accuracy of its mean network on an easy two-class problem."""
    pytest.importorskip("evosax")
    from benchmarks.peers import open_es

    task = nj.mlp_task(jax.random.PRNGKey(0), num_genes=50, beta=0.05, num_inputs=8, num_hidden=16, num_classes=2, density=0.5)
    x = jax.random.uniform(jax.random.PRNGKey(1), (400, 8))
    y = (x[:, 0] > x[:, 1]).astype(jnp.int32)
    # δ is 0 for every confidently wrong network, which leaves a 2-class toy flat: use −CE here
    init, step, weights = open_es(task, pop_size=64, batch_size=64, sigma=0.05, lr=0.05, fitness_fn=nj.neg_cross_entropy)
    state = init(jax.random.PRNGKey(2))
    accuracy = lambda s: float(jnp.mean(jnp.argmax(task.forward(weights(s), x), -1) == y))
    before = accuracy(state)
    for t in range(60):
        state = step(state, jax.random.PRNGKey(100 + t), x, y)
    w = np.asarray(weights(state))
    assert not w[~task.arch.active].any()
    assert accuracy(state) > max(before + 0.2, 0.85)


def test_main_writes_every_row_with_the_issue_fields(tmp_path, monkeypatch):
    """``main`` end to end on tiny shapes: one row in-process, one in the peak-RSS subprocess."""
    import json

    import benchmarks.generation as bg

    monkeypatch.setattr(bg, "QUICK", [(8, 50, 4, 16, ("fused",), None), (8, 50, 4, 16, ("sparse",), 4)])
    monkeypatch.setattr(bg, "RSS_ROWS", {(8, 50, 4, 16, "sparse", 4)})
    monkeypatch.setattr(bg, "PRESET_SHAPES", {"tiny": (8, 200, 4, 16, None, None, 0.01)})
    monkeypatch.setattr(bg, "measured_peak_flops", lambda: 1e11)
    out = tmp_path / "bench.json"
    bg.main(["--quick", "--no-peers", "--out", str(out)])
    rows = json.loads(out.read_text())
    assert [r["path"] for r in rows] == ["fused", "sparse", "fused"]
    assert rows[2]["preset"] == "tiny" and rows[2]["beta"] == 0.01 and rows[0]["beta"] == 0.0025
    required = ["N", "n", "B", "h", "path", "seconds_per_generation", "generations_per_second", "evals_per_second", "flops_done",
                "flops_dense_equivalent", "peak_flops_measured", "numpy_seconds_per_generation", "evosax_seconds_per_generation",
                "peak_memory_bytes", "device", "command", "git_commit", "timestamp", "seed"]
    assert all(key in r for r in rows for key in required)
    assert all(r["git_commit"] and r["timestamp"] for r in rows)  # the preset row once lacked both
    assert rows[0]["peak_rss_bytes"] is None and rows[1]["peak_rss_bytes"] > rows[1]["rss_before_config_bytes"] > 0
    assert rows[1]["pop_chunk"] == 4 and rows[0]["peak_flops_measured"] == 1e11
