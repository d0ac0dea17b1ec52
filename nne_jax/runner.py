"""A long NNE-on-MNIST run that survives being killed: chunks, checkpoints, progress, JSON lines.

:func:`evolve` runs a :class:`~nne_jax.config.RunConfig` in chunks of ``eval_every`` generations
(each chunk one jitted ``lax.scan``). After each chunk it measures the test accuracy of the
mean-weight network, appends a JSON line to ``<ckpt_dir>/metrics.jsonl``, reports progress (generation,
steady generations/s with compilation timed apart, mean fitness, accuracy, ETA; plain lines, fine in a
log file, or a live bar on a terminal, see :mod:`nne_jax.progress`) and
writes a checkpoint. Started again with the same config and directory it resumes from the newest
valid checkpoint; since generation ``t`` always uses ``fold_in(run_key, t)``, the resumed run is
bitwise identical to an uninterrupted one.

Reliability (issue #14, see docs/reliability.md): the run holds an exclusive lock on its directory
(:func:`~nne_jax.checkpoint.run_lock`, taken before any compute, so an unusable directory fails at
once); on resume ``metrics.jsonl`` is reconciled with the checkpoint (a torn last line dropped with a
warning, lines after the checkpoint moved to ``metrics.dropped.jsonl``, lines missing from it rebuilt
from the checkpoint's curves) and rewritten atomically; a resume is refused (never silently inexact)
when the population would be split over another number of devices than the checkpoint's, or when
``generations`` is below what the directory already holds; a chunk whose fitness is non-finite in
every generation stops the run with :class:`NonFiniteFitnessError` (nothing of that chunk saved);
metrics and results are strict JSON (non-finite → ``null``).
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np

from nne_jax.checkpoint import (
    list_checkpoints,
    remove_stale_temporaries,
    restore_checkpoint,
    run_lock,
    save_checkpoint,
)
from nne_jax.config import ConfigError, RunConfig, check_seed
from nne_jax.evaluation import network_accuracy
from nne_jax.generation import mean_weights, mlp_task, run_generations
from nne_jax.parallel import population_mesh
from nne_jax.progress import Progress
from nne_jax.records import append_jsonl, dumps_strict, read_jsonl, write_atomic
from nne_jax.strategy import NNEState
from nne_jax.tasks.protocol import NetworkTask

__all__ = ["CLIP_WARN_FRACTION", "NonFiniteFitnessError", "ResumeRefusedError", "clipped_fraction", "evolve", "make_task", "run_identity"]

#: the runner warns when more than this fraction of equation (3)'s multipliers ``1 + ε f`` clip at 0 (ours)
CLIP_WARN_FRACTION = 0.1


class ResumeRefusedError(ValueError):
    """Resuming would not continue the run exactly (another device split, a smaller budget); says why."""


class NonFiniteFitnessError(FloatingPointError):
    """Every generation of a chunk had non-finite (NaN/inf) fitness: the run stops, that chunk unsaved."""


logger = logging.getLogger(__name__)

CURVE_KEYS = ("generation", "train_seconds", "test_accuracy", "mean_fitness", "best_fitness", "batch_accuracy", "allele_convergence")
# x grid of the allele-convergence curve (the paper's Figure 2): fraction of genes with min(p, 1-p) > x
CONVERGENCE_X = tuple(round(0.025 * i, 3) for i in range(21))


def allele_convergence(allele_freqs: np.ndarray) -> list[float]:
    """Fraction of genes whose allele frequency is farther than ``x`` from 0 and 1, for x in CONVERGENCE_X."""
    dist = np.minimum(allele_freqs, 1.0 - allele_freqs)
    return [float(np.mean(dist > x)) for x in CONVERGENCE_X]


def make_task(config: RunConfig, seed: int, num_classes: int, num_inputs: int = 784) -> NetworkTask:
    """The run's network and ``W`` (from ``seed``), sharded over all devices when they divide N.

    One hidden layer: an :class:`MLPTask`; ``hidden_layers > 1``: a :class:`~nne_jax.tasks.deep.DeepTask`
    (``hidden_layers`` layers of ``num_hidden`` units, evaluated 125 genotypes at a time). The network
    has ``config.num_outputs`` outputs (``None``: ``num_classes``) and ``num_inputs`` inputs (pixels per image).
    """
    if config.num_outputs is not None and config.num_outputs < num_classes:
        raise ValueError(f"num_outputs={config.num_outputs} is fewer than the task's {num_classes} classes")
    num_classes = config.num_outputs or num_classes
    task_key = jax.random.split(jax.random.PRNGKey(seed), 3)[0]
    if config.hidden_layers > 1:  # deeper NNE: the population is chunked instead of fused
        from nne_jax.tasks.deep import deep_task

        mlp = deep_task(
            task_key,
            config.num_genes,
            hidden=(config.num_hidden,) * config.hidden_layers,
            beta=config.beta,
            num_classes=num_classes,
            gene_map=config.gene_map,
            pop_chunk=125,
            num_inputs=num_inputs,
            fan_in_scale=config.fan_in_scale,
            logit_scale=config.logit_scale,
        )
    else:
        mlp = mlp_task(
            task_key,
            config.num_genes,
            beta=config.beta,
            num_hidden=config.num_hidden,
            num_classes=num_classes,
            k_cap=config.k_cap,
            gene_map=config.gene_map,
            logit_scale=config.logit_scale,
            num_inputs=num_inputs,
        )
    if jax.device_count() > 1 and config.pop_size % jax.device_count() == 0:
        mlp = mlp.replace(mesh=population_mesh())
    return mlp


def evolve(
    config: RunConfig,
    task_name: str,
    seed: int,
    data: dict[str, np.ndarray],
    ckpt_dir: str | Path,
    log: Callable[[str], None] | None = print,
    restart: bool = False,
    bar: bool | None = False,
) -> dict[str, Any]:
    """Runs (or resumes) NNE to ``config.generations``.

    Args:
      data: ``train_x (M, D)``, ``train_y``, ``test_x``, ``test_y`` and optionally ``dataset`` (see ``load_task_data``).
      ckpt_dir: where checkpoints and ``metrics.jsonl`` live; reuse it to resume. Locked while the run lasts.
      log: receives one progress line per chunk (``None``: silent). The first chunk's line gives its time
        with compilation; from the second on, the steady generations/s (chunks after the first) and an ETA.
      restart: if checkpoints exist but none is readable, start from generation 0 (they and the
        metrics file are set aside, never deleted) instead of refusing.
      bar: ``True``: a live tqdm bar on stdout instead of the lines (``None``: a bar iff stdout is a terminal).

    Returns:
      ``{"task": NetworkTask, "state": NNEState, "curves": {...}, "train_seconds": float, "config": dict,
      "generations": generations actually run (the final generation), "resumed_from": step or None}``.

    Raises:
      ConfigError: a bad ``seed``, ``batch_size`` above the training set, labels outside the task's classes.
      RunLockedError: another process is running in ``ckpt_dir``.
      CheckpointsUnreadableError, ConfigMismatchError, ResumeRefusedError: the resume is refused (message says why).
      NonFiniteFitnessError: a chunk's fitness was non-finite in every generation.
    """
    ckpt_dir = Path(ckpt_dir)
    check_seed(seed)
    num_classes = _check_data(config, task_name, data)
    with run_lock(ckpt_dir):  # before any compute: a second run, or an unusable directory, fails here
        remove_stale_temporaries(ckpt_dir)
        return _evolve_locked(config, task_name, seed, data, ckpt_dir, log, restart, num_classes, bar)


def _check_data(config: RunConfig, task_name: str, data: dict[str, np.ndarray]) -> int:
    """The number of classes of the task's labels; refuses a minibatch above the training set and foreign labels."""
    train = len(data["train_y"])
    if config.batch_size > train:
        raise ConfigError(
            f"batch_size={config.batch_size} is larger than the training set ({train} examples); "
            f"use batch_size <= {train} (or more per_class)"
        )
    from nne_jax.data.tasks import TASK_CLASSES

    labels = np.concatenate([np.asarray(data["train_y"]).ravel(), np.asarray(data["test_y"]).ravel()])
    allowed = TASK_CLASSES.get(task_name, tuple(range(int(labels.max()) + 1)) if labels.size else ())
    foreign = sorted(set(np.unique(labels).tolist()) - set(allowed))
    if foreign:
        raise ConfigError(f"task {task_name!r} has classes {list(allowed)} but the data holds labels {foreign[:10]}")
    return int(np.max(data["train_y"])) + 1


