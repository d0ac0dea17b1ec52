"""Command line: ``nne-jax run ...`` (or ``python -m nne_jax run ...``).

    nne-jax run --task 0-9 --preset fast --out runs/fast0        # start, or resume, a run
    nne-jax run --task 0-4 --config my_run.json --set eps=2.0    # a config file plus overrides
    nne-jax run --data-dir ~/kmnist --sha256 none --classes 0-9  # any MNIST-format IDX files or an .npz
    nne-jax presets                                              # the built-in configurations
    nne-jax plot runs/fast0                                      # a run's curves (finished or running)

A run prints one progress line per chunk (generation, generations/s, mean fitness δ, test accuracy
of the mean-weight network, ETA), appends the same as JSON lines to ``<out>/metrics.jsonl``, keeps
checkpoints in ``<out>`` (run the same command again to resume exactly where it stopped), and at
the end writes ``<out>/result.json`` and a learning-curve plot ``<out>/curve.png``.

Exit status: 0 success; 2 bad usage or input (a bad --set/--config/--seed/--devices, missing data, a
resume refused: another config, fewer generations than done, another device split, unreadable
checkpoints without --restart); 1 a failure (another run holds --out, non-finite fitness, disk
full). Expected errors print one line; --debug prints the traceback too.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nne_jax import __version__
from nne_jax.config import PRESETS, RunConfig, apply_overrides, check_seed, with_fields
from nne_jax.seeds import stream_key

__all__ = [
    "EXIT_FAILURE",
    "EXIT_OK",
    "EXIT_USAGE",
    "UsageError",
    "add_data_arguments",
    "configure_logging",
    "guarded",
    "main",
    "resolve_data_arguments",
]

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


class UsageError(ValueError):
    """Bad command-line usage or input (exit status 2)."""




def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """``--data-dir``, ``--sha256`` and ``--classes``: which data set and which of its classes a run uses."""
    parser.add_argument("--data-dir", metavar="DIR", help="a data set directory: MNIST-format IDX files (gzip or raw, any "
                        "prefix: KMNIST, Fashion-MNIST, EMNIST) or one .npz with x_train, y_train, x_test, y_test "
                        "(default: MNIST from $NNE_DATA_DIR, the cache or the mirrors)")
    parser.add_argument("--sha256", metavar="FILE|none", help="with --data-dir: the files' digests (sha256sum output or a "
                        "JSON table), or 'none' to skip checks (default: MNIST's digests)")
    parser.add_argument("--classes", metavar="SPEC", help="the classes to learn, e.g. 0,3,5 or 0-4 (default: --task's); "
                        "the network gets one output per class")


def resolve_data_arguments(args: argparse.Namespace, default_task: str = "0-9") -> dict[str, Any]:
    """Checks the data options before anything is compiled; returns ``load_task_data``'s keyword arguments
    plus ``"task"`` (the task's name: ``--task`` or the canonical ``--classes`` spec). Bad options: one
    ``SystemExit`` naming the option and the problem."""
    from nne_jax.data import DataError
    from nne_jax.data.checksums import MNIST_SHA256
    from nne_jax.data.datasets import (
        class_spec,
        dataset_files,
        parse_classes,
        read_sha256_table,
    )

    if args.classes is not None and args.task is not None:
        raise SystemExit(f"give --task or --classes, not both (got --task {args.task} --classes {args.classes})")
    try:
        task = class_spec(parse_classes(args.classes)) if args.classes is not None else (args.task or default_task)
    except ValueError as err:
        raise SystemExit(f"--classes: {err}") from err
    if args.data_dir is None:
        if args.sha256 is not None:
            raise SystemExit("--sha256 applies to --data-dir only (MNIST is always checked against its known digests)")
        return {"task": task, "data_dir": None}
    try:
        dataset_files(args.data_dir)
        if args.sha256 is None:
            sha256, source = MNIST_SHA256, "MNIST's known digests"
        elif args.sha256.lower() == "none":
            sha256, source = None, "none"
        else:
            sha256, source = read_sha256_table(args.sha256), args.sha256
    except DataError as err:
        raise SystemExit(str(err)) from err
    return {"task": task, "data_dir": args.data_dir, "sha256": sha256, "sha256_source": source}


def _load_config(args: argparse.Namespace) -> RunConfig:
    config = PRESETS[args.preset]
    if args.config:
        try:
            raw = json.loads(Path(args.config).read_text())
        except (OSError, ValueError) as err:
            raise UsageError(f"--config {args.config}: cannot read it as JSON ({err})") from None
        if not isinstance(raw, dict):
            raise UsageError(f"--config {args.config}: expected a JSON object of RunConfig fields")
        unknown = set(raw) - set(config.flat())
        if unknown:
            raise UsageError(f"--config {args.config}: unknown config fields {sorted(unknown)}")
        if isinstance(raw.get("signsgd_lrs"), list):
            raw["signsgd_lrs"] = tuple(raw["signsgd_lrs"])
        try:
            config = with_fields(config, **raw)
        except (ValueError, TypeError) as err:
            raise UsageError(f"--config {args.config}: {err}") from None
    if args.generations is not None:
        try:
            config = dataclasses.replace(config, generations=args.generations)
        except ValueError as err:
            raise UsageError(f"--generations: {err}") from None
    try:
        return apply_overrides(config, args.set)
    except (ValueError, TypeError) as err:
        raise UsageError(f"--set: {err}") from None


class _StdoutHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stdout`` is when a record is emitted (so redirections and pytest's capture apply)."""

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stdout

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def configure_logging(level: int = logging.INFO) -> None:
    """Library messages (``nne_jax.*`` loggers, and warnings) as plain lines on stdout, once per process."""
    root = logging.getLogger("nne_jax")
    if not any(isinstance(h, _StdoutHandler) for h in root.handlers):
        handler = _StdoutHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)
    warnings_logger = logging.getLogger("py.warnings")
    if not warnings_logger.handlers:
        warnings_logger.addHandler(logging.StreamHandler(sys.stderr))


