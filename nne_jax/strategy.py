"""The NNE strategy in the ask/tell style: ``init(key) → state``, ``ask(key, state)``, ``tell(...)``.

NNE evolves allele frequencies for *any* fitness a user computes from genotypes::

    nne = NNE(num_genes=100, pop_size=64, eps=0.5)
    state = nne.init(key)
    genotypes, state = nne.ask(key_t, state)   # (N, n) of 0/1
    state = nne.tell(state, genotypes, fitness)  # fitness (N,), higher is better

The faithful configuration is the default: i.i.d. sampling, raw fitness, equation (3), no bounds.
The other options are the "fast NNE" ablations (see README): fitness shaping, antithetic
sampling, the multiplicative-weights update, bounds on ``p``, an ``ε`` schedule, allele fixation,
and (ours, issue #17) an optax transformation of the multiplicative-weights step (``optimizer=``).

Numbers vs structure (as in evosax): the constructor fixes the *structure* (sizes, which rule, which
shaping, sampling, whether fixation is on: static under ``jit``); the numeric knobs live in a traced
:class:`NNEParams` pytree, ``nne.default_params``, that ``ask``/``tell`` take as ``params=``. A new
``ε`` therefore does not recompile, and a sweep is one ``vmap``::

    tell = lambda e: nne.tell(state, x, f, params=nne.default_params.replace(eps=e))
    states = jax.vmap(tell)(jnp.array([0.5, 1.0, 2.0]))

Non-finite fitness (ours; the paper's fitness is always finite): in ``tell`` a NaN or ``±inf``
fitness counts as the generation's worst finite fitness; if no fitness is finite the frequencies are
left unchanged (the generation counter still advances, so the next ``ask`` draws new genotypes).
Either way ``TellMetrics.num_nonfinite`` counts them, and no NaN ever enters the state.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from functools import partial
from typing import Any, NamedTuple

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax

from nne_jax.fitness import SHAPINGS, replace_nonfinite
from nne_jax.genetics import (
    UPDATE_RULES,
    allele_rewards,
    clipped_fraction,
    multiplicative_weights_update,
    sample_genotypes,
    update_allele_freqs,
)
from nne_jax.registry import Registry

Array = jax.Array

__all__ = ["NNE", "NNEState", "NNEParams", "TellMetrics", "INIT_FREQS", "OPTIMIZERS"]


def uniform_freqs(key: Array, num_genes: int) -> Array:
    """The paper's start: ``p¹ ~ U[0, 1]^n``, ``(n,)`` float32."""
    return jax.random.uniform(key, (num_genes,))


def half_freqs(key: Array, num_genes: int) -> Array:
    """Every frequency 0.5: ``(n,)`` float32 (``key`` unused)."""
    del key
    return jnp.full((num_genes,), 0.5)


INIT_FREQS: Registry[Callable[[Array, int], Array]] = Registry("init_freqs", {"uniform": uniform_freqs, "half": half_freqs})
"""Initial allele frequencies ``(key, n) -> (n,)`` by name; ``INIT_FREQS.register`` adds one."""

OPTIMIZERS: Registry[Callable[[], optax.GradientTransformation]] = Registry(
    "optimizer", {"adam": optax.scale_by_adam, "momentum": partial(optax.trace, decay=0.9)}
)
"""Transformations of the step in logit space ``f - f̄`` by name (factories ``() -> GradientTransformation``;
ours, not the paper's); ``OPTIMIZERS.register`` adds one."""

_LOGIT_FLOOR = 1e-6  # p is clipped to [1e-6, 1 - 1e-6] before taking logit p (fixed genes at 0/1 are not updated)


@flax.struct.dataclass
class NNEState:
    """State of an NNE run.

    Attributes:
      allele_freqs: ``(n,)`` float32 allele-1 frequencies ``p``.
      fixed: ``(n,)`` bool, genes fixed by allele fixation (never resampled, never updated).
      generation: int32 scalar, number of ``tell`` calls so far.
      opt_state: the ``optimizer``'s state (a pytree of ``(n,)`` arrays), ``None`` without one.
    """

    allele_freqs: Array
    fixed: Array
    generation: Array
    opt_state: Any = None


