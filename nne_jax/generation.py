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

import flax.struct
import jax
import jax.numpy as jnp
from jax.sharding import Mesh

from nne_jax.blocks import UnitGroup, unit_groups
from nne_jax.fitness import accuracy, delta_fitness
from nne_jax.fixation import compact_task
from nne_jax.networks import MaskedMLP, check_logit_scale, masked_mlp, mlp_forward
from nne_jax.parallel import replicate, shard_population
from nne_jax.population import PATHS, default_path, population_logits
from nne_jax.strategy import NNE, NNEState
from nne_jax.task import CompactableTask, NetworkTask, check_task
from nne_jax.weights import GENE_MAPS, WeightGeneration, check_gene_map, generate_weights, weight_generation

Array = jax.Array

__all__ = ["MLPTask", "mlp_task", "Metrics", "generation_step", "make_generation", "run_generations", "mean_weights", "distinct_indices"]


@flax.struct.dataclass
class MLPTask:
    """The fixed parts of an NNE-on-MLP problem: architecture, ``W``, and how to evaluate.

    Attributes:
      arch: the masked MLP (input mask).
      wg: the ``(S, n)`` weight-generation matrix over the network's link slots.
      blocks: the hidden units in blocks grouped by fan-in, with their rows of ``wg``, for the
        ``"fused"`` path (:mod:`nne_jax.blocks`).
      genes: ``(n',)`` int32, the genes that ``wg``'s columns stand for (``None``: all ``n``, in
        order). Set by allele-fixation compaction (:mod:`nne_jax.fixation`), like ``offset``.
      offset: ``(S,)`` weights contributed by genes outside ``genes`` (fixed genes), or ``None``.
      gene_map: link weights are ``g(W x + offset)`` for ``g = GENE_MAPS[gene_map]``, static.
      path: population evaluation path (see :mod:`nne_jax.population`), static.
      pop_chunk: evaluate at most this many genotypes at once (memory bound), static.
      matmul_dtype: dtype of the genespace path's big matmul, static.
      mesh: if set, the population is split over this 1-D ``"pop"`` mesh (see
        :mod:`nne_jax.parallel`), static.
      logit_scale: the network's output scale ``s``: logits are ``s · (W₂ relu(W₁ u))`` (ours; the
        paper does not state the scale of weights or inputs). The net is ReLU without biases, so
        scaling layer 1 by ``a`` and layer 2 by ``b`` is the same function as ``s = a·b``: this one
        number is every per-layer weight scale. Predictions (argmax) do not depend on it; the
        softmax, hence the fitness, SignSGD's gradients and the ceiling, do. A pytree leaf: a new
        value does not recompile.
    """

    arch: MaskedMLP
    wg: WeightGeneration
    blocks: tuple[UnitGroup, ...] | None = None
    genes: Array | None = None
    offset: Array | None = None
    gene_map: str = flax.struct.field(pytree_node=False, default="identity")
    total_genes: int | None = flax.struct.field(pytree_node=False, default=None)
    path: str = flax.struct.field(pytree_node=False, default="sparse")
    pop_chunk: int | None = flax.struct.field(pytree_node=False, default=None)
    matmul_dtype: str = flax.struct.field(pytree_node=False, default="float32")
    mesh: Mesh | None = flax.struct.field(pytree_node=False, default=None)
    logit_scale: float | Array = 1.0

    @property
    def num_genes(self) -> int:
        """``n``, the genotype length this task takes (``wg`` may hold fewer columns after compaction)."""
        return self.wg.num_genes if self.total_genes is None else self.total_genes

    @property
    def num_inputs(self) -> int:
        return self.arch.num_inputs

    def select(self, genotypes: Array) -> Array:
        """``(..., n) -> (..., n')``: the genes ``wg``'s columns stand for."""
        return genotypes if self.genes is None else jnp.take(genotypes, self.genes, axis=-1)

    def weights(self, genotypes: Array) -> Array:
        """Link weights ``g(W x + offset)`` in slot layout: ``(n,) -> (S,)`` or ``(N, n) -> (N, S)``.

        Also takes allele frequencies: ``weights(p)`` is the mean-weight network (``g(W p)``).
        """
        w = generate_weights(self.wg, self.select(genotypes))
        return GENE_MAPS[self.gene_map](w if self.offset is None else w + self.offset)

    def forward(self, weights: Array, inputs: Array) -> Array:
        """One network: slot weights ``(S,)``, inputs ``(B, d)`` → logits ``(B, C)``."""
        return self.logit_scale * mlp_forward(self.arch, weights, inputs)

    def population_logits(self, genotypes: Array, inputs: Array) -> Array:
        """Every genotype's network: ``(N, n), (B, d) -> (N, B, C)`` logits (via ``path``)."""
        logits = population_logits(
            self.arch,
            self.wg,
            self.select(genotypes),
            inputs,
            self.path,
            self.pop_chunk,
            self.matmul_dtype,
            self.blocks,
            self.offset,
            self.gene_map,
        )
        return self.logit_scale * logits

    def compact(self, state: NNEState) -> MLPTask:
        """This task without the genes ``state`` has fixed (:func:`nne_jax.fixation.compact_task`);
        itself if it is already compacted."""
        return self if self.genes is not None else compact_task(self, state)


