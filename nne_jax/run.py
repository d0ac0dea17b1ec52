"""A whole NNE run as one pure function: ``make_run(strategy, task, ...) -> run(key, params)``.

``run`` is one jitted ``lax.scan`` over generations with the per-generation metrics recorded inside,
so it ``jax.vmap``s over seeds and hyper-parameters (purejaxrl's ``make_train(config) -> train(key)``)::

    run = make_run(nne, task, 100, data=(train_x, train_y), batch_size=100)
    keys = jax.vmap(jax.random.PRNGKey)(jnp.arange(8))
    eps = jnp.array([0.5, 1.0, 2.0, 4.0])
    params = jax.vmap(lambda e: nne.default_params.replace(eps=e))(eps)
    states, metrics = jax.jit(jax.vmap(jax.vmap(run, (None, 0)), (0, None)))(keys, params)  # (8, 4, ...)

``task`` is either a network task (:class:`~nne_jax.tasks.mlp.MLPTask`, :class:`~nne_jax.tasks.deep.DeepTask`:
anything with ``population_logits``), scored by ``fitness_fn`` on a minibatch of ``data``, or a plain
fitness ``task(key, genotypes (N, n)) -> (N,)`` of the user's own.

The random stream is the runner's (:func:`nne_jax.runner.evolve`): ``key = PRNGKey(seed)`` splits into
``(_, init_key, run_key)``, generation ``t`` uses ``fold_in(run_key, t)`` split into the minibatch key
and the genotype key. So ``run(PRNGKey(seed), nne.default_params)`` follows the same run as the
host runner on the same task (tested); the task (``W``) is an input here, fixed across a ``vmap``.
The checkpointing, logging and compaction driver stays in :mod:`nne_jax.runner`.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from nne_jax.data.augment import check_augment_shift
from nne_jax.fitness import accuracy, delta_fitness
from nne_jax.generation import _sample_batch, population_fitness
from nne_jax.strategy import NNE, NNEParams, NNEState
from nne_jax.tasks.protocol import check_task

Array = jax.Array

__all__ = ["make_run", "run_keys"]


def run_keys(key: Array) -> tuple[Array, Array]:
    """``(init_key, run_key)`` of a run from its key (``PRNGKey(seed)``), as :func:`nne_jax.runner.evolve` splits it."""
    _, init_key, run_key = jax.random.split(key, 3)
    return init_key, run_key


def make_run(
    strategy: NNE,
    task: Any,
    num_generations: int,
    *,
    data: tuple[Array, Array] | None = None,
    batch_size: int | None = None,
    fitness_fn: Callable[[Array, Array], Array] = delta_fitness,
    state: NNEState | None = None,
    augment_shift: int = 0,
) -> Callable[[Array, NNEParams], tuple[NNEState, dict[str, Array]]]:
    """Returns the pure ``run(key, params) -> (final state, metrics)``; ``metrics`` values are ``(T,)``.

    Args:
      strategy: the NNE structure (static); its numbers come from ``params`` at call time.
      task: a network task with ``population_logits`` (needs ``data`` and ``batch_size``), or a
        fitness ``(key, genotypes (N, n)) -> (N,)`` (higher is better).
      num_generations: ``T``, the scan length (static).
      data: ``(inputs (M, d), labels (M,))``, the training set a network task draws minibatches from.
      batch_size: minibatch size (``>= M``: the whole set every generation).
      fitness_fn: ``(logits (N, B, C), labels (B,)) -> (N,)`` for a network task.
      state: a start state (e.g. a resumed one; its ``generation`` continues the stream); default
        ``strategy.init(init_key)``.
      augment_shift: shift each minibatch image by up to this many pixels (ours; network task only; 0: none).

    Metrics: ``mean_fitness``, ``best_fitness``, ``num_nonfinite``, ``clipped_fraction`` (see
    :class:`~nne_jax.strategy.TellMetrics`) and, for a network task, ``batch_accuracy`` of the
    mean-weight network ``g(W p)`` (before the update) on the generation's minibatch.
    """
    if isinstance(num_generations, bool) or not isinstance(num_generations, int) or num_generations < 0:
        raise ValueError(f"num_generations must be an int >= 0, got {num_generations!r}")
    network = hasattr(task, "population_logits")
    if not network and not callable(task):
        raise TypeError(f"task must have population_logits (a network task) or be a fitness (key, genotypes) -> (N,), "
                        f"got {type(task).__name__}")
    if network:
        check_task(task)
        if data is None or batch_size is None:
            raise ValueError("a network task needs data=(inputs, labels) and batch_size")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
        inputs, labels = jnp.asarray(data[0], jnp.float32), jnp.asarray(data[1], jnp.int32)
        if inputs.ndim != 2 or inputs.shape[1] != task.num_inputs or labels.shape != inputs.shape[:1]:
            raise ValueError(f"data must be inputs (M, {task.num_inputs}) and labels (M,), got {inputs.shape}, {labels.shape}")
        if strategy.num_genes != task.num_genes:
            raise ValueError(f"strategy has {strategy.num_genes} genes but the task takes {task.num_genes}")
        check_augment_shift(augment_shift, task.num_inputs)
    elif augment_shift:
        raise ValueError("augment_shift applies to a network task's minibatch images, not to a fitness function")

    def generation(params: NNEParams, run_key: Array, state: NNEState, _: None) -> tuple[NNEState, dict[str, Array]]:
        batch_key, gen_key = jax.random.split(jax.random.fold_in(run_key, state.generation))
        genotypes, state_asked = strategy.ask(gen_key, state, params=params)
        extra = {}
        if network:
            batch = _sample_batch(batch_key, inputs, labels, batch_size, augment_shift)
            fitness = population_fitness(task, genotypes, batch, fitness_fn)
            mean_logits = task.forward(task.weights(state.allele_freqs), batch[0])
            extra["batch_accuracy"] = accuracy(mean_logits, batch[1])
        else:
            fitness = task(batch_key, genotypes)
        new_state, metrics = strategy.tell(state_asked, genotypes, fitness, params=params, return_metrics=True)
        return new_state, {**metrics._asdict(), **extra}

    @jax.jit
    def run(key: Array, params: NNEParams) -> tuple[NNEState, dict[str, Array]]:
        init_key, run_key = run_keys(key)
        start = strategy.init(init_key) if state is None else state
        return jax.lax.scan(lambda s, x: generation(params, run_key, s, x), start, None, length=num_generations)

    return run