@flax.struct.dataclass
class NNEParams:
    """The numeric knobs of :class:`NNE`, a pytree of float32 scalars: trace, ``vmap`` or change them freely.

    Attributes:
      eps: selection strength ``ε > 0``; with ``eps_schedule`` set, a multiplier of the schedule
        (default 1: the schedule as given), so ``ε(t) = eps · eps_schedule(t)``.
      p_min, p_max: ``p`` is clipped to ``[p_min, p_max]`` after each update (``0, 1``: no bounds).
      fixation: allele-fixation threshold ``τ``; used only by a strategy built with ``fixation=...``
        (whether genes can fix is structure, static). With ``fixation_schedule`` set, a multiplier of it.
      eps_schedule: ``generation -> ε`` (an optax schedule works) or ``None``; static (not a leaf).
    """

    eps: Array
    p_min: Array
    p_max: Array
    fixation: Array
    eps_schedule: Callable[[Array], Array] | None = flax.struct.field(pytree_node=False, default=None)
    fixation_schedule: Callable[[Array], Array] | None = flax.struct.field(pytree_node=False, default=None)

    def eps_at(self, generation: Array) -> Array:
        """``ε`` at ``generation`` (a scalar)."""
        return _scheduled(self.eps, self.eps_schedule, generation)

    def fixation_at(self, generation: Array) -> Array:
        """The fixation threshold ``τ`` at ``generation`` (a scalar)."""
        return _scheduled(self.fixation, self.fixation_schedule, generation)


def _scheduled(value: Array, schedule: Callable[[Array], Array] | None, generation: Array) -> Array:
    """``value``, times ``schedule(generation)`` when there is a schedule."""
    return value if schedule is None else value * schedule(generation)


class TellMetrics(NamedTuple):
    """What ``tell(..., return_metrics=True)`` reports about one generation (float32/int32 scalars).

    Attributes:
      mean_fitness, best_fitness: over the *finite* fitness values (NaN if there were none).
      num_nonfinite: how many fitness values were NaN or ``±inf`` (replaced per the module's policy).
      clipped_fraction: fraction of equation (3)'s multipliers ``1 + ε f`` clipped at 0 (weak-selection
        rule only; 0 for the others). Non-zero means a signed fitness is losing signal: standardise
        it, shift it to be non-negative, lower ``ε`` or use ``"multiplicative_weights"``.
    """

    mean_fitness: Array
    best_fitness: Array
    num_nonfinite: Array
    clipped_fraction: Array


def _check_real(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"NNE.{name} must be a real number, got {type(value).__name__} {value!r}")
    return float(value)


