"""One NNE generation on a masked MLP as ONE jitted function, and a ``lax.scan`` runner.

A generation: sample ``N`` genotypes → link weights ``W x`` → forward pass of all ``N`` networks
on the minibatch → fitness ``δ`` → allele rewards ``f, f̄`` → update of ``p`` (equation 3).

PRNG: the key of generation ``t`` is ``fold_in(run_key, t)``, so a run's random stream does not
depend on how it is cut into chunks (a resumed run is bitwise identical to an uncut one).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp

from nne_jax.data.augment import check_augment_shift, random_shift
from nne_jax.fitness import accuracy, delta_fitness
from nne_jax.parallel import replicate, shard_population
from nne_jax.strategy import NNE, NNEState
from nne_jax.tasks.mlp import MLPTask, mlp_task
from nne_jax.tasks.protocol import CompactableTask, NetworkTask, check_task

Array = jax.Array

__all__ = ["MLPTask", "mlp_task", "Metrics", "generation_step", "make_generation", "run_generations", "mean_weights", "distinct_indices"]


class Metrics(NamedTuple):
    """Per-generation metrics (scalars; stacked along a leading axis by the runner)."""

    mean_fitness: Array
    best_fitness: Array
    mean_weights_accuracy: Array  # accuracy of the mean-weight network W·p on the minibatch


def mean_weights(task: NetworkTask, allele_freqs: Array) -> Array:
    """The mean-weight network's slot weights ``g(W p)``: ``(n,) -> (S,)`` (``task.weights(p)``)."""
    return task.weights(allele_freqs)


def generation_step(
    strategy: NNE, fitness_fn: Callable[[Array, Array], Array], task: NetworkTask, state: NNEState, key: Array, batch: tuple[Array, Array]
) -> tuple[NNEState, Metrics]:
    """One generation (pure; jit it, or use :func:`make_generation`).

    Args:
      strategy: the NNE configuration (static).
      fitness_fn: ``(logits (N, B, C), labels (B,)) -> (N,)``, higher is better (static).
      task: a :class:`~nne_jax.tasks.protocol.NetworkTask` (architecture and ``W``).
      state: current :class:`NNEState`.
      key: PRNG key for this generation's genotypes.
      batch: ``(inputs (B, d), labels (B,))``.
    """
    inputs, labels = batch
    genotypes, state = strategy.ask(key, state)
    fitness = population_fitness(task, genotypes, batch, fitness_fn)
    new_state = strategy.tell(state, genotypes, fitness)
    mean_logits = task.forward(task.weights(state.allele_freqs), inputs)
    metrics = Metrics(jnp.mean(fitness), jnp.max(fitness), accuracy(mean_logits, labels))
    return new_state, metrics


def population_fitness(
    task: NetworkTask, genotypes: Array, batch: tuple[Array, Array], fitness_fn: Callable[[Array, Array], Array]
) -> Array:
    """Fitness ``(N,)`` of every genotype ``(N, n)`` on ``batch``, sharded over ``task.mesh`` if set."""

    def evaluate(g: Array, task: NetworkTask, batch: tuple[Array, Array]) -> Array:
        return fitness_fn(task.population_logits(g, batch[0]), batch[1])

    if task.mesh is None:
        return evaluate(genotypes, task, batch)
    return shard_population(evaluate, task.mesh, genotypes.shape[0])(genotypes, task, batch)


_generation_jit = jax.jit(generation_step, static_argnums=(0, 1))


def make_generation(
    strategy: NNE, task: NetworkTask, fitness_fn: Callable[[Array, Array], Array] = delta_fitness
) -> Callable[[NNEState, Array, tuple[Array, Array]], tuple[NNEState, Metrics]]:
    """Returns ``generation(state, key, batch) -> (state, metrics)``, compiled once per shape."""
    check_task(task)
    if strategy.num_genes != task.num_genes:
        raise ValueError(f"strategy has {strategy.num_genes} genes but W has {task.num_genes} columns")
    task = replicate(task, task.mesh)  # once, not on every call

    def generation(state: NNEState, key: Array, batch: tuple[Array, Array]) -> tuple[NNEState, Metrics]:
        return _generation_jit(strategy, fitness_fn, task, state, key, batch)

    return generation


FLOYD_MAX = 1024  # distinct_indices: Floyd's O(count²) algorithm up to here, a full permutation above


def distinct_indices(key: Array, population: int, count: int) -> Array:
    """``count`` distinct indices drawn uniformly from ``range(population)``: ``(count,)`` int32.

    Every ``count``-subset is equally likely. For ``count <= FLOYD_MAX`` this is Floyd's algorithm
    (``count`` steps of ``O(count)``: for ``j = population - count … population - 1`` draw
    ``t ~ U{0, …, j}`` and take ``t``, or ``j`` if ``t`` is already taken), which never touches the
    other ``population - count`` indices; ``jax.random.choice(..., replace=False)`` shuffles all of
    them (25 ms per minibatch of MNIST's 60,000 on a CPU core, a quarter of a generation). Above
    ``FLOYD_MAX`` it is a prefix of a random permutation.
    """
    if not 0 <= count <= population:
        raise ValueError(f"need 0 <= count <= population, got count={count}, population={population}")
    if count > FLOYD_MAX:
        return jax.random.permutation(key, population)[:count].astype(jnp.int32)
    highs = population - count + 1 + jnp.arange(count)  # j + 1
    draws = jax.random.randint(key, (count,), 0, highs)  # t_i ~ U{0, ..., j_i}

    def step(i: Array, chosen: Array) -> Array:
        taken = jnp.any((chosen == draws[i]) & (jnp.arange(count) < i))
        return chosen.at[i].set(jnp.where(taken, highs[i] - 1, draws[i]))

    return jax.lax.fori_loop(0, count, step, jnp.zeros((count,), jnp.int32))


