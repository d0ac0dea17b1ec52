"""nne_jax: Neural Net Evolution (NNE) and Dopaminergic Neural Nets (DNN) in JAX.

Core (pure functions, explicit PRNG keys):

* :mod:`nne_jax.genetics` — ``sample_genotypes``, ``allele_rewards``, ``update_allele_freqs``.
* :mod:`nne_jax.weights` — the sparse weight-generation matrix ``W`` and ``W x``.
* :mod:`nne_jax.networks` — the linear net and the masked one-hidden-layer net.
* :mod:`nne_jax.fitness` — the paper's ``δ`` fitness and fitness shaping.
* :mod:`nne_jax.strategy` — ``NNE``: ``init / ask / tell``.
* :mod:`nne_jax.tasks` — the network-task interface, its execution options, and the MLP, deep and
  linear tasks.
* :mod:`nne_jax.population` — evaluating all ``N`` networks (the :data:`PATHS` registry).
* :mod:`nne_jax.generation` — one jitted generation and the ``lax.scan`` runner.
* :mod:`nne_jax.runner`, :mod:`nne_jax.config`, :mod:`nne_jax.cli` — long checkpointed runs.
* :mod:`nne_jax.parallel` — the population sharded over devices and processes.
"""
from importlib import metadata as _metadata

from nne_jax.config import PRESETS, RunConfig
from nne_jax.fitness import (
    Fitness,
    accuracy,
    centered_ranks,
    cross_entropy,
    delta_fitness,
    neg_cross_entropy,
    neg_squared_error,
    standardize,
)
from nne_jax.generation import Metrics, distinct_indices, make_generation, mean_weights, run_generations
from nne_jax.genetics import allele_rewards, multiplicative_weights_update, sample_genotypes, update_allele_freqs
from nne_jax.networks import MaskedMLP, dense_forward, dense_params, linear_forward, masked_mlp, mlp_forward
from nne_jax.population import PATHS, PopulationPath, population_logits
from nne_jax.strategy import NNE, NNEParams, NNEState, TellMetrics
from nne_jax.tasks import CompactableTask, ExecOptions, LinearTask, MLPTask, NetworkTask, check_task, mlp_task
from nne_jax.tasks.deep import DeepMLP, DeepTask, deep_forward, deep_forward_population, deep_mlp, deep_task
from nne_jax.weights import WeightGeneration, dense_matrix, generate_weights, generate_weights_t, weight_generation

try:  # the one source of the version is pyproject.toml, read from the installed package's metadata
    __version__ = _metadata.version("nne_jax")
except _metadata.PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "NNE",
    "NNEState",
    "NNEParams",
    "TellMetrics",
    "PRESETS",
    "RunConfig",
    "Fitness",
    "neg_cross_entropy",
    "MLPTask",
    "MaskedMLP",
    "Metrics",
    "PATHS",
    "WeightGeneration",
    "accuracy",
    "allele_rewards",
    "centered_ranks",
    "cross_entropy",
    "delta_fitness",
    "dense_forward",
    "dense_matrix",
    "dense_params",
    "generate_weights",
    "generate_weights_t",
    "linear_forward",
    "make_generation",
    "masked_mlp",
    "mean_weights",
    "mlp_forward",
    "mlp_task",
    "multiplicative_weights_update",
    "population_logits",
    "run_generations",
    "distinct_indices",
    "sample_genotypes",
    "standardize",
    "update_allele_freqs",
    "weight_generation",
    "NetworkTask", "CompactableTask", "check_task", "ExecOptions", "LinearTask", "PopulationPath", "neg_squared_error",
    "DeepMLP", "DeepTask", "deep_forward", "deep_forward_population", "deep_mlp", "deep_task",
]
