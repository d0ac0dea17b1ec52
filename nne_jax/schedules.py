"""Schedules ``generation -> value`` with a stable identity (for presets and checkpoints).

``NNE(eps=...)`` and ``NNE(fixation=...)`` take any callable ``generation -> value`` (an optax
schedule works). A schedule that
is a frozen dataclass, like :class:`CosineDecay`, has a value-based ``repr`` and equality, so a
run that uses it is identified the same way in every process (checkpoints record the repr) and
results files record its fields.
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

Array = jax.Array

__all__ = ["CosineDecay", "LinearRamp"]


def _check_numbers(obj: object, names: tuple[str, ...], *, integer: bool, low: float, strict: bool) -> None:
    """ValueError naming ``Class.field`` unless each field is a finite number (an int if ``integer``) ``> low``
    (``>= low`` unless ``strict``)."""
    kinds = int if integer else (int, float)
    for name in names:
        value = getattr(obj, name)
        ok = not isinstance(value, bool) and isinstance(value, kinds) and value < float("inf")
        if not (ok and (value > low if strict else value >= low)):
            what = "an int" if integer else "a finite number"
            raise ValueError(f"{type(obj).__name__}.{name} must be {what} {'>' if strict else '>='} {low:g}, got {value!r}")


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
        _check_numbers(self, ("init", "end"), integer=False, low=0, strict=True)
        _check_numbers(self, ("steps",), integer=True, low=1, strict=False)

    def __call__(self, generation: Array | int) -> Array:
        frac = jnp.minimum(jnp.asarray(generation, jnp.float32) / self.steps, 1.0)
        return self.end + (self.init - self.end) * 0.5 * (1.0 + jnp.cos(jnp.pi * frac))


@dataclasses.dataclass(frozen=True)
class LinearRamp:
    """``init`` up to generation ``start``, then linear to ``end`` at ``stop``, ``end`` from then on (ours).

    ``start == stop`` is a step. As an allele-fixation threshold, e.g. ``LinearRamp(0.0, 0.3, 250, 500)``:
    no gene fixes during the first 250 generations (a large early ``ε`` moves ``p`` freely), then the
    threshold rises and fixes ever more genes, so sampled genotypes approach the mean-weight network.
    """

    init: float
    end: float
    start: int
    stop: int

    def __post_init__(self) -> None:
        _check_numbers(self, ("init", "end"), integer=False, low=0, strict=False)
        _check_numbers(self, ("start", "stop"), integer=True, low=0, strict=False)
        if self.stop < self.start:
            raise ValueError(f"LinearRamp needs start <= stop, got start={self.start}, stop={self.stop}")

    def __call__(self, generation: Array | int) -> Array:
        t = jnp.asarray(generation, jnp.float32)
        frac = jnp.clip((t - self.start) / max(self.stop - self.start, 1), 0.0, 1.0)
        frac = jnp.where(t >= self.stop, 1.0, frac)  # a step when start == stop
        return jnp.asarray(self.init + (self.end - self.init) * frac, jnp.float32)