def run_identity(config: RunConfig, task_name: str, seed: int, num_classes: int, data: dict[str, Any] | None = None) -> dict[str, Any]:
    """The identity an :func:`evolve` run's checkpoints carry (what :func:`~nne_jax.checkpoint.restore_checkpoint`
    checks): task, seed and the config's random-stream fields, plus the data files when not MNIST."""
    identity = {"task": task_name, "seed": seed, **config.identity()}
    if identity.get("num_outputs") == num_classes:  # the same network as before the field existed
        identity.pop("num_outputs")
    if (data or {}).get("dataset", {}).get("data_dir"):  # not MNIST: a checkpoint resumes only on the same files
        identity["dataset"] = data["dataset"]["files"]
    return identity


def _evolve_locked(
    config: RunConfig,
    task_name: str,
    seed: int,
    data: dict[str, np.ndarray],
    ckpt_dir: Path,
    log: Callable[[str], None] | None,
    restart: bool,
    num_classes: int,
    bar: bool | None,
) -> dict[str, Any]:
    _, init_key, run_key = jax.random.split(jax.random.PRNGKey(seed), 3)
    mlp = make_task(config, seed, num_classes, int(np.shape(data["train_x"])[1]))
    shards = _population_shards(mlp)
    nne = config.strategy
    state = nne.init(init_key)
    identity = run_identity(config, task_name, seed, num_classes, data)
    curves: dict[str, list] = {k: [] for k in CURVE_KEYS}
    train_seconds = 0.0
    metrics_path = ckpt_dir / "metrics.jsonl"
    had_checkpoints = bool(list_checkpoints(ckpt_dir))
    restored = restore_checkpoint(ckpt_dir, identity, quarantine=True, restart=restart)
    step = 0
    if restored is not None:
        step, saved = restored
        _check_resume(ckpt_dir, step, saved, config, shards)
        opt_state = None if state.opt_state is None else flax.serialization.from_state_dict(state.opt_state, saved["opt_state"])
        state = state.replace(allele_freqs=jnp.asarray(saved["allele_freqs"]), fixed=jnp.asarray(saved["fixed"]),
                              generation=jnp.asarray(saved["generation"]), opt_state=jax.tree.map(jnp.asarray, opt_state))
        length = len(np.asarray(saved["curves"]["generation"]))
        curves = {k: _from_saved(saved["curves"].get(k), length) for k in CURVE_KEYS}
        train_seconds = float(saved["train_seconds"])
        logger.info("resumed from generation %d in %s", step, ckpt_dir)
    elif had_checkpoints and metrics_path.exists():  # --restart over unreadable checkpoints: keep the old history
        kept = _set_aside_metrics(metrics_path)
        warnings.warn(f"--restart: the old {metrics_path.name} is kept as {kept.name}", stacklevel=2)
    _reconcile_metrics(metrics_path, step, curves)
    x, y = jnp.asarray(data["train_x"]), jnp.asarray(data["train_y"])
    test_x, test_y = jnp.asarray(data["test_x"]), jnp.asarray(data["test_y"])

    def test_accuracy(s: NNEState) -> float:
        return float(network_accuracy(mlp, mean_weights(mlp, s.allele_freqs), test_x, test_y))

    if not curves["generation"]:
        for k, v in zip(CURVE_KEYS, (0, 0.0, test_accuracy(state), None, None, None, allele_convergence(np.asarray(state.allele_freqs)))):
            curves[k].append(v)
    progress = (
        None
        if log is None
        else Progress(config.generations, int(state.generation), f"[{task_name} {config.name} seed {seed}]", bar=bar, log=log)
    )
    while int(state.generation) < config.generations:
        first = int(state.generation)
        target = min(first + config.eval_every, config.generations)
        start = time.perf_counter()
        new_state, metrics = run_generations(
            nne, mlp, state, run_key, x, y, target, config.batch_size, chunk_size=config.eval_every, fitness_fn=config.fitness_fn(),
            augment_shift=config.augment_shift
        )
        jax.block_until_ready(new_state.allele_freqs)
        _check_chunk_fitness(metrics, nne, first, target, config, log)
        state = new_state
        chunk_seconds = time.perf_counter() - start
        train_seconds += chunk_seconds
        point = {
            "generation": target,
            "train_seconds": train_seconds,
            "test_accuracy": test_accuracy(state),
            "mean_fitness": float(metrics.mean_fitness[-1]),
            "best_fitness": float(metrics.best_fitness[-1]),
            "batch_accuracy": float(np.mean(np.asarray(metrics.mean_weights_accuracy))),
            "allele_convergence": allele_convergence(np.asarray(state.allele_freqs)),
        }
        for k in CURVE_KEYS:
            curves[k].append(point[k])
        p = np.asarray(state.allele_freqs)
        point["near_0_or_1"] = float(np.mean(np.minimum(p, 1 - p) < 0.01))
        append_jsonl(metrics_path, point)
        save_checkpoint(
            ckpt_dir,
            target,
            {
                "allele_freqs": p,
                "fixed": np.asarray(state.fixed),
                "generation": np.asarray(state.generation),
                "curves": {k: np.asarray([np.nan if v is None else v for v in curves[k]], np.float64) for k in CURVE_KEYS},
                "train_seconds": np.asarray(train_seconds),
                "population_shards": np.asarray(shards),
                **({} if state.opt_state is None else {"opt_state": flax.serialization.to_state_dict(state.opt_state)}),
            },
            identity,
        )
        if progress is not None:
            progress.update(target, chunk_seconds, point)
    if progress is not None:
        progress.close()
    return {
        "task": mlp,
        "state": state,
        "curves": curves,
        "train_seconds": train_seconds,
        "config": identity,
        "generations": int(state.generation),
        "resumed_from": step if restored is not None else None,
    }


