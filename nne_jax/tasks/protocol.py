"""The network-task interface: what a generation, the runners and the evaluations need of a problem.

A *network task* holds the network and its weight-generation matrix ``W`` (data, as a pytree that
``jit`` can take) and says how genotypes become link weights and logits. :class:`~nne_jax.tasks.mlp.MLPTask`
(one hidden layer) and :class:`~nne_jax.tasks.deep.DeepTask` (several) are the library's two; a user's own
task is any pytree (e.g. a ``flax.struct.dataclass``) with the members of :class:`NetworkTask`.
:func:`check_task` names what a task lacks. A task that can also drop fixed genes from its
computation implements :class:`CompactableTask`.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import jax
from jax.sharding import Mesh

if TYPE_CHECKING:
    from nne_jax.strategy import NNEState

Array = jax.Array

__all__ = ["NetworkTask", "CompactableTask", "check_task", "TASK_MEMBERS"]

TASK_MEMBERS = ("num_genes", "num_inputs", "mesh", "weights", "forward", "population_logits")


@runtime_checkable
class NetworkTask(Protocol):
    """A network whose link weights are generated from genotypes.

    Attributes:
      num_genes: ``n``, the genotype length.
      num_inputs: ``d``, the input size.
      mesh: a 1-D ``"pop"`` mesh the population is split over, or ``None`` (one device).
    """

    mesh: Mesh | None

    @property
    def num_genes(self) -> int: ...

    @property
    def num_inputs(self) -> int: ...

    def weights(self, genotypes: Array) -> Array:
        """Link weights of genotypes: ``(..., n) -> (..., S)`` (also of allele frequencies: ``W p``)."""
        ...

    def forward(self, weights: Array, inputs: Array) -> Array:
        """Logits of one network: weights ``(S,)``, inputs ``(B, d)`` -> ``(B, C)``."""
        ...

    def population_logits(self, genotypes: Array, inputs: Array) -> Array:
        """Logits of every genotype's network: ``(N, n)``, ``(B, d)`` -> ``(N, B, C)``."""
        ...


@runtime_checkable
class CompactableTask(NetworkTask, Protocol):
    """A task that can leave fixed genes out of its computation (same results, less work)."""

    def compact(self, state: NNEState) -> CompactableTask:
        """This task restricted to the genes ``state`` has not fixed (host-side, between chunks)."""
        ...


def check_task(task: Any) -> None:
    """Raises ``TypeError`` naming the members of :class:`NetworkTask` that ``task`` lacks."""
    missing = [m for m in TASK_MEMBERS if not hasattr(task, m)]
    if missing:
        raise TypeError(f"{type(task).__name__} is not a network task: it lacks {missing} (see nne_jax.tasks.NetworkTask)")
