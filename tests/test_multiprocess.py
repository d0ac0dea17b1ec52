"""Two processes (jax.distributed on 127.0.0.1, CPU gloo collectives), half the population each,
give the same allele frequencies as one process."""

import os
import socket
import subprocess
import sys
import textwrap

import numpy as np

WORKER = textwrap.dedent(
    """
    import sys
    import jax
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address="127.0.0.1:" + sys.argv[2], num_processes=2, process_id=int(sys.argv[1]))
    import jax.numpy as jnp, numpy as np
    import nne_jax as nj
    from nne_jax.parallel import population_mesh
    assert jax.process_count() == 2 and jax.device_count() == 2 and jax.local_device_count() == 1
    task = nj.mlp_task(jax.random.PRNGKey(0), num_genes=120, beta=0.03, num_inputs=20, num_hidden=24, num_classes=3, density=0.3)
    x = jax.random.uniform(jax.random.PRNGKey(1), (200, 20)); y = jnp.arange(200) % 3
    nne = nj.NNE(num_genes=120, pop_size=32, eps=0.5, fitness_shaping="standardize", update_rule="multiplicative_weights")
    state = nne.init(jax.random.PRNGKey(2))
    mesh = population_mesh()  # spans both processes' devices: each process evaluates 16 genotypes
    if sys.argv[3] == "single":
        mesh = None
    state, _ = nj.run_generations(nne, task.replace(mesh=mesh), state, jax.random.PRNGKey(3), x, y, 15, batch_size=50)
    np.save(sys.argv[4], np.asarray(state.allele_freqs.addressable_data(0)))
    """
)

SINGLE = WORKER.split("jax.config.update")[0] + WORKER.split("jax.distributed.initialize")[1].split("\n", 1)[1].replace(
    "assert jax.process_count() == 2 and jax.device_count() == 2 and jax.local_device_count() == 1", "mesh = None"
)


# one CPU device per process, whatever the parent process asked XLA for
CLEAN_ENV = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_match_one(tmp_path):
    port = str(_free_port())
    outs = [tmp_path / f"p{i}.npy" for i in range(2)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(i), port, "sharded", str(outs[i])],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=CLEAN_ENV,
        )
        for i in range(2)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
    single = tmp_path / "single.npy"
    one = subprocess.run(
        [sys.executable, "-c", SINGLE, "0", "0", "single", str(single)], capture_output=True, text=True, timeout=300, env=CLEAN_ENV
    )
    assert one.returncode == 0, one.stderr[-3000:]
    p0, p1, ref = (np.load(p) for p in (*outs, single))
    np.testing.assert_array_equal(p0, p1)  # replicated state agrees across processes
    np.testing.assert_allclose(p0, ref, rtol=1e-4, atol=1e-5)  # equal up to float reduction order


HOST_DEVICES = textwrap.dedent(
    """
    import jax, numpy as np
    import nne_jax as nj
    from nne_jax.parallel import population_mesh
    assert jax.device_count() == 2
    key = jax.random.PRNGKey(0)
    task = nj.mlp_task(key, 300, num_hidden=100, beta=0.01).replace(mesh=population_mesh())
    nne = nj.NNE(num_genes=300, pop_size=100, eps=1.0)
    x = np.random.default_rng(0).random((2000, 784), dtype=np.float32); y = np.arange(2000) % 10
    state, metrics = nj.run_generations(nne, task, nne.init(key), key, x, y, 200, batch_size=50, chunk_size=1)
    assert int(state.generation) == 200 and metrics.mean_fitness.shape == (200,)
    # the other tasks on the same mesh: allele fixation (compacted W + offsets), a deep net, a k-cap
    fix = nj.NNE(num_genes=300, pop_size=100, eps=2.0, fixation=0.2, update_rule="multiplicative_weights", fitness_shaping="standardize")
    state, _ = nj.run_generations(fix, task, fix.init(key), key, x, y, 30, batch_size=50, chunk_size=10)
    assert 0 < float(state.fixed.mean())
    from nne_jax.deep import deep_task
    deep = deep_task(key, 300, hidden=(40, 30), beta=0.01).replace(mesh=population_mesh())
    nj.run_generations(nne, deep, nne.init(key), key, x, y, 4, batch_size=50, chunk_size=2)
    capped = task.replace(arch=task.arch.replace(k_cap=10))
    nj.run_generations(nne, capped, nne.init(key), key, x, y, 4, batch_size=50, chunk_size=2)
    print("done")
    """
)


def test_host_devices_short_chunks_and_every_task_kind():
    """Two XLA CPU devices in one process. (1) One generation per chunk: with several chunks in
    flight at once, XLA's in-process all-reduce starved its thread pool and aborted the process
    ("Expected 2 threads to join the rendezvous"); the runner now keeps one chunk in flight.
    (2) Allele fixation, a deep net and a k-cap on the mesh: the replicated task is passed into
    ``shard_map`` explicitly (a closed-over replicated offset could not be indexed there)."""
    env = dict(CLEAN_ENV, XLA_FLAGS="--xla_force_host_platform_device_count=2")
    proc = subprocess.run([sys.executable, "-c", HOST_DEVICES], capture_output=True, text=True, timeout=240, env=env)
    assert proc.returncode == 0 and "done" in proc.stdout, proc.stderr[-3000:]


def _device_count_after_use_host_devices(count: int, env: dict[str, str]) -> tuple[int, str]:
    code = "import jax; from nne_jax.parallel import use_host_devices; " \
           f"asked = use_host_devices({count}); print(asked, jax.device_count())"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return done.stdout.split(), done.stderr


def test_use_host_devices_sets_the_cpu_device_count_and_respects_an_explicit_xla_flag():
    assert _device_count_after_use_host_devices(3, CLEAN_ENV)[0] == ["3", "3"]  # jax_num_cpu_devices
    env = dict(CLEAN_ENV, XLA_FLAGS="--xla_force_host_platform_device_count=2")
    assert _device_count_after_use_host_devices(3, env)[0] == ["2", "2"]  # the user's flag wins


def test_use_host_devices_after_jax_started_warns_and_reports_the_real_count():
    code = "import jax, warnings; jax.numpy.zeros(1); from nne_jax.parallel import use_host_devices\n" \
           "with warnings.catch_warnings(record=True) as w:\n    warnings.simplefilter('always'); n = use_host_devices(5)\n" \
           "print(n, jax.device_count(), 'already initialised' in str(w[0].message))"
    done = subprocess.run([sys.executable, "-c", code], env=CLEAN_ENV, capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["1", "1", "True"]