def _population_shards(mlp: Any) -> int:
    """Devices the population is split over (1: unsharded)."""
    mesh = getattr(mlp, "mesh", None)
    return 1 if mesh is None else int(np.prod(list(mesh.shape.values())))


def _check_resume(ckpt_dir: Path, step: int, saved: dict[str, Any], config: RunConfig, shards: int) -> None:
    """Refuses a resume that would not continue the checkpointed run exactly."""
    if step > config.generations:
        raise ResumeRefusedError(
            f"{ckpt_dir} already holds generation {step}, more than the {config.generations} generations asked for; "
            f"ask for --generations >= {step} to continue (or {step} to just read it), or use another output directory"
        )
    if "population_shards" not in saved:  # written before the split was recorded: cannot check
        warnings.warn(f"checkpoint in {ckpt_dir} does not record its device split; resuming without that check", stacklevel=3)
        return
    before = int(saved["population_shards"])
    if before != shards:
        raise ResumeRefusedError(
            f"the checkpoint in {ckpt_dir} was written with the population split over {before} device(s), this process "
            f"splits it over {shards}: the sums over the population would round differently and the resume would not be "
            f"bitwise exact. Resume with --devices {before} (or use another output directory)"
        )


def clipped_fraction(fitness: jax.Array, eps: float | jax.Array) -> jax.Array:
    """Fraction of equation (3)'s multipliers ``1 + ε f`` that are clipped at 0, for fitness ``f`` of any shape → scalar."""
    return jnp.mean((1.0 + eps * jnp.asarray(fitness, jnp.float32)) < 0.0)


