"""Command line: ``nne-jax run ...`` (or ``python -m nne_jax run ...``).

    nne-jax run --task 0-9 --preset fast --out runs/fast0        # start, or resume, a run
    nne-jax run --task 0-4 --config my_run.json --set eps=2.0    # a config file plus overrides
    nne-jax presets                                              # the built-in configurations

A run prints one progress line per chunk (generation, generations/s, mean fitness δ, test accuracy
of the mean-weight network, ETA), appends the same as JSON lines to ``<out>/metrics.jsonl``, keeps
checkpoints in ``<out>`` (run the same command again to resume exactly where it stopped), and at
the end writes ``<out>/result.json`` and a learning-curve plot ``<out>/curve.png``.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from nne_jax.config import PRESETS, RunConfig, apply_overrides, with_fields

__all__ = ["main"]


def _load_config(args: argparse.Namespace) -> RunConfig:
    config = PRESETS[args.preset]
    if args.config:
        raw = json.loads(Path(args.config).read_text())
        unknown = set(raw) - set(config.flat())
        if unknown:
            raise SystemExit(f"{args.config}: unknown config fields {sorted(unknown)}")
        if "signsgd_lrs" in raw:
            raw["signsgd_lrs"] = tuple(raw["signsgd_lrs"])
        config = with_fields(config, **raw)
    if args.generations is not None:
        config = dataclasses.replace(config, generations=args.generations)
    try:
        return apply_overrides(config, args.set)
    except ValueError as err:
        raise SystemExit(f"--set: {err}") from err


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

    use_host_devices(args.devices)
    config = _load_config(args)
    import jax

    from nne_jax.data.tasks import load_task_data
    from nne_jax.evaluation import evaluate_allele_freqs
    from nne_jax.runner import evolve

    out = Path(args.out or f"runs/{args.task}_{config.name}_seed{args.seed}")
    data = load_task_data(args.task, config.per_class, args.seed)
    print(f"run {out}: {config}", flush=True)
    res = evolve(config, args.task, args.seed, data, out, log=lambda line: print(line, flush=True))
    final = evaluate_allele_freqs(res["task"], res["state"].allele_freqs, data["test_x"], data["test_y"], jax.random.PRNGKey(40_000 + args.seed))
    result = {"config": res["config"], "seed": args.seed, "final_test_accuracy": final, "train_seconds": res["train_seconds"],
              "curves": res["curves"], "devices": jax.device_count(), "backend": jax.default_backend()}
    (out / "result.json").write_text(json.dumps(result, indent=1) + "\n")
    _plot(res["curves"], out / "curve.png", f"NNE {args.task} {config.name} seed {args.seed}")
    print("final test accuracy:", {k: f"{100 * v:.2f}%" for k, v in final.items()}, flush=True)
    return result


def main(argv: list[str] | None = None) -> Any:
    parser = argparse.ArgumentParser(prog="nne-jax", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run or resume NNE on MNIST")
    r.add_argument("--task", default="0-9", choices=["0-4", "0-9"])
    r.add_argument("--preset", default="fast", choices=sorted(PRESETS))
    r.add_argument("--config", help="JSON file of RunConfig fields (applied over the preset)")
    r.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="override one field")
    r.add_argument("--generations", type=int)
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--out", help="run directory (checkpoints, metrics.jsonl, result.json, curve.png)")
    r.add_argument("--devices", type=int, help="XLA CPU devices to split the population over (default: one per core)")
    sub.add_parser("presets", help="print the built-in configurations as JSON")
    args = parser.parse_args(argv)
    if args.command == "presets":
        print(json.dumps({k: v.flat() for k, v in PRESETS.items()}, indent=1, default=_describe))
        return PRESETS
    return run(args)


def _describe(obj: object) -> object:
    """JSON for a preset value that is not plain data (an eps schedule): its type and fields."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {"type": type(obj).__name__, **dataclasses.asdict(obj)}
    return repr(obj)


if __name__ == "__main__":
    sys.exit(0 if main() is not None else 1)