def mlp_task(
    key: Array,
    num_genes: int,
    beta: float = 0.0025,
    num_inputs: int = 784,
    num_hidden: int = 1000,
    num_classes: int = 10,
    density: float = 0.1,
    k_cap: int | None = None,
    path: str = "auto",
    pop_chunk: int | None = None,
    matmul_dtype: str = "float32",
    block_units: int = 8,
    gene_map: str = "identity",
    logit_scale: float = 1.0,
) -> MLPTask:
    """Samples the input mask and ``W`` (β-sparse, ``U[-1, 1]``) for the paper's network.

    ``gene_map``: link weights are ``g(W x)`` with ``g`` one of ``GENE_MAPS`` (the paper: identity).
    ``logit_scale``: the network's output scale (see :class:`MLPTask`; 1 = unscaled).
    """
    check_logit_scale(logit_scale)
    check_gene_map(gene_map)
    if path == "genespace" and gene_map != "identity":
        raise ValueError(f"the genespace path needs gene_map='identity' (weights linear in the genes), got {gene_map!r}")
    if path != "auto" and path not in PATHS:
        raise ValueError(f"unknown path {path!r}; choose from ['auto', {', '.join(map(repr, sorted(PATHS)))}]")
    if pop_chunk is not None and pop_chunk < 1:
        raise ValueError(f"pop_chunk must be >= 1, got {pop_chunk}")
    mask_key, w_key = jax.random.split(key)
    arch = masked_mlp(mask_key, num_inputs, num_hidden, num_classes, density, k_cap)
    wg = weight_generation(w_key, arch.num_slots, num_genes, beta, active_rows=arch.active)
    blocks = unit_groups(arch, wg, block_units)
    path = default_path(gene_map=gene_map) if path == "auto" else path
    return MLPTask(
        arch, wg, blocks, gene_map=gene_map, path=path, pop_chunk=pop_chunk, matmul_dtype=matmul_dtype, logit_scale=float(logit_scale)
    )


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
      task: a :class:`~nne_jax.task.NetworkTask` (architecture and ``W``).
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


def _sample_batch(key: Array, inputs: Array, labels: Array, batch_size: int) -> tuple[Array, Array]:
    """A minibatch drawn without replacement (the whole set if ``batch_size`` >= its size)."""
    if batch_size >= inputs.shape[0]:
        return inputs, labels
    idx = distinct_indices(key, inputs.shape[0], batch_size)
    return inputs[idx], labels[idx]


@partial(jax.jit, static_argnums=(0, 1, 2, 3))
def _scan_chunk(
    strategy: NNE,
    fitness_fn: Callable,
    batch_size: int,
    capacity: int,
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
        batch = _sample_batch(batch_key, inputs, labels, batch_size)
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
        a :class:`~nne_jax.task.CompactableTask` (e.g. :class:`MLPTask`); other tasks (e.g.
        :class:`~nne_jax.deep.DeepTask`) run uncompacted.

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
        state, metrics = _scan_chunk(strategy, fitness_fn, batch_size, chunk_size, chunk_task, state, run_key, inputs, labels,
                                     jnp.int32(length))
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