def _check_chunk_fitness(metrics: Any, nne: Any, first: int, target: int, config: RunConfig, log: Callable[[str], None] | None) -> None:
    """Stops on a chunk whose fitness is non-finite throughout; warns on some non-finite generations or clipping."""
    mean = np.asarray(metrics.mean_fitness)
    finite = np.isfinite(mean)
    where = f"generations {first + 1}..{target}"
    if not finite.any():
        raise NonFiniteFitnessError(
            f"the population's fitness was non-finite (NaN/inf) in every generation of {where} (fitness={config.fitness}, "
            f"temperature={config.temperature}, logit_scale={config.logit_scale}); stopping, nothing of this chunk saved. "
            "Check the fitness settings (e.g. a temperature or logit_scale that overflows)"
        )
    if not finite.all():
        warnings.warn(f"{where}: {int((~finite).sum())} of {finite.size} generations had non-finite mean fitness", stacklevel=3)
    if nne.update_rule != "weak_selection" or nne.fitness_shaping != "none":
        return  # no multiplier to clip (multiplicative weights), or shaped rewards average to 0
    # exact per-gene fractions when the strategy reports them (issue #15); otherwise the allele rewards
    # f(i), f̄(i) are means over about half the population, so 1 + ε · (mean fitness) stands for them (ours)
    reported = getattr(metrics, "clipped_fraction", None)
    if reported is not None:
        frac = float(np.nanmean(np.asarray(reported)))
    else:
        gens = jnp.arange(first, target)
        eps = jax.vmap(nne.eps)(gens) if callable(nne.eps) else jnp.full(gens.shape, nne.eps)
        frac = float(clipped_fraction(jnp.where(finite, mean, 0.0), eps))
    if frac > CLIP_WARN_FRACTION:
        msg = (
            f"{where}: {100 * frac:.0f}% of equation (3)'s multipliers 1 + eps*f are clipped at 0 (fitness too negative "
            f"for eps={nne.eps}); those genes do not learn. For signed fitness use fitness_shaping='standardize' or "
            "update_rule='multiplicative_weights'"
        )
        warnings.warn(msg, stacklevel=3)
        if log:
            log("warning: " + msg)


