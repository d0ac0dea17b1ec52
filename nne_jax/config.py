"""Run configurations for NNE on MNIST: every choice the paper leaves open is a named field.

* ``faithful`` — exactly the paper's method (Section 3.1): i.i.d. genotypes, raw fitness δ,
  equation (3), no bounds. The paper leaves n ("a few thousand genes"), ε, the minibatch and the
  number of generations open; the values here are ours (see the README for why).
* ``fast`` — the same network, data, β and N = 1000, reached in far fewer generations: fitness
  −cross-entropy (a signal on every example, where δ is 0 for every badly classified one),
  standardised per generation, the multiplicative-weights form of (3) with ε = 2, antithetic
  genotype pairs, p kept in [0.02, 0.98], and n = 4000 genes (each ablated in
  ``experiments/ablations.py``).
* ``fast-delta`` — the first fast preset: the same but with the paper's δ fitness, ε = 1, n = 2000.
* ``smoke`` — a few generations on a small subset: CI's check that the learning signal is real.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from nne_jax.fitness import Fitness
from nne_jax.strategy import NNE

__all__ = ["RunConfig", "PRESETS", "apply_overrides"]


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """An NNE-on-MNIST run: strategy, network, data and budget."""

    name: str
    num_genes: int
    pop_size: int
    eps: float
    generations: int
    batch_size: int
    eval_every: int
    update_rule: str = "weak_selection"
    fitness_shaping: str = "none"
    antithetic: bool = False
    p_min: float = 0.0
    p_max: float = 1.0
    fixation: float | None = None
    fitness: str = "delta"
    temperature: float = 1.0
    beta: float = 0.0025
    num_hidden: int = 1000
    k_cap: int | None = None
    per_class: int = 200
    signsgd_steps: int = 400
    signsgd_lrs: tuple[float, ...] = (1e-3, 3e-3, 1e-2, 3e-2)

    def __post_init__(self) -> None:
        self.strategy()  # validates the NNE fields with their own error messages
        self.fitness_fn()
        for field in ("generations", "batch_size", "eval_every", "num_hidden", "per_class"):
            if getattr(self, field) < 1:
                raise ValueError(f"{field} must be >= 1, got {getattr(self, field)}")
        if not 0.0 < self.beta <= 1.0:
            raise ValueError(f"beta must be in (0, 1], got {self.beta}")

    def fitness_fn(self) -> Fitness:
        return Fitness(self.fitness, self.temperature)

    def strategy(self) -> NNE:
        return NNE(
            num_genes=self.num_genes, pop_size=self.pop_size, eps=self.eps, update_rule=self.update_rule,
            fitness_shaping=self.fitness_shaping, antithetic=self.antithetic, p_min=self.p_min, p_max=self.p_max,
            fixation=self.fixation,
        )

    def identity(self) -> dict[str, Any]:
        """The fields that define a run's random stream (all but the generation budget), for checkpoints."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k != "generations"}


def apply_overrides(config: RunConfig, assignments: list[str]) -> RunConfig:
    """``["eps=0.5", "antithetic=false"]`` → a config with those fields replaced (types checked)."""
    fields = {f.name for f in dataclasses.fields(RunConfig)} - {"name"}
    changes: dict[str, Any] = {}
    for item in assignments:
        name, sep, raw = item.partition("=")
        if not sep or name not in fields:
            raise ValueError(f"expected FIELD=VALUE with FIELD one of {sorted(fields)}, got {item!r}")
        current = getattr(config, name)
        if isinstance(current, bool):
            if raw.lower() not in ("true", "false"):
                raise ValueError(f"{name} expects true or false, got {raw!r}")
            changes[name] = raw.lower() == "true"
        elif raw.lower() == "none":
            changes[name] = None
        elif isinstance(current, tuple):
            changes[name] = tuple(float(v) for v in raw.split(","))
        elif isinstance(current, int) or name == "k_cap":
            changes[name] = int(raw)
        elif isinstance(current, float) or current is None:
            changes[name] = float(raw)
        else:
            changes[name] = raw
    return dataclasses.replace(config, **changes)


PRESETS: dict[str, RunConfig] = {
    "faithful": RunConfig("faithful", num_genes=2000, pop_size=1000, eps=20.0, generations=3000, batch_size=100, eval_every=100),
    "fast": RunConfig(
        "fast", num_genes=4000, pop_size=1000, eps=2.0, generations=600, batch_size=100, eval_every=25,
        update_rule="multiplicative_weights", fitness_shaping="standardize", antithetic=True, p_min=0.02, p_max=0.98,
        fitness="neg_cross_entropy",
    ),
    # the first fast preset (still the paper's δ fitness): the base of most ablations
    "fast-delta": RunConfig(
        "fast-delta", num_genes=2000, pop_size=1000, eps=1.0, generations=500, batch_size=100, eval_every=25,
        update_rule="multiplicative_weights", fitness_shaping="standardize", antithetic=True, p_min=0.02, p_max=0.98,
    ),
    "smoke": RunConfig(
        "smoke", num_genes=500, pop_size=100, eps=1.0, generations=30, batch_size=100, eval_every=10,
        update_rule="multiplicative_weights", fitness_shaping="standardize", antithetic=True, p_min=0.02, p_max=0.98,
        per_class=20, signsgd_steps=50, signsgd_lrs=(1e-2,),
    ),
}
