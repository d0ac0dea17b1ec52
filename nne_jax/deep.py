"""Moved to :mod:`nne_jax.tasks.deep` (the deep masked MLP and its task); this name keeps old imports working."""
from nne_jax.tasks.deep import (  # noqa: F401
    DeepMLP,
    DeepTask,
    deep_forward,
    deep_forward_population,
    deep_mlp,
    deep_split_slots,
    deep_task,
)
from nne_jax.tasks.deep import __all__ as __all__  # noqa: F401