@dataclasses.dataclass(frozen=True)
class NNE:
    """Neural Net Evolution over ``num_genes`` genes with ``pop_size`` genotypes per generation.

    Attributes:
      num_genes: ``n >= 1``.
      pop_size: ``N >= 2`` (even if ``antithetic``).
      eps: selection strength ``ε > 0``, or a schedule ``generation -> ε`` (an optax schedule works).
      update_rule: ``"weak_selection"`` (equation 3), ``"multiplicative_weights"``, another name in
        :data:`~nne_jax.genetics.UPDATE_RULES`, or a callable ``(p, f, f̄, ε) -> p'``.
      fitness_shaping: ``"none"`` (the paper), ``"standardize"``, ``"centered_ranks"`` (see
        :data:`~nne_jax.fitness.SHAPINGS`) or a callable ``(N,) -> (N,)``.
      antithetic: sample genotypes in mirrored pairs (see :func:`sample_genotypes`).
      p_min, p_max: floor and ceiling on ``p`` after each update (``0, 1`` = none).
      fixation: if set (``0 < τ < 0.5``), a gene whose ``min(p, 1 − p) <= τ`` is fixed: its
        frequency snaps to 0 or 1, it is never resampled and never updated again. Or a schedule
        ``generation -> τ`` (e.g. :class:`~nne_jax.schedules.LinearRamp`: no fixation early, then
        more and more); ``τ >= 0.5`` fixes every gene.
      init_freqs: ``"uniform"`` (the paper: ``p¹ ~ U[0, 1]^n``), ``"half"`` (all 0.5), or a callable
        ``(key, n) -> (n,)``.
      optimizer: ``None`` (the update rule as it is), a name in :data:`OPTIMIZERS` (``"adam"``,
        ``"momentum"``), a factory ``() -> optax.GradientTransformation`` or a transformation. Ours (issue #17):
        with ``update_rule="multiplicative_weights"`` only; the step ``logit p += ε (f − f̄)`` becomes
        ``logit p += ε · T(f − f̄)``, ``T`` the transformation with its state in ``NNEState.opt_state``
        (``"adam"``: a per-gene normalised step, so ``ε`` is a step in logit units).

    ``default_params`` holds ``eps``, ``p_min``, ``p_max``, and ``fixation`` as a traced
    :class:`NNEParams`; ``ask``/``tell`` use it unless given ``params=``.
    """

    num_genes: int
    pop_size: int
    eps: float | Callable[[Array], Array]
    update_rule: str | Callable = "weak_selection"
    fitness_shaping: str | Callable = "none"
    antithetic: bool = False
    p_min: float = 0.0
    p_max: float = 1.0
    fixation: float | Callable[[Array], Array] | None = None
    init_freqs: str | Callable = "uniform"
    optimizer: str | Callable[[], optax.GradientTransformation] | optax.GradientTransformation | None = None

    def __post_init__(self) -> None:
        for name, low in (("num_genes", 1), ("pop_size", 2)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
        if not isinstance(self.antithetic, (bool, np.bool_)):
            raise TypeError(f"NNE.antithetic must be a bool, got {type(self.antithetic).__name__} {self.antithetic!r}")
        if self.antithetic and self.pop_size % 2:
            raise ValueError(f"antithetic sampling needs an even pop_size, got {self.pop_size}")
        if isinstance(self.eps, jax.Array):
            raise TypeError("NNE.eps must be a Python number or a schedule; to trace or vmap eps pass "
                            "params=nne.default_params.replace(eps=...) to ask/tell")
        if not callable(self.eps):
            eps = _check_real("eps", self.eps)
            if not (np.isfinite(eps) and eps > 0):
                raise ValueError(f"eps must be > 0 (or a schedule), got {self.eps!r}")
        UPDATE_RULES.lookup(self.update_rule)
        SHAPINGS.lookup(self.fitness_shaping)
        INIT_FREQS.lookup(self.init_freqs)
        p_min, p_max = _check_real("p_min", self.p_min), _check_real("p_max", self.p_max)
        if not 0.0 <= p_min < p_max <= 1.0:
            raise ValueError(f"need 0 <= p_min < p_max <= 1, got p_min={self.p_min}, p_max={self.p_max}")
        if isinstance(self.fixation, jax.Array):
            raise TypeError("NNE.fixation must be a Python number or a schedule; to trace or vmap it pass "
                            "params=nne.default_params.replace(fixation=...) to ask/tell")
        if self.fixation is not None and not callable(self.fixation):
            fixation = _check_real("fixation", self.fixation)
            if not 0.0 < fixation < 0.5:
                raise ValueError(f"fixation threshold must be in (0, 0.5), got {self.fixation}")
            if p_min > fixation or 1.0 - p_max > fixation:
                raise ValueError("fixation threshold must exceed the bounds' distance from 0/1, or no gene can fix")
        if self.optimizer is not None:
            self.transformation()
            if UPDATE_RULES.lookup(self.update_rule) is not multiplicative_weights_update:
                raise ValueError("an optimizer transforms the multiplicative-weights step logit p += ε (f − f̄): "
                                 f"set update_rule='multiplicative_weights' (got {self.update_rule!r})")

    def transformation(self) -> optax.GradientTransformation | None:
        """The ``optimizer`` as an optax transformation (``None`` without one)."""
        option = self.optimizer
        if option is None or isinstance(option, optax.GradientTransformation):
            return option
        made = OPTIMIZERS.lookup(option)()
        if not isinstance(made, optax.GradientTransformation):
            raise ValueError(f"optimizer {option!r} must give an optax.GradientTransformation, got {type(made).__name__}")
        return made

    @property
    def default_params(self) -> NNEParams:
        """The constructor's numbers as an :class:`NNEParams` (float32 scalars)."""
        schedule = self.eps if callable(self.eps) else None
        fixation_schedule = self.fixation if callable(self.fixation) else None
        fixation = 0.0 if self.fixation is None else 1.0 if fixation_schedule is not None else self.fixation
        f32 = partial(jnp.asarray, dtype=jnp.float32)
        return NNEParams(eps=f32(1.0 if schedule is not None else self.eps), p_min=f32(self.p_min), p_max=f32(self.p_max),
                         fixation=f32(fixation), eps_schedule=schedule, fixation_schedule=fixation_schedule)

    def init(self, key: Array, allele_freqs: Array | None = None) -> NNEState:
        """Initial state: ``p¹`` sampled per ``init_freqs``, or the given ``(n,)`` frequencies."""
        if allele_freqs is None:
            allele_freqs = jnp.asarray(INIT_FREQS.lookup(self.init_freqs)(key, self.num_genes))
            if allele_freqs.shape != (self.num_genes,):
                raise ValueError(f"init_freqs returned shape {allele_freqs.shape}, expected ({self.num_genes},)")
        else:
            allele_freqs = jnp.asarray(allele_freqs, jnp.float32)
            if allele_freqs.shape != (self.num_genes,):
                raise ValueError(f"allele_freqs must have shape ({self.num_genes},), got {allele_freqs.shape}")
            if not isinstance(allele_freqs, jax.core.Tracer):
                if not bool(jnp.all((allele_freqs >= 0) & (allele_freqs <= 1))):
                    raise ValueError("allele_freqs must lie in [0, 1]")
        fixed = jnp.zeros((self.num_genes,), bool)
        transformation = self.transformation()
        opt_state = None if transformation is None else transformation.init(jnp.zeros((self.num_genes,), jnp.float32))
        return NNEState(allele_freqs.astype(jnp.float32), fixed, jnp.zeros((), jnp.int32), opt_state)

    def _check_state(self, state: NNEState) -> None:
        if getattr(state, "allele_freqs", None) is None or jnp.shape(state.allele_freqs) != (self.num_genes,):
            got = jnp.shape(getattr(state, "allele_freqs", None))
            raise ValueError(f"state.allele_freqs has shape {got}, but this NNE has num_genes={self.num_genes} "
                             f"(expected ({self.num_genes},)): a state from another strategy?")

    def ask(self, key: Array, state: NNEState, *, params: NNEParams | None = None) -> tuple[Array, NNEState]:
        """Samples ``(pop_size, n)`` genotypes from ``state``; fixed genes take their fixed allele.

        ``params`` is accepted for symmetry with :meth:`tell` (sampling uses no numeric knob).
        """
        del params
        self._check_state(state)
        genotypes = sample_genotypes(key, state.allele_freqs, self.pop_size, self.antithetic)
        if self.fixation is not None:
            genotypes = jnp.where(state.fixed, jnp.round(state.allele_freqs), genotypes)
        return genotypes, state

    def tell(self, state: NNEState, genotypes: Array, fitness: Array, *, params: NNEParams | None = None,
             return_metrics: bool = False) -> NNEState | tuple[NNEState, TellMetrics]:
        """Updates allele frequencies from the genotypes ``(N, n)`` and their fitness ``(N,)``.

        Args:
          params: the numeric knobs (default ``self.default_params``); may be traced or vmapped.
          return_metrics: also return a :class:`TellMetrics`.

        Returns:
          The new state, or ``(state, TellMetrics)``. Non-finite fitness: see the module docstring.
        """
        self._check_state(state)
        if genotypes.shape != (self.pop_size, self.num_genes):
            raise ValueError(f"genotypes must have shape {(self.pop_size, self.num_genes)}, got {genotypes.shape}")
        if jnp.shape(fitness) != (self.pop_size,):
            raise ValueError(f"fitness must have shape ({self.pop_size},), got {jnp.shape(fitness)}")
        params = self.default_params if params is None else params
        clean, num_nonfinite = replace_nonfinite(fitness)
        f, f_bar = allele_rewards(genotypes, SHAPINGS.lookup(self.fitness_shaping)(clean))
        eps = params.eps_at(state.generation)
        rule = UPDATE_RULES.lookup(self.update_rule)
        transformation = self.transformation()
        no_finite = num_nonfinite == self.pop_size
        opt_state = state.opt_state
        if transformation is None:
            p = rule(state.allele_freqs, f, f_bar, eps)
        else:
            logits = jax.scipy.special.logit(jnp.clip(state.allele_freqs, _LOGIT_FLOOR, 1.0 - _LOGIT_FLOOR))
            step, new_opt_state = transformation.update(f - f_bar, state.opt_state, logits)
            p = jax.nn.sigmoid(logits + eps * step)
            opt_state = jax.tree.map(lambda old, new: jnp.where(no_finite, old, new), state.opt_state, new_opt_state)
        p = jnp.clip(p, params.p_min, params.p_max)
        keep = no_finite | jnp.isnan(p)  # no finite fitness (or a user rule's NaN): no update
        p = jnp.where(keep, state.allele_freqs, p)
        fixed = state.fixed
        if self.fixation is not None:
            p = jnp.where(fixed, state.allele_freqs, p)
            fixed = fixed | (jnp.minimum(p, 1.0 - p) <= params.fixation_at(state.generation))
            p = jnp.where(fixed, jnp.round(p), p)
        new_state = NNEState(p, fixed, state.generation + 1, opt_state)
        if not return_metrics:
            return new_state
        finite = jnp.isfinite(fitness)
        count = jnp.sum(finite)
        mean = jnp.where(count > 0, jnp.sum(jnp.where(finite, fitness, 0.0)) / jnp.maximum(count, 1), jnp.nan)
        best = jnp.where(count > 0, jnp.max(jnp.where(finite, fitness, -jnp.inf)), jnp.nan)
        clipped = clipped_fraction(f, f_bar, eps) if rule is update_allele_freqs else jnp.zeros((), jnp.float32)
        return new_state, TellMetrics(mean.astype(jnp.float32), best.astype(jnp.float32), num_nonfinite, clipped)
