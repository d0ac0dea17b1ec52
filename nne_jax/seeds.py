"""Named random streams: the key each part of an experiment draws from, derived from the run's seed.

A run's own stream is ``PRNGKey(seed)`` split three ways (task, init, generations; see
:mod:`nne_jax.runner`). What is computed *around* a run (its evaluation, the SignSGD readout, the
baselines) draws from ``PRNGKey(offset + seed)`` with one fixed offset per purpose, so the streams of
different purposes never coincide for seeds below 10,000 and every result stays reproducible.
The offsets are ours; they only have to differ.
"""
from __future__ import annotations

import jax

__all__ = ["STREAM_OFFSETS", "stream_key"]

STREAM_OFFSETS: dict[str, int] = {
    "signsgd": 20_000,  # NNE + SignSGD: the starting genotype and the readout's minibatches
    "sgd": 30_000,  # the Adam baseline on the masked net
    "evaluation": 40_000,  # the sampled genotypes of the "sampled-mean" evaluation
    "peer_init": 50_000,  # evosax peer: its initial state
    "peer_run": 60_000,  # evosax peer: its generations
    "ceiling": 70_000,  # gradient descent on p (the ceiling)
}


def stream_key(purpose: str, seed: int) -> jax.Array:
    """The key of ``purpose`` (a key of :data:`STREAM_OFFSETS`) for run ``seed``: ``PRNGKey(offset + seed)``."""
    if purpose not in STREAM_OFFSETS:
        raise ValueError(f"unknown random stream {purpose!r}; choose from {sorted(STREAM_OFFSETS)}")
    return jax.random.PRNGKey(STREAM_OFFSETS[purpose] + int(seed))
