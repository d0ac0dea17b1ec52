"""Selection-strength schedules ``ε(t)`` with a stable identity (for presets and checkpoints).

``NNE(eps=...)`` takes any callable ``generation -> ε`` (an optax schedule works). A schedule that
is a frozen dataclass, like :class:`CosineDecay`, has a value-based ``repr`` and equality, so a
run that uses it is identified the same way in every process (checkpoints record the repr) and
results files record its fields.
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

Array = jax.Array

__all__ = ["CosineDecay"]


@dataclasses.dataclass(frozen=True)
class CosineDecay:
    """``ε(t) = end + (init − end) · (1 + cos(π · min(t / steps, 1))) / 2``: ``init`` at ``t = 0``,
    ``end`` from ``t = steps`` on (ours; the paper uses a constant ε).

    Large early steps reach a good network quickly; small late steps let ``p`` settle instead of
    diffusing under the sampling noise of the allele rewards.
    """

    init: float
    end: float
    steps: int

    def __post_init__(self) -> None:
        for name in ("init", "end"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
                raise ValueError(f"CosineDecay.{name} must be a finite number > 0, got {value!r}")
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 1:
            raise ValueError(f"CosineDecay.steps must be an int >= 1, got {self.steps!r}")

    def __call__(self, generation: Array | int) -> Array:
        frac = jnp.minimum(jnp.asarray(generation, jnp.float32) / self.steps, 1.0)
        return self.end + (self.init - self.end) * 0.5 * (1.0 + jnp.cos(jnp.pi * frac))
