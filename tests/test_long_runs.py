"""Long runs: SIGKILL + resume is bitwise exact; the population shards over 4 devices."""
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from nne_jax.checkpoint import list_checkpoints, restore_checkpoint

CLEAN_ENV = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}  # --devices decides
needs_mnist = pytest.mark.skipif(not os.environ.get("NNE_DATA_DIR"), reason="NNE_DATA_DIR not set (real MNIST needed)")


def _final_freqs(run_dir: Path, identity: dict) -> np.ndarray:
    step, state = restore_checkpoint(run_dir, identity)
    return np.asarray(state["allele_freqs"]), step


@needs_mnist
def test_sigkill_and_resume_is_bitwise_identical(tmp_path):
    base = [sys.executable, "-m", "nne_jax", "run", "--preset", "smoke", "--task", "0-9", "--generations", "40",
            "--set", "eval_every=4", "--devices", "1"]
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    done = subprocess.run(base + ["--out", str(straight)], capture_output=True, text=True, timeout=600, env=CLEAN_ENV)
    assert done.returncode == 0, done.stderr
    proc = subprocess.Popen(base + ["--out", str(killed)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=CLEAN_ENV)
    deadline = time.time() + 300
    while len(list_checkpoints(killed)) < 2 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(0.3)  # land somewhere inside a chunk
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    steps_at_kill = [int(p.stem.split("_")[1]) for p in list_checkpoints(killed)]
    assert steps_at_kill and max(steps_at_kill) < 40, "the run finished before it could be killed"
    resumed = subprocess.run(base + ["--out", str(killed)], capture_output=True, text=True, timeout=600, env=CLEAN_ENV)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resumed from generation {max(steps_at_kill)}" in resumed.stdout
    from nne_jax.config import PRESETS, apply_overrides

    identity = {"task": "0-9", "seed": 0, **apply_overrides(PRESETS["smoke"], ["eval_every=4"]).identity()}
    a, step_a = _final_freqs(straight, identity)
    b, step_b = _final_freqs(killed, identity)
    assert step_a == step_b == 40
    np.testing.assert_array_equal(a, b)


def test_corrupt_checkpoint_falls_back_with_warning(tmp_path):
    from nne_jax.checkpoint import ConfigMismatchError, save_checkpoint

    cfg = {"a": 1}
    save_checkpoint(tmp_path, 10, {"p": np.arange(3.0)}, cfg)
    newest = save_checkpoint(tmp_path, 20, {"p": np.arange(3.0) + 1}, cfg)
    newest.write_bytes(newest.read_bytes()[:-7])  # truncated
    with pytest.warns(UserWarning, match="skipping unreadable checkpoint"):
        step, state = restore_checkpoint(tmp_path, cfg)
    assert step == 10 and np.array_equal(state["p"], np.arange(3.0))
    with pytest.raises(ConfigMismatchError, match="'a': \\(1, 2\\)"):
        restore_checkpoint(tmp_path, {"a": 2})
    for i in range(5):
        save_checkpoint(tmp_path, 30 + i, {"p": np.zeros(1)}, cfg, keep=3)
    assert [p.name for p in list_checkpoints(tmp_path)] == [f"ckpt_{30 + i:010d}.msgpack" for i in (2, 3, 4)]
    assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())


SHARDED = textwrap.dedent(
    """
    import jax, jax.numpy as jnp, numpy as np
    import nne_jax as nj
    from nne_jax.parallel import population_mesh
    assert jax.device_count() == 4, jax.devices()
    task = nj.mlp_task(jax.random.PRNGKey(0), num_genes=120, beta=0.03, num_inputs=20, num_hidden=24, num_classes=3, density=0.3)
    x = jax.random.uniform(jax.random.PRNGKey(1), (200, 20)); y = jnp.arange(200) % 3
    nne = nj.NNE(num_genes=120, pop_size=32, eps=0.5, fitness_shaping="standardize", update_rule="multiplicative_weights")
    s0 = nne.init(jax.random.PRNGKey(2))
    single, m1 = nj.run_generations(nne, task, s0, jax.random.PRNGKey(3), x, y, 15, batch_size=50)
    sharded_task = task.replace(mesh=population_mesh())
    sharded, m4 = nj.run_generations(nne, sharded_task, s0, jax.random.PRNGKey(3), x, y, 15, batch_size=50)
    np.testing.assert_allclose(np.asarray(single.allele_freqs), np.asarray(sharded.allele_freqs), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(m1.mean_fitness), np.asarray(m4.mean_fitness), rtol=1e-4, atol=1e-5)
    try:
        nj.make_generation(nj.NNE(num_genes=120, pop_size=30, eps=0.5), sharded_task)(s0, jax.random.PRNGKey(0), (x[:10], y[:10]))
    except ValueError as e:
        assert "not divisible by the 4 devices" in str(e), e
    else:
        raise AssertionError("pop_size 30 on 4 devices should be refused")
    print("OK sharded")
    """
)


def test_population_sharded_over_four_cpu_devices_matches_single_device():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4")
    out = subprocess.run([sys.executable, "-c", SHARDED], capture_output=True, text=True, timeout=600, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "OK sharded" in out.stdout
