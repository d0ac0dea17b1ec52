"""Moved to :mod:`nne_jax.tasks.protocol` (the network-task interface); this name keeps old imports working."""
from nne_jax.tasks.protocol import TASK_MEMBERS, CompactableTask, NetworkTask, check_task  # noqa: F401
from nne_jax.tasks.protocol import __all__ as __all__  # noqa: F401
