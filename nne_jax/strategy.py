"""The NNE strategy in the ask/tell style: ``init(key) → state``, ``ask(key, state)``, ``tell(...)``.

NNE evolves allele frequencies for *any* fitness a user computes from genotypes::

    nne = NNE(num_genes=100, pop_size=64, eps=0.5)
    state = nne.init(key)
    genotypes, state = nne.ask(key_t, state)   # (N, n) of 0/1
    state = nne.tell(state, genotypes, fitness)  # fitness (N,), higher is better

The faithful configuration is the default: i.i.d. sampling, raw fitness, equation (3), no bounds.
The other options are the "fast NNE" ablations (see README): fitness shaping, antithetic
sampling, the multiplicative-weights update, bounds on ``p``, an ``ε`` schedule, allele fixation.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from nne_jax.fitness import SHAPINGS
from nne_jax.genetics import UPDATE_RULES, allele_rewards, sample_genotypes

Array = jax.Array

__all__ = ["NNE", "NNEState"]


@flax.struct.dataclass
class NNEState:
    """State of an NNE run.

    Attributes:
      allele_freqs: ``(n,)`` float32 allele-1 frequencies ``p``.
      fixed: ``(n,)`` bool, genes fixed by allele fixation (never resampled, never updated).
      generation: int32 scalar, number of ``tell`` calls so far.
    """

    allele_freqs: Array
    fixed: Array
    generation: Array


@dataclasses.dataclass(frozen=True)
class NNE:
    """Neural Net Evolution over ``num_genes`` genes with ``pop_size`` genotypes per generation.

    Attributes:
      num_genes: ``n >= 1``.
      pop_size: ``N >= 2`` (even if ``antithetic``).
      eps: selection strength ``ε > 0``, or a schedule ``generation -> ε`` (an optax schedule works).
      update_rule: ``"weak_selection"`` (equation 3) or ``"multiplicative_weights"``.
      fitness_shaping: ``"none"`` (the paper), ``"standardize"`` or ``"centered_ranks"``.
      antithetic: sample genotypes in mirrored pairs (see :func:`sample_genotypes`).
      p_min, p_max: floor and ceiling on ``p`` after each update (``0, 1`` = none).
      fixation: if set (``0 < τ < 0.5``), a gene whose ``min(p, 1 − p) <= τ`` is fixed: its
        frequency snaps to 0 or 1, it is never resampled and never updated again.
      init_freqs: ``"uniform"`` (the paper: ``p¹ ~ U[0, 1]^n``) or ``"half"`` (all 0.5).
    """

    num_genes: int
    pop_size: int
    eps: float | Callable[[Array], Array]
    update_rule: str = "weak_selection"
    fitness_shaping: str = "none"
    antithetic: bool = False
    p_min: float = 0.0
    p_max: float = 1.0
    fixation: float | None = None
    init_freqs: str = "uniform"

    def __post_init__(self) -> None:
        if not isinstance(self.num_genes, (int, np.integer)) or self.num_genes < 1:
            raise ValueError(f"num_genes must be an int >= 1, got {self.num_genes!r}")
        if not isinstance(self.pop_size, (int, np.integer)) or self.pop_size < 2:
            raise ValueError(f"pop_size must be an int >= 2, got {self.pop_size!r}")
        if self.antithetic and self.pop_size % 2:
            raise ValueError(f"antithetic sampling needs an even pop_size, got {self.pop_size}")
        if not callable(self.eps) and not (np.isfinite(self.eps) and self.eps > 0):
            raise ValueError(f"eps must be > 0 (or a schedule), got {self.eps!r}")
        if self.update_rule not in UPDATE_RULES:
            raise ValueError(f"unknown update_rule {self.update_rule!r}; choose from {sorted(UPDATE_RULES)}")
        if self.fitness_shaping not in SHAPINGS:
            raise ValueError(f"unknown fitness_shaping {self.fitness_shaping!r}; choose from {sorted(SHAPINGS)}")
        if not 0.0 <= self.p_min < self.p_max <= 1.0:
            raise ValueError(f"need 0 <= p_min < p_max <= 1, got p_min={self.p_min}, p_max={self.p_max}")
        if self.fixation is not None and not 0.0 < self.fixation < 0.5:
            raise ValueError(f"fixation threshold must be in (0, 0.5), got {self.fixation}")
        if self.fixation is not None and (self.p_min > self.fixation or 1.0 - self.p_max > self.fixation):
            raise ValueError("fixation threshold must exceed the bounds' distance from 0/1, or no gene can fix")
        if self.init_freqs not in ("uniform", "half"):
            raise ValueError(f"init_freqs must be 'uniform' or 'half', got {self.init_freqs!r}")

    def init(self, key: Array, allele_freqs: Array | None = None) -> NNEState:
        """Initial state: ``p¹`` sampled per ``init_freqs``, or the given ``(n,)`` frequencies."""
        if allele_freqs is None:
            if self.init_freqs == "uniform":
                allele_freqs = jax.random.uniform(key, (self.num_genes,))
            else:
                allele_freqs = jnp.full((self.num_genes,), 0.5)
        else:
            allele_freqs = jnp.asarray(allele_freqs, jnp.float32)
            if allele_freqs.shape != (self.num_genes,):
                raise ValueError(f"allele_freqs must have shape ({self.num_genes},), got {allele_freqs.shape}")
            if not isinstance(allele_freqs, jax.core.Tracer):
                if not bool(jnp.all((allele_freqs >= 0) & (allele_freqs <= 1))):
                    raise ValueError("allele_freqs must lie in [0, 1]")
        fixed = jnp.zeros((self.num_genes,), bool)
        return NNEState(allele_freqs.astype(jnp.float32), fixed, jnp.zeros((), jnp.int32))

    def ask(self, key: Array, state: NNEState) -> tuple[Array, NNEState]:
        """Samples ``(pop_size, n)`` genotypes from ``state``; fixed genes take their fixed allele."""
        genotypes = sample_genotypes(key, state.allele_freqs, self.pop_size, self.antithetic)
        if self.fixation is not None:
            genotypes = jnp.where(state.fixed, jnp.round(state.allele_freqs), genotypes)
        return genotypes, state

    def tell(self, state: NNEState, genotypes: Array, fitness: Array) -> NNEState:
        """Updates allele frequencies from the genotypes ``(N, n)`` and their fitness ``(N,)``."""
        if genotypes.shape != (self.pop_size, self.num_genes):
            raise ValueError(f"genotypes must have shape {(self.pop_size, self.num_genes)}, got {genotypes.shape}")
        if fitness.shape != (self.pop_size,):
            raise ValueError(f"fitness must have shape ({self.pop_size},), got {fitness.shape}")
        f, f_bar = allele_rewards(genotypes, SHAPINGS[self.fitness_shaping](fitness))
        eps = self.eps(state.generation) if callable(self.eps) else self.eps
        p = UPDATE_RULES[self.update_rule](state.allele_freqs, f, f_bar, eps)
        if self.p_min > 0.0 or self.p_max < 1.0:
            p = jnp.clip(p, self.p_min, self.p_max)
        fixed = state.fixed
        if self.fixation is not None:
            p = jnp.where(fixed, state.allele_freqs, p)
            fixed = fixed | (jnp.minimum(p, 1.0 - p) <= self.fixation)
            p = jnp.where(fixed, jnp.round(p), p)
        return NNEState(p, fixed, state.generation + 1)
