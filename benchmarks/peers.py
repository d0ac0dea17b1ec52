"""A peer a user might pick instead of NNE: evosax's ``Open_ES`` on the same masked network.

Open_ES optimises the network's ``m`` real-valued link weights directly (Adam, σ = 0.02,
lr = 0.01, antithetic noise, centred-rank shaping — evosax's defaults plus the settings the
issue names), with the same population, minibatch and fitness as the NNE run it is compared
with (default δ; evosax minimises, so it gets −fitness).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from nne_jax.fitness import delta_fitness
from nne_jax.generation import MLPTask, _sample_batch
from nne_jax.networks import mlp_forward_population
from nne_jax.parallel import shard_population


def open_es(
    task: MLPTask,
    pop_size: int,
    batch_size: int,
    sigma: float = 0.02,
    lr: float = 0.01,
    fitness_fn: Callable = delta_fitness,
    augment_shift: int = 0,
) -> tuple[Callable, Callable, Callable]:
    """Returns ``(init(key) -> state, step(state, key, train_x, train_y) -> state, weights(state) -> (S,))``.

    If ``task.mesh`` is set, the population's forward pass is split over it exactly as NNE's is;
    ``augment_shift`` shifts the minibatch images as NNE's runner does (``RunConfig.augment_shift``).
    """
    import optax
    from evosax.algorithms import Open_ES

    arch = task.arch
    active = jnp.asarray(np.flatnonzero(arch.active))
    m = int(active.shape[0])
    es = Open_ES(population_size=pop_size, solution=jnp.zeros(m), optimizer=optax.adam(lr), std_schedule=optax.constant_schedule(sigma))
    params = es.default_params

    def to_slots(w: jax.Array) -> jax.Array:  # (m, ...) -> (S, ...)
        return jnp.zeros((arch.num_slots,) + w.shape[1:], w.dtype).at[active].set(w)

    def init(key: jax.Array) -> Any:
        k1, k2 = jax.random.split(key)
        # Kaiming-uniform start: bound sqrt(6 / fan_in) per layer (fan_in ≈ 784·density, then h)
        first = jnp.asarray(np.asarray(arch.active).reshape(arch.num_hidden, arch.slots_per_row)[:, : arch.slots_per_unit].sum(1).mean())
        is_first = jnp.asarray((np.arange(arch.num_slots) % arch.slots_per_row < arch.slots_per_unit)[np.asarray(arch.active)])
        bound = jnp.where(is_first, jnp.sqrt(6.0 / first), jnp.sqrt(6.0 / arch.num_hidden))
        mean = jax.random.uniform(k1, (m,), minval=-1.0, maxval=1.0) * bound
        return es.init(k2, mean, params)

    @jax.jit
    def step(state: Any, key: jax.Array, train_x: jax.Array, train_y: jax.Array) -> Any:
        k_batch, k_ask, k_tell = jax.random.split(key, 3)
        inputs, labels = _sample_batch(k_batch, train_x, train_y, batch_size, augment_shift)  # NNE's minibatch sampler
        population, state = es.ask(k_ask, state, params)  # (N, m)

        def evaluate(pop: jax.Array, inputs: jax.Array, labels: jax.Array) -> jax.Array:
            return fitness_fn(task.logit_scale * mlp_forward_population(arch, to_slots(pop.T), inputs), labels)

        if task.mesh is None:
            fitness = evaluate(population, inputs, labels)
        else:
            fitness = shard_population(evaluate, task.mesh, pop_size)(population, inputs, labels)
        state, _ = es.tell(k_tell, population, -fitness, state, params)
        return state

    def weights(state: Any) -> jax.Array:
        return to_slots(state.mean)

    return init, step, weights
