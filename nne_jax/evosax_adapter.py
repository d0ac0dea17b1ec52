"""One ask/tell loop for NNE and evosax strategies: a shared interface and two thin adapters.

evosax (0.2+) and NNE differ in small ways: evosax's ``tell`` takes a key and the population first
and *minimises*; NNE's ``tell`` maximises and takes the state first; evosax's ``init`` wants an initial
mean. The adapters give both the same five methods (fitness: higher is better)::

    init(key) -> state
    ask(key, state) -> (population (N, d), state)
    tell(key, population, fitness (N,), state) -> (state, metrics dict)
    solution(state) -> (d,)                     # NNE: allele frequencies p; evosax: the mean
    params                                      # the traced hyper-parameters, replaceable

so one ``lax.scan`` (:func:`ask_tell_loop`) drives either::

    from evosax.algorithms import Open_ES
    es = EvosaxStrategy(Open_ES(population_size=64, solution=jnp.zeros(d)), init_mean=jnp.zeros(d))
    nne = NNEStrategy(NNE(num_genes=d, pop_size=64, eps=1.0))
    for strategy in (nne, es):
        state, metrics = ask_tell_loop(strategy, fitness, key, generations=100)

evosax is not imported here (any object with evosax's ``init/ask/tell`` signatures works).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Protocol

import jax
import jax.numpy as jnp

from nne_jax.strategy import NNE, NNEParams, NNEState

Array = jax.Array

__all__ = ["AskTellStrategy", "NNEStrategy", "EvosaxStrategy", "ask_tell_loop"]


class AskTellStrategy(Protocol):
    """What :func:`ask_tell_loop` needs of a strategy (fitness is maximised)."""

    def init(self, key: Array) -> Any: ...

    def ask(self, key: Array, state: Any) -> tuple[Array, Any]: ...

    def tell(self, key: Array, population: Array, fitness: Array, state: Any) -> tuple[Any, dict[str, Array]]: ...

    def solution(self, state: Any) -> Array: ...


@dataclasses.dataclass(frozen=True)
class NNEStrategy:
    """:class:`~nne_jax.strategy.NNE` behind the shared interface; ``params`` default to ``nne.default_params``.

    ``tell``'s metrics are :class:`~nne_jax.strategy.TellMetrics` as a dict; ``solution`` is ``p`` ``(n,)``.
    """

    nne: NNE
    params: NNEParams | None = None

    def _params(self) -> NNEParams:
        return self.nne.default_params if self.params is None else self.params

    def init(self, key: Array) -> NNEState:
        return self.nne.init(key)

    def ask(self, key: Array, state: NNEState) -> tuple[Array, NNEState]:
        return self.nne.ask(key, state, params=self._params())

    def tell(self, key: Array, population: Array, fitness: Array, state: NNEState) -> tuple[NNEState, dict[str, Array]]:
        del key  # NNE's update is deterministic
        state, metrics = self.nne.tell(state, population, fitness, params=self._params(), return_metrics=True)
        return state, metrics._asdict()

    def solution(self, state: NNEState) -> Array:
        return state.allele_freqs


@dataclasses.dataclass(frozen=True)
class EvosaxStrategy:
    """An evosax algorithm (e.g. ``Open_ES``) behind the shared interface.

    Attributes:
      es: the evosax algorithm (``init(key, mean, params)``, ``ask(key, state, params)``,
        ``tell(key, population, fitness, state, params)``; it minimises).
      init_mean: the search distribution's initial mean ``(d,)``.
      params: evosax params (default ``es.default_params``).

    ``tell`` passes ``-fitness`` (evosax minimises) and returns evosax's metrics plus ``mean_fitness``
    and ``best_fitness`` of the (maximised) fitness, as NNE reports them.
    """

    es: Any
    init_mean: Array
    params: Any = None

    def _params(self) -> Any:
        return self.es.default_params if self.params is None else self.params

    def init(self, key: Array) -> Any:
        return self.es.init(key, self.init_mean, self._params())

    def ask(self, key: Array, state: Any) -> tuple[Array, Any]:
        return self.es.ask(key, state, self._params())

    def tell(self, key: Array, population: Array, fitness: Array, state: Any) -> tuple[Any, dict[str, Array]]:
        state, metrics = self.es.tell(key, population, -fitness, state, self._params())
        return state, {**metrics, "mean_fitness": jnp.mean(fitness), "best_fitness": jnp.max(fitness)}

    def solution(self, state: Any) -> Array:
        return state.mean

    # frozen dataclasses hash by value; init_mean is an array, so hash by identity (it is used as a jit static)
    __hash__ = object.__hash__
    __eq__ = object.__eq__


def ask_tell_loop(strategy: AskTellStrategy, fitness_fn: Callable[[Array], Array], key: Array, generations: int,
                  ) -> tuple[Any, dict[str, Array]]:
    """``generations`` of ask → ``fitness_fn(population) (N,)`` → tell, in one jitted ``lax.scan``.

    Returns the final state and each metric stacked ``(generations, ...)``.
    """
    init_key, run_key = jax.random.split(key)

    @jax.jit
    def loop(init_key: Array, run_key: Array) -> tuple[Any, dict[str, Array]]:
        def step(state: Any, k: Array) -> tuple[Any, dict[str, Array]]:
            ask_key, tell_key = jax.random.split(k)
            population, state = strategy.ask(ask_key, state)
            return strategy.tell(tell_key, population, fitness_fn(population), state)

        return jax.lax.scan(step, strategy.init(init_key), jax.random.split(run_key, generations))

    return loop(init_key, run_key)
