"""One ask/tell loop for NNE and an evosax strategy, on the same fitness.

    python examples/evosax_loop.py [--genes 64] [--pop 64] [--generations 150]

A target ``b = A x*`` is made from a hidden 0/1 vector ``x*``; the fitness of a candidate ``v`` is
``-‖A v − b‖² / m`` (0 at ``v = x*``). NNE searches 0/1 genotypes (its solution is the allele
frequencies ``p``); evosax's ``Open_ES`` (σ 0.1, Adam 0.05: our settings, not tuned) searches real
vectors (its solution is the mean). Both run in
:func:`nne_jax.evosax_adapter.ask_tell_loop`, one jitted ``lax.scan`` each, through the same
five-method interface (fitness maximised). evosax is needed (``pip install evosax``, in the test extra).
"""
from __future__ import annotations

import argparse
import json
from typing import Any

import jax
import jax.numpy as jnp
import optax

from nne_jax import NNE
from nne_jax.evosax_adapter import EvosaxStrategy, NNEStrategy, ask_tell_loop


def problem(key: jax.Array, num_genes: int, rows: int) -> tuple[Any, jax.Array]:
    """``(fitness (N, d) -> (N,), x* (d,))`` for a random ``A (rows, d)`` and a hidden 0/1 ``x*``."""
    a_key, x_key = jax.random.split(key)
    a = jax.random.normal(a_key, (rows, num_genes)) / jnp.sqrt(num_genes)
    x_star = jax.random.bernoulli(x_key, 0.5, (num_genes,)).astype(jnp.float32)
    b = a @ x_star
    return (lambda v: -jnp.mean((v @ a.T - b) ** 2, axis=-1)), x_star


def compare(num_genes: int = 64, pop_size: int = 64, generations: int = 150, seed: int = 0) -> dict[str, Any]:
    """Final fitness of each strategy's solution and its first/last mean population fitness."""
    from evosax.algorithms import Open_ES

    fitness, x_star = problem(jax.random.PRNGKey(seed), num_genes, rows=2 * num_genes)
    strategies = {
        "NNE": NNEStrategy(NNE(num_genes=num_genes, pop_size=pop_size, eps=2.0, fitness_shaping="standardize",
                               update_rule="multiplicative_weights", antithetic=True)),
        "Open_ES": EvosaxStrategy(Open_ES(population_size=pop_size, solution=jnp.zeros(num_genes), optimizer=optax.adam(0.05),
                                          std_schedule=optax.constant_schedule(0.1)),
                                  init_mean=jnp.full(num_genes, 0.5)),
    }
    out: dict[str, Any] = {"fitness_of_x_star": float(fitness(x_star[None])[0])}
    for name, strategy in strategies.items():
        state, metrics = ask_tell_loop(strategy, fitness, jax.random.PRNGKey(seed + 1), generations)
        solution = strategy.solution(state)
        out[name] = {"fitness_of_solution": float(fitness(solution[None])[0]),
                     "mean_fitness_first": float(metrics["mean_fitness"][0]),
                     "mean_fitness_last": float(metrics["mean_fitness"][-1])}
        if name == "NNE":
            out[name]["bits_right_in_round_p"] = int(jnp.sum(jnp.round(solution) == x_star))
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--genes", type=int, default=64)
    parser.add_argument("--pop", type=int, default=64)
    parser.add_argument("--generations", type=int, default=150)
    args = parser.parse_args(argv)
    out = compare(args.genes, args.pop, args.generations)
    print(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
