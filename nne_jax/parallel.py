"""Population parallelism: the population axis split over devices with ``jax.sharding``.

Each device evaluates its slice of the genotypes (``shard_map`` over a 1-D mesh with axis
``"pop"``); allele rewards are sums over the population, which XLA reduces across devices; the
allele frequencies and everything else stay replicated. On a CPU host, several XLA CPU devices
(:func:`use_host_devices`, before JAX starts: JAX's ``jax_num_cpu_devices`` option) run their
slices in parallel; on GPUs/TPUs the mesh spans the local (or, after
``jax.distributed.initialize``, global) devices.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

Array = jax.Array
T = TypeVar("T")

__all__ = ["population_mesh", "shard_population", "replicate", "use_host_devices", "POP_AXIS"]

POP_AXIS = "pop"


def population_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A 1-D mesh with axis ``"pop"`` over ``devices`` (default: all devices, all processes)."""
    devices = jax.devices() if devices is None else list(devices)
    return Mesh(np.asarray(devices), (POP_AXIS,))


def shard_population(fn: Callable[..., Array], mesh: Mesh, pop_size: int) -> Callable[..., Array]:
    """Wraps ``fn(genotypes (N, n), *shared) -> per-genotype values (N, ...)`` to run sharded over ``mesh``.

    Each device gets its slice of the genotypes and the whole of every ``shared`` argument (any
    pytrees: the task with ``W``, the minibatch). Pass arrays as ``shared`` arguments rather than
    closing over them: a closed-over array that already carries a mesh sharding (e.g. one put there
    by :func:`replicate`) cannot be indexed inside ``fn`` (JAX refuses the gather's sharding).
    """
    num = mesh.shape[POP_AXIS]
    if pop_size % num:
        raise ValueError(
            f"pop_size={pop_size} is not divisible by the {num} devices of the population mesh; "
            f"use a multiple of {num} (e.g. {pop_size + num - pop_size % num})"
        )

    def wrapped(genotypes: Array, *shared: object) -> Array:
        genotypes = jax.lax.with_sharding_constraint(genotypes, NamedSharding(mesh, P(POP_AXIS)))
        specs = (P(POP_AXIS),) + (P(),) * len(shared)
        return jax.shard_map(fn, mesh=mesh, in_specs=specs, out_specs=P(POP_AXIS), check_vma=False)(genotypes, *shared)

    return wrapped


def replicate(tree: T, mesh: Mesh | None) -> T:
    """``tree``'s arrays copied to every device of ``mesh`` once (``None``: unchanged).

    A jitted function over a mesh would otherwise copy single-device arguments (``W``, the
    blocks) to every device on each call.
    """
    return tree if mesh is None else jax.device_put(tree, NamedSharding(mesh, P()))


def use_host_devices(count: int | None = None) -> int:
    """Asks XLA for ``count`` CPU devices (default: one per core) so a CPU host can shard the population.

    Must run before JAX initialises its backends (i.e. before the first computation); it sets JAX's
    public ``jax_num_cpu_devices`` option and leaves an explicit
    ``XLA_FLAGS=--xla_force_host_platform_device_count=<k>`` alone (the user's setting wins). Returns the
    device count requested (or already in force). A subprocess does not inherit it: pass ``--devices``.
    """
    import os
    import warnings

    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" in flags:
        return int(flags.split("xla_force_host_platform_device_count=")[1].split()[0])
    count = count or os.cpu_count() or 1
    if count < 1:
        raise ValueError(f"the device count must be >= 1, got {count}")
    try:
        jax.config.update("jax_num_cpu_devices", int(count))
    except RuntimeError:  # backends already up: the count is fixed for this process
        warnings.warn("JAX is already initialised; use_host_devices() has no effect in this process", stacklevel=2)
        return jax.device_count()
    return count
