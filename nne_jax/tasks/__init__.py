"""Network tasks: what NNE evolves. One interface, three tasks, one execution-options object.

* :mod:`~nne_jax.tasks.protocol` — :class:`NetworkTask` (``num_genes``, ``num_inputs``, ``mesh``,
  ``weights``, ``forward``, ``population_logits``) and :class:`CompactableTask` (``+ compact``);
  :func:`check_task` names what a task lacks.
* :mod:`~nne_jax.tasks.options` — :class:`ExecOptions`: population path, chunking, matmul dtype,
  mesh (static; the tasks themselves are data-only pytrees).
* :mod:`~nne_jax.tasks.mlp` — the paper's masked one-hidden-layer MLP (:func:`mlp_task`).
* :mod:`~nne_jax.tasks.deep` — masked MLPs with several hidden layers (:func:`deep_task`).
* :mod:`~nne_jax.tasks.linear` — the linear network of the theory (:class:`LinearTask`).

The population paths of the MLP task (function, whether it needs weights linear in the genes, flop
count) are :data:`nne_jax.population.PATHS` entries. A new task is any pytree with the protocol's
members; pass it to ``make_generation``, ``run_generations`` or ``make_run``.
"""
from nne_jax.tasks.deep import DeepMLP, DeepTask, deep_task
from nne_jax.tasks.linear import LinearTask
from nne_jax.tasks.mlp import MLPTask, mlp_task
from nne_jax.tasks.options import ExecOptions
from nne_jax.tasks.protocol import TASK_MEMBERS, CompactableTask, NetworkTask, check_task

__all__ = [
    "NetworkTask",
    "CompactableTask",
    "check_task",
    "TASK_MEMBERS",
    "ExecOptions",
    "MLPTask",
    "mlp_task",
    "DeepMLP",
    "DeepTask",
    "deep_task",
    "LinearTask",
]
