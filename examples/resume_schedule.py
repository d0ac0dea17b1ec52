"""A run whose ε is an optax schedule, stopped and resumed in a new process, bitwise equal to an uncut run.

    python examples/resume_schedule.py --out /tmp/nne_resume --until 40   # first process: 40 generations
    python examples/resume_schedule.py --out /tmp/nne_resume              # a new process: resumes, runs to 80
    python examples/resume_schedule.py --check                           # both in subprocesses + an uncut run

``NNE(eps=optax.cosine_decay_schedule(...))`` takes ε from the schedule at each generation. The checkpoint
(:mod:`nne_jax.checkpoint`: atomic, checksummed) records the run's identity with
:func:`nne_jax.registry.stable_name`, which names the schedule by its function and captured values, not
by its memory address, so the new process recognises the run and resumes it; a schedule with other
arguments is refused (``ConfigMismatchError``). Generation ``t`` draws from ``fold_in(run_key, t)``, so the
resumed run equals the uncut one bit for bit.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

import nne_jax as nj
from nne_jax.checkpoint import restore_checkpoint, save_checkpoint
from nne_jax.registry import stable_name

GENERATIONS, GENES, POP = 80, 200, 32


def setup(seed: int = 0) -> tuple[nj.NNE, nj.MLPTask, jax.Array, jax.Array]:
    """A small synthetic 3-class problem and an NNE whose ε decays from 2 to 0 over the run."""
    task = nj.mlp_task(jax.random.PRNGKey(seed), GENES, beta=0.05, num_inputs=20, num_hidden=16, num_classes=3, density=0.3)
    x = jax.random.normal(jax.random.PRNGKey(seed + 1), (300, 20))
    y = jnp.argmax(x[:, :3], axis=1).astype(jnp.int32)
    nne = nj.NNE(num_genes=GENES, pop_size=POP, eps=optax.cosine_decay_schedule(2.0, GENERATIONS),
                 update_rule="multiplicative_weights", fitness_shaping="standardize", antithetic=True)
    return nne, task, x, y


def run(out: Path, until: int = GENERATIONS, seed: int = 0) -> np.ndarray:
    """Runs (or resumes) the run in ``out`` up to generation ``until``; returns ``p`` ``(n,)``."""
    nne, task, x, y = setup(seed)
    identity = {"eps": stable_name(nne.eps), "genes": GENES, "pop": POP, "seed": seed}
    found = restore_checkpoint(out, identity)
    if found is None:
        state = nne.init(jax.random.PRNGKey(seed + 2))
    else:
        saved = found[1]
        state = nj.NNEState(jnp.asarray(saved["allele_freqs"]), jnp.asarray(saved["fixed"]), jnp.asarray(saved["generation"]))
    state, _ = nj.run_generations(nne, task, state, jax.random.PRNGKey(seed + 3), x, y, until, batch_size=50,
                                  chunk_size=20, fitness_fn=nj.neg_cross_entropy)
    save_checkpoint(out, int(state.generation), {"allele_freqs": np.asarray(state.allele_freqs),
                                                 "fixed": np.asarray(state.fixed), "generation": np.asarray(state.generation)},
                    identity)
    return np.asarray(state.allele_freqs)


def check() -> dict[str, Any]:
    """Cut run (two processes) against an uncut run (a third): the allele frequencies, bit for bit."""
    with tempfile.TemporaryDirectory() as tmp:
        cut, uncut = Path(tmp) / "cut", Path(tmp) / "uncut"
        me = [sys.executable, str(Path(__file__).resolve())]
        subprocess.run([*me, "--out", str(cut), "--until", str(GENERATIONS // 2)], check=True, capture_output=True)
        subprocess.run([*me, "--out", str(cut)], check=True, capture_output=True)
        subprocess.run([*me, "--out", str(uncut)], check=True, capture_output=True)
        p_cut, p_uncut = (np.asarray(restore_checkpoint(d, {"eps": stable_name(setup()[0].eps), "genes": GENES, "pop": POP,
                                                               "seed": 0})[1]["allele_freqs"]) for d in (cut, uncut))
    return {"generations": GENERATIONS, "cut_at": GENERATIONS // 2, "bitwise_equal": bool(np.array_equal(p_cut, p_uncut)),
            "max_abs_difference": float(np.max(np.abs(p_cut - p_uncut)))}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="the run's checkpoint directory")
    parser.add_argument("--until", type=int, default=GENERATIONS, help="stop at this generation (a later call resumes)")
    parser.add_argument("--check", action="store_true", help="cut + resume in new processes against an uncut run")
    args = parser.parse_args(argv)
    if args.check:
        out = check()
    elif args.out is None:
        parser.error("give --out DIR (or --check)")
    else:
        p = run(args.out, args.until)
        out = {"out": str(args.out), "generation": min(args.until, GENERATIONS), "mean_p": float(p.mean())}
    print(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