def _sample_batch(key: Array, inputs: Array, labels: Array, batch_size: int, augment_shift: int = 0) -> tuple[Array, Array]:
    """A minibatch drawn without replacement (the whole set if ``batch_size`` >= its size), its images
    shifted by up to ``augment_shift`` pixels (:func:`~nne_jax.data.augment.random_shift`, key
    ``fold_in(key, 1)``; 0: unchanged, the same stream as before the option existed)."""
    if batch_size >= inputs.shape[0]:
        batch = inputs, labels
    else:
        idx = distinct_indices(key, inputs.shape[0], batch_size)
        batch = inputs[idx], labels[idx]
    return random_shift(jax.random.fold_in(key, 1), batch[0], augment_shift), batch[1]


@partial(jax.jit, static_argnums=(0, 1, 2, 3, 4))
def _scan_chunk(
    strategy: NNE,
    fitness_fn: Callable,
    batch_size: int,
    capacity: int,
    augment_shift: int,
    task: NetworkTask,
    state: NNEState,
    run_key: Array,
    inputs: Array,
    labels: Array,
    length: Array,
) -> tuple[NNEState, Metrics]:
    """``length`` (traced, ``<= capacity``) generations; metrics in ``(capacity,)`` buffers, the first
    ``length`` entries filled. One compilation serves every chunk length (e.g. a shorter last chunk)."""

    def body(i: Array, carry: tuple[NNEState, Metrics]) -> tuple[NNEState, Metrics]:
        state, buffers = carry
        batch_key, gen_key = jax.random.split(jax.random.fold_in(run_key, state.generation))
        batch = _sample_batch(batch_key, inputs, labels, batch_size, augment_shift)
        state, metrics = generation_step(strategy, fitness_fn, task, state, gen_key, batch)
        return state, jax.tree.map(lambda b, m: b.at[i].set(m), buffers, metrics)

    buffers = Metrics(*(jnp.zeros((capacity,), jnp.float32) for _ in Metrics._fields))
    return jax.lax.fori_loop(0, length, body, (state, buffers))


def run_generations(
    strategy: NNE,
    task: NetworkTask,
    state: NNEState,
    run_key: Array,
    inputs: Array,
    labels: Array,
    num_generations: int,
    batch_size: int,
    chunk_size: int = 50,
    fitness_fn: Callable[[Array, Array], Array] = delta_fitness,
    callback: Callable[[NNEState, Metrics], None] | None = None,
    compact: bool = True,
    augment_shift: int = 0,
) -> tuple[NNEState, Metrics]:
    """Runs generations ``state.generation .. num_generations - 1`` in jitted ``lax.scan`` chunks.

    Args:
      inputs, labels: the training set ``(M, d)``, ``(M,)``; each generation draws a minibatch of
        ``batch_size`` examples from it (all genotypes see the same minibatch).
      num_generations: total generations the run should reach (a resumed state continues).
      chunk_size: generations per compiled loop between host calls (a shorter last chunk reuses the
        same compilation).
      callback: called on the host after each chunk with the state and that chunk's metrics
        (for checkpoints and progress lines).
      compact: with allele fixation, drop the fixed genes' columns of ``W`` at every chunk
        boundary (:func:`nne_jax.fixation.compact_task`): same results, less work. Applies to
        a :class:`~nne_jax.tasks.protocol.CompactableTask` (e.g. :class:`MLPTask`); other tasks (e.g.
        :class:`~nne_jax.tasks.deep.DeepTask`) run uncompacted.
      augment_shift: shift each minibatch image by up to this many pixels (ours; 0: the plain images).

    Returns:
      The final state and the metrics of the generations run here, each stacked ``(T,)``.
    """
    check_task(task)
    if inputs.ndim != 2 or inputs.shape[1] != task.num_inputs:
        raise ValueError(f"inputs must have shape (M, {task.num_inputs}), got {inputs.shape}")
    if labels.shape != inputs.shape[:1]:
        raise ValueError(f"labels must have shape ({inputs.shape[0]},), got {labels.shape}")
    if batch_size < 1 or chunk_size < 1:
        raise ValueError("batch_size and chunk_size must be >= 1")
    if strategy.num_genes != task.num_genes:
        raise ValueError(f"strategy has {strategy.num_genes} genes but W has {task.num_genes} columns")
    check_augment_shift(augment_shift, task.num_inputs)
    mesh = task.mesh
    # once, not on every chunk: W, the blocks and the training set on every device of the mesh
    task, inputs, labels = replicate((task, jnp.asarray(inputs, jnp.float32), jnp.asarray(labels, jnp.int32)), mesh)
    collected: list[Metrics] = []
    done = int(state.generation)
    while done < num_generations:
        length = min(chunk_size, num_generations - done)
        chunk_task = task
        if compact and strategy.fixation is not None and isinstance(task, CompactableTask) and bool(jnp.any(state.fixed)):
            chunk_task = replicate(task.compact(state), mesh)
        state, metrics = _scan_chunk(strategy, fitness_fn, batch_size, chunk_size, augment_shift, chunk_task, state, run_key, inputs,
                                     labels, jnp.int32(length))
        metrics = jax.tree.map(lambda m, n=length: m[:n], metrics)
        # one chunk in flight at a time: with several, XLA's in-process all-reduce over CPU host
        # devices can starve its thread pool and abort the process (tests/test_multiprocess.py)
        jax.block_until_ready(state)
        done += length
        collected.append(metrics)
        if callback is not None:
            callback(state, metrics)
    if not collected:
        empty = jnp.zeros((0,), jnp.float32)
        return state, Metrics(empty, empty, empty)
    return state, jax.tree.map(lambda *xs: jnp.concatenate(xs), *collected)
