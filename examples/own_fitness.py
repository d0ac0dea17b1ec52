"""NNE on a fitness of your own, inside your own ``jit`` + ``lax.scan``.

    python examples/own_fitness.py [--genes 256] [--generations 200]

The fitness here is a random linear objective over 0/1 genotypes, ``fitness(x) = w · x / Σ|w|``
(in [-1, 1]; the best genotype is ``x(i) = [w(i) > 0]``). It is signed, so the default
equation-(3) update would clip multipliers ``1 + ε f`` at 0 and stall; ``fitness_shaping=
"centered_ranks"`` (or ``update_rule="multiplicative_weights"``) suits signed fitness, and
``tell(..., return_metrics=True)`` reports the clipped fraction so you can see it.
"""
from __future__ import annotations

import argparse
import json
from typing import Any

import jax
import jax.numpy as jnp

from nne_jax import NNE, NNEState


def linear_fitness(weights: jax.Array) -> Any:
    """``genotypes (N, n) -> (N,)``: ``w · x / Σ|w|``."""
    return lambda genotypes: genotypes @ weights / jnp.sum(jnp.abs(weights))


def evolve(num_genes: int = 256, pop_size: int = 64, generations: int = 200, eps: float = 1.0, seed: int = 0) -> dict[str, Any]:
    """Runs NNE in one jitted scan; returns final fitness/optimum and the per-generation metrics' ends."""
    key = jax.random.PRNGKey(seed)
    w_key, init_key, run_key = jax.random.split(key, 3)
    weights = jax.random.normal(w_key, (num_genes,))
    fitness_fn = linear_fitness(weights)
    nne = NNE(num_genes=num_genes, pop_size=pop_size, eps=eps, fitness_shaping="centered_ranks", antithetic=True)

    @jax.jit
    def train(state: NNEState) -> tuple[NNEState, Any]:
        def step(state: NNEState, key: jax.Array) -> tuple[NNEState, Any]:
            genotypes, state = nne.ask(key, state)
            return nne.tell(state, genotypes, fitness_fn(genotypes), return_metrics=True)

        return jax.lax.scan(step, state, jax.random.split(run_key, generations))

    state, metrics = train(nne.init(init_key))
    best = fitness_fn((weights > 0).astype(jnp.float32)[None])[0]
    mode = fitness_fn(jnp.round(state.allele_freqs)[None])[0]
    return {"optimum": float(best), "fitness_of_rounded_p": float(mode),
            "mean_fitness_first": float(metrics.mean_fitness[0]), "mean_fitness_last": float(metrics.mean_fitness[-1]),
            "max_clipped_fraction": float(jnp.max(metrics.clipped_fraction))}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--genes", type=int, default=256)
    parser.add_argument("--generations", type=int, default=200)
    args = parser.parse_args(argv)
    out = evolve(args.genes, generations=args.generations)
    print(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