def _plot(curves: dict[str, list], path: Path, title: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib not installed: no plot; pip install nne_jax[experiments])")
        return
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(curves["generation"], [100 * a for a in curves["test_accuracy"]], marker=".")
    ax.set_xlabel("generation"), ax.set_ylabel("test accuracy of W·p (%)"), ax.set_title(title, fontsize=9), ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(args: argparse.Namespace) -> dict[str, Any]:
    from nne_jax.parallel import use_host_devices

    if args.devices is not None and args.devices < 1:
        raise UsageError(f"--devices must be >= 1, got {args.devices}")
    try:
        check_seed(args.seed)
    except ValueError as err:
        raise UsageError(f"--seed: {err}") from None
    if args.offline:
        os.environ["NNE_OFFLINE"] = "1"
    try:
        data_args = resolve_data_arguments(args)  # bad data options fail here, before JAX starts
    except SystemExit as err:
        raise UsageError(str(err)) from None
    task = data_args.pop("task")
    config = _load_config(args)
    use_host_devices(args.devices)
    import jax

    from nne_jax.checkpoint import run_lock
    from nne_jax.data import DataError
    from nne_jax.data.tasks import load_task_data
    from nne_jax.evaluation import evaluate_allele_freqs
    from nne_jax.records import dumps_strict, write_atomic
    from nne_jax.runner import evolve

    prefix = "" if data_args["data_dir"] is None else f"{Path(data_args['data_dir']).resolve().name}_"
    out = Path(args.out or f"runs/{prefix}{task}_{config.name}_seed{args.seed}")
    with run_lock(out):  # before loading data or any compute: a busy or unusable --out fails at once
        try:
            data = load_task_data(task, config.per_class, args.seed, **data_args)
        except DataError as err:
            raise UsageError(str(err)) from None
        name = "" if data_args["data_dir"] is None else f"{data['dataset']['name']} "
        print(f"run {out}: {config}", flush=True)
        res = evolve(config, task, args.seed, data, out, log=lambda line: print(line, flush=True), restart=args.restart, bar=None)
        final = evaluate_allele_freqs(res["task"], res["state"].allele_freqs, data["test_x"], data["test_y"],
                                      stream_key("evaluation", args.seed))
        result = {"config": res["config"], "seed": args.seed, "dataset": data["dataset"], "num_outputs": res["task"].arch.num_classes,
                  "final_test_accuracy": final, "train_seconds": res["train_seconds"],
                  "generations": res["generations"], "generations_requested": config.generations,
                  "resumed_from": res["resumed_from"], "curves": res["curves"], "devices": jax.device_count(),
                  "backend": jax.default_backend()}
        write_atomic(out / "result.json", dumps_strict(result, indent=1) + "\n")
        _plot(res["curves"], out / "curve.png", f"NNE {name}{task} {config.name} seed {args.seed}")
    print("final test accuracy:", {k: f"{100 * v:.2f}%" for k, v in final.items()}, flush=True)
    return result