def _set_aside_metrics(path: Path) -> Path:
    target, i = path.with_name(path.name + ".before-restart"), 1
    while target.exists():
        i += 1
        target = path.with_name(f"{path.name}.before-restart{i}")
    path.replace(target)
    return target


def _reconcile_metrics(path: Path, step: int, curves: dict[str, list]) -> None:
    """Makes ``metrics.jsonl`` hold exactly one line per checkpointed chunk up to ``step``, rewritten atomically.

    A torn last line is dropped (warning); lines after ``step`` (a run killed between the metrics line and
    the checkpoint) go to ``metrics.dropped.jsonl``; lines missing for generations the checkpoint's curves
    hold are rebuilt from them (marked ``"rebuilt_from_checkpoint": true``).
    """
    if not path.exists() and step == 0:
        return
    records = read_jsonl(path, skip_bad=True)
    keep: dict[int, dict] = {}
    dropped = []
    for rec in records:
        gen = rec.get("generation")
        if isinstance(gen, (int, float)) and 0 < gen <= step and int(gen) not in keep:
            keep[int(gen)] = rec
        else:
            dropped.append(rec)
    for i, gen in enumerate(curves["generation"]):
        if gen is not None and 0 < int(gen) <= step and int(gen) not in keep:
            keep[int(gen)] = {**{k: curves[k][i] for k in CURVE_KEYS}, "generation": int(gen), "rebuilt_from_checkpoint": True}
    if dropped:
        dropped_path = path.with_name("metrics.dropped.jsonl")
        for rec in dropped:
            append_jsonl(dropped_path, rec)
        warnings.warn(f"{path}: {len(dropped)} line(s) beyond checkpoint generation {step} moved to {dropped_path.name}", stacklevel=3)
    text = "".join(dumps_strict(keep[g]) + "\n" for g in sorted(keep))
    if path.exists() and path.read_text() == text:
        return
    write_atomic(path, text)


def _from_saved(values: np.ndarray | None, length: int) -> list:
    """A restored curve as a list, NaN → None (a curve missing from an older checkpoint: all None)."""
    if values is None:
        return [None] * length
    return [None if (isinstance(v, float) and np.isnan(v)) else v for v in np.asarray(values).tolist()]
