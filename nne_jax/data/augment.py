"""Training-minibatch augmentation (ours: the paper trains on the plain images).

:func:`random_shift` translates every image of a minibatch by its own random ``(dy, dx)`` of at
most ``max_shift`` pixels, filling with zeros — the same 2000 training images, seen at slightly
different positions each generation (a regulariser; ``RunConfig.augment_shift``). Test images
are never augmented.
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp

Array = jax.Array

__all__ = ["check_augment_shift", "image_side", "random_shift"]


def image_side(num_inputs: int) -> int:
    """The side ``s`` of square images flattened to ``num_inputs = s²`` inputs.

    Raises:
      ValueError: ``num_inputs`` is not a perfect square (shifting needs square images).
    """
    side = math.isqrt(num_inputs)
    if side * side != num_inputs:
        raise ValueError(f"augment_shift needs square images flattened to s*s inputs, got {num_inputs} inputs")
    return side


def check_augment_shift(max_shift: object, num_inputs: int | None = None) -> int:
    """``max_shift`` as an int in ``[0, side)`` (``side`` from ``num_inputs`` when given); ValueError otherwise."""
    if isinstance(max_shift, bool) or not isinstance(max_shift, int) or max_shift < 0:
        raise ValueError(f"augment_shift must be an int >= 0 (pixels; 0 = no augmentation), got {max_shift!r}")
    if num_inputs is not None and max_shift:
        side = image_side(num_inputs)
        if max_shift >= side:
            raise ValueError(f"augment_shift must be below the image side {side}, got {max_shift}")
    return max_shift


def random_shift(key: Array, images: Array, max_shift: int) -> Array:
    """Each image translated by its own ``(dy, dx) ~ U{-max_shift, ..., max_shift}²``, zero-filled.

    Args:
      key: PRNG key.
      images: ``(B, s*s)`` flattened square images.
      max_shift: the largest shift in pixels (static); 0 returns ``images`` unchanged.

    Returns:
      ``(B, s*s)``, the same dtype.
    """
    check_augment_shift(max_shift, images.shape[-1])
    if max_shift == 0:
        return images
    side = image_side(images.shape[-1])
    batch = images.shape[0]
    shifts = jax.random.randint(key, (batch, 2), -max_shift, max_shift + 1)
    padded = jnp.pad(images.reshape(batch, side, side), ((0, 0), (max_shift, max_shift), (max_shift, max_shift)))

    def crop(image: Array, shift: Array) -> Array:
        return jax.lax.dynamic_slice(image, (max_shift - shift[0], max_shift - shift[1]), (side, side))

    return jax.vmap(crop)(padded, shifts).reshape(batch, side * side)