def _error_kind(err: BaseException) -> int | None:
    """EXIT_USAGE for bad usage/input, EXIT_FAILURE for an expected failure, None for a bug (traceback)."""
    from nne_jax.checkpoint import (
        CheckpointsUnreadableError,
        ConfigMismatchError,
        RunLockedError,
    )
    from nne_jax.config import ConfigError
    from nne_jax.data.errors import DataError
    from nne_jax.runner import NonFiniteFitnessError, ResumeRefusedError

    if isinstance(err, (UsageError, ConfigError, DataError, ConfigMismatchError, ResumeRefusedError, CheckpointsUnreadableError)):
        return EXIT_USAGE
    if isinstance(err, (RunLockedError, NonFiniteFitnessError, OSError)):
        return EXIT_FAILURE
    return None


def guarded(fn: Callable[[], Any], debug: bool = False, prog: str = "nne-jax") -> int:
    """Runs ``fn()``; returns the exit status. Expected errors print one line (``--debug``: and the traceback)."""
    try:
        fn()
    except KeyboardInterrupt:
        print(f"{prog}: interrupted (run the same command again to resume)", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 - mapped to an exit status below
        code = _error_kind(err)
        if code is None or debug:
            traceback.print_exc()
        if code is None:
            return EXIT_FAILURE
        print(f"{prog}: error: {err}", file=sys.stderr)
        return code
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """The ``nne-jax`` command; returns the exit status (0 ok, 1 failure, 2 bad usage or input)."""
    parser = argparse.ArgumentParser(prog="nne-jax", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"nne-jax {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run or resume NNE on MNIST (or any MNIST-format data set)")
    r.add_argument("--task", choices=["0-4", "0-9"], help="the paper's tasks (default 0-9)")
    add_data_arguments(r)
    r.add_argument("--preset", default="fast", choices=sorted(PRESETS))
    r.add_argument("--config", help="JSON file of RunConfig fields (applied over the preset)")
    r.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="override one field")
    r.add_argument("--generations", type=int)
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--out", help="run directory (checkpoints, metrics.jsonl, result.json, curve.png)")
    r.add_argument("--devices", type=int, help="XLA CPU devices to split the population over (default: one per core)")
    r.add_argument("--restart", action="store_true",
                   help="if --out holds checkpoints but none is readable, start again from generation 0 (they are kept aside)")
    r.add_argument("--offline", action="store_true", help="never download data (same as NNE_OFFLINE=1)")
    r.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show the traceback of an error")
    sub.add_parser("presets", help="print the built-in configurations as JSON")
    pl = sub.add_parser("plot", help="draw a run's curves (finished or running) from RUN_DIR/metrics.jsonl")
    pl.add_argument("run_dir", metavar="RUN_DIR", help="a run's --out directory")
    pl.add_argument("--out", help="the image to write (default RUN_DIR/curves.png)")
    args = parser.parse_args(argv)
    configure_logging()
    if args.command == "presets":
        return guarded(lambda: print(json.dumps({k: v.flat() for k, v in PRESETS.items()}, indent=1, default=_describe)),
                       args.debug)
    if args.command == "plot":
        return guarded(lambda: print(f"wrote {_plot_run(args.run_dir, args.out)}"), args.debug)
    return guarded(lambda: run(args), args.debug)


def _plot_run(run_dir: str, out: str | None) -> Path:
    from nne_jax.plotting import plot_run

    try:
        return plot_run(run_dir, out)
    except (OSError, ValueError, ImportError) as err:
        raise UsageError(f"nne-jax plot: {err}") from None


def _describe(obj: object) -> object:
    """JSON for a preset value that is not plain data (an eps schedule): its type and fields."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {"type": type(obj).__name__, **dataclasses.asdict(obj)}
    return repr(obj)


if __name__ == "__main__":
    sys.exit(main())
