"""A long NNE-on-MNIST run that survives being killed: chunks, checkpoints, progress, JSON lines.

:func:`evolve` runs a :class:`~nne_jax.config.RunConfig` in chunks of ``eval_every`` generations
(each chunk one jitted ``lax.scan``). After each chunk it measures the test accuracy of the
mean-weight network, appends a JSON line to ``<ckpt_dir>/metrics.jsonl``, reports progress (generation,
steady generations/s with compilation timed apart, mean fitness, accuracy, ETA; plain lines, fine in a
log file, or a live bar on a terminal, see :mod:`nne_jax.progress`) and
writes a checkpoint. Started again with the same config and directory it resumes from the newest
valid checkpoint; since generation ``t`` always uses ``fold_in(run_key, t)``, the resumed run is
bitwise identical to an uninterrupted one.
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from nne_jax.checkpoint import restore_checkpoint, save_checkpoint
from nne_jax.config import RunConfig
from nne_jax.evaluation import network_accuracy
from nne_jax.generation import MLPTask, mean_weights, mlp_task, run_generations
from nne_jax.parallel import population_mesh
from nne_jax.progress import Progress
from nne_jax.strategy import NNEState

__all__ = ["evolve", "make_task"]

logger = logging.getLogger(__name__)

CURVE_KEYS = ("generation", "train_seconds", "test_accuracy", "mean_fitness", "best_fitness", "batch_accuracy", "allele_convergence")
# x grid of the allele-convergence curve (the paper's Figure 2): fraction of genes with min(p, 1-p) > x
CONVERGENCE_X = tuple(round(0.025 * i, 3) for i in range(21))


def allele_convergence(allele_freqs: np.ndarray) -> list[float]:
    """Fraction of genes whose allele frequency is farther than ``x`` from 0 and 1, for x in CONVERGENCE_X."""
    dist = np.minimum(allele_freqs, 1.0 - allele_freqs)
    return [float(np.mean(dist > x)) for x in CONVERGENCE_X]


def make_task(config: RunConfig, seed: int, num_classes: int, num_inputs: int = 784) -> MLPTask:
    """The run's network and ``W`` (from ``seed``), sharded over all devices when they divide N.

    One hidden layer: an :class:`MLPTask`; ``hidden_layers > 1``: a :class:`~nne_jax.deep.DeepTask`
    (``hidden_layers`` layers of ``num_hidden`` units, evaluated 125 genotypes at a time). The network
    has ``config.num_outputs`` outputs (``None``: ``num_classes``) and ``num_inputs`` inputs (pixels per image).
    """
    if config.num_outputs is not None and config.num_outputs < num_classes:
        raise ValueError(f"num_outputs={config.num_outputs} is fewer than the task's {num_classes} classes")
    num_classes = config.num_outputs or num_classes
    task_key = jax.random.split(jax.random.PRNGKey(seed), 3)[0]
    if config.hidden_layers > 1:  # deeper NNE: the population is chunked instead of fused
        from nne_jax.deep import deep_task

        mlp = deep_task(task_key, config.num_genes, hidden=(config.num_hidden,) * config.hidden_layers, beta=config.beta,
                        num_classes=num_classes, gene_map=config.gene_map, pop_chunk=125, num_inputs=num_inputs,
                        fan_in_scale=config.fan_in_scale, logit_scale=config.logit_scale)
    else:
        mlp = mlp_task(task_key, config.num_genes, beta=config.beta, num_hidden=config.num_hidden, num_classes=num_classes, k_cap=config.k_cap,
                       gene_map=config.gene_map, logit_scale=config.logit_scale, num_inputs=num_inputs)
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
    bar: bool | None = False,
) -> dict[str, Any]:
    """Runs (or resumes) NNE to ``config.generations``.

    Args:
      data: ``train_x (M, D)``, ``train_y``, ``test_x``, ``test_y`` and optionally ``dataset`` (see ``load_task_data``).
      ckpt_dir: where checkpoints and ``metrics.jsonl`` live; reuse it to resume.
      log: receives one progress line per chunk (``None``: silent). The first chunk's line gives its time
        with compilation; from the second on, the steady generations/s (chunks after the first) and an ETA.
      bar: ``True``: a live tqdm bar on stdout instead of the lines (``None``: a bar iff stdout is a terminal).

    Returns:
      ``{"task": MLPTask, "state": NNEState, "curves": {...}, "train_seconds": float, "config": dict}``.
    """
    ckpt_dir = Path(ckpt_dir)
    num_classes = int(np.max(data["train_y"])) + 1
    _, init_key, run_key = jax.random.split(jax.random.PRNGKey(seed), 3)
    mlp = make_task(config, seed, num_classes, int(np.shape(data["train_x"])[1]))
    nne = config.strategy
    state = nne.init(init_key)
    identity = {"task": task_name, "seed": seed, **config.identity()}
    if identity.get("num_outputs") == num_classes:  # the same network as before the field existed
        identity.pop("num_outputs")
    if data.get("dataset", {}).get("data_dir"):  # not MNIST: a checkpoint resumes only on the same files
        identity["dataset"] = data["dataset"]["files"]
    curves: dict[str, list] = {k: [] for k in CURVE_KEYS}
    train_seconds = 0.0
    restored = restore_checkpoint(ckpt_dir, identity)
    if restored is not None:
        step, saved = restored
        state = NNEState(jnp.asarray(saved["allele_freqs"]), jnp.asarray(saved["fixed"]), jnp.asarray(saved["generation"]))
        length = len(np.asarray(saved["curves"]["generation"]))
        curves = {k: _from_saved(saved["curves"].get(k), length) for k in CURVE_KEYS}
        train_seconds = float(saved["train_seconds"])
        _truncate_jsonl(ckpt_dir / "metrics.jsonl", step)
        logger.info("resumed from generation %d in %s", step, ckpt_dir)
    x, y = jnp.asarray(data["train_x"]), jnp.asarray(data["train_y"])
    test_x, test_y = jnp.asarray(data["test_x"]), jnp.asarray(data["test_y"])

    def test_accuracy(s: NNEState) -> float:
        return float(network_accuracy(mlp, mean_weights(mlp, s.allele_freqs), test_x, test_y))

    if not curves["generation"]:
        for k, v in zip(CURVE_KEYS, (0, 0.0, test_accuracy(state), None, None, None, allele_convergence(np.asarray(state.allele_freqs)))):
            curves[k].append(v)
    progress = None if log is None else Progress(config.generations, int(state.generation), f"[{task_name} {config.name} seed {seed}]",
                                                   bar=bar, log=log)
    while int(state.generation) < config.generations:
        target = min(int(state.generation) + config.eval_every, config.generations)
        start = time.perf_counter()
        state, metrics = run_generations(nne, mlp, state, run_key, x, y, target, config.batch_size, chunk_size=config.eval_every,
                                         fitness_fn=config.fitness_fn())
        jax.block_until_ready(state.allele_freqs)
        chunk_seconds = time.perf_counter() - start
        train_seconds += chunk_seconds
        point = {"generation": target, "train_seconds": train_seconds, "test_accuracy": test_accuracy(state),
                 "mean_fitness": float(metrics.mean_fitness[-1]), "best_fitness": float(metrics.best_fitness[-1]),
                 "batch_accuracy": float(np.mean(np.asarray(metrics.mean_weights_accuracy))),
                 "allele_convergence": allele_convergence(np.asarray(state.allele_freqs))}
        for k in CURVE_KEYS:
            curves[k].append(point[k])
        p = np.asarray(state.allele_freqs)
        point["near_0_or_1"] = float(np.mean(np.minimum(p, 1 - p) < 0.01))
        ckpt_dir.mkdir(parents=True, exist_ok=True)
        with open(ckpt_dir / "metrics.jsonl", "a") as fh:
            fh.write(json.dumps(point) + "\n")
        save_checkpoint(ckpt_dir, target, {"allele_freqs": p, "fixed": np.asarray(state.fixed), "generation": np.asarray(state.generation),
                                           "curves": {k: np.asarray([np.nan if v is None else v for v in curves[k]], np.float64) for k in CURVE_KEYS},
                                           "train_seconds": np.asarray(train_seconds)}, identity)
        if progress is not None:
            progress.update(target, chunk_seconds, point)
    if progress is not None:
        progress.close()
    return {"task": mlp, "state": state, "curves": curves, "train_seconds": train_seconds, "config": identity}


def _from_saved(values: np.ndarray | None, length: int) -> list:
    """A restored curve as a list, NaN → None (a curve missing from an older checkpoint: all None)."""
    if values is None:
        return [None] * length
    return [None if (isinstance(v, float) and np.isnan(v)) else v for v in np.asarray(values).tolist()]


def _truncate_jsonl(path: Path, step: int) -> None:
    """Drops metric lines written after checkpoint ``step`` (a run killed between the two writes)."""
    if path.exists():
        lines = [ln for ln in path.read_text().splitlines() if ln.strip() and json.loads(ln)["generation"] <= step]
        path.write_text("".join(ln + "\n" for ln in lines))
