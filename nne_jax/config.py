"""Run configurations for NNE on MNIST: every choice the paper leaves open is a named field.

* ``faithful`` — exactly the paper's method (Section 3.1): i.i.d. genotypes, raw fitness δ,
  equation (3), no bounds. The paper leaves n ("a few thousand genes"), ε, the minibatch and the
  number of generations open; the values here are ours (see the README for why).
* ``fast`` — the same network, data, β and N = 1000, reached in far fewer generations: fitness
  −cross-entropy (a signal on every example, where δ is 0 for every badly classified one),
  standardised per generation, the multiplicative-weights form of (3) with ε = 2, antithetic
  genotype pairs, p kept in [0.02, 0.98], and n = 4000 genes (each ablated in
  ``experiments/ablations.py``).
* ``fast-delta`` — the first fast preset: the same but with the paper's δ fitness, ε = 1, n = 2000.
* ``wide`` — ours (issue #17): the fast preset with 16,000 genes at β = 0.000625 (the same number of
  nonzeros in ``W`` as fast's 4000 at 0.0025), the network's logits scaled by 1/30, ε cosine-decayed
  from 4 to 0.5 over its 500 generations, and allele fixation at 0.05.
* ``wide-ramp`` — ours (issue #17): ``wide`` with no fixation for the first 250 generations, then a
  fixation threshold ramped linearly from 0 to 0.3 by generation 500 (``LinearRamp(0, 0.3, 250, 500)``):
  alleles stay free while the network is still learning, and are fixed (leaving the computation) late.
* ``wide-long`` — ours (issue #17): ``wide-ramp`` run for 700 generations, ε cosine-decayed 4 → 0.5 over
  all 700, fixation ramped 0 → 0.3 between generations 250 and 600.
* ``wide-adam`` — ours (issue #17): ``wide-ramp`` with Adam on the multiplicative-weights step
  (``optimizer="adam"``: ``logit p += ε · adam(f − f̄)``, a per-gene normalised step), ε cosine-decayed
  0.25 → 0.02 over 500 generations, test evaluations every 10 generations.
* ``wide-adam-long`` — ours (issue #17): ``wide-adam`` run for 1000 generations, ε cosine-decayed 0.25 → 0.02 over
  all 1000, fixation ramped 0 → 0.3 between generations 500 and 1000.
* ``wide-adam-shift`` — ours (issue #17): ``wide-adam`` with each generation's minibatch images shifted by up
  to 1 pixel (``augment_shift=1``; the same 2000 training images, a regulariser; test images unshifted).
* ``smoke`` — a few generations on a small subset: CI's check that the learning signal is real.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any

from nne_jax.data.augment import check_augment_shift
from nne_jax.fitness import FITNESSES, SHAPINGS, Fitness
from nne_jax.genetics import UPDATE_RULES
from nne_jax.networks import check_logit_scale
from nne_jax.schedules import CosineDecay, LinearRamp
from nne_jax.strategy import NNE, OPTIMIZERS
from nne_jax.weights import check_gene_map

__all__ = ["RunConfig", "PRESETS", "apply_overrides", "with_fields", "ConfigError", "check_seed", "SEED_MAX"]

#: seeds are 32-bit (``jax.random.PRNGKey``): 0 .. SEED_MAX
SEED_MAX = 2**32 - 1


class ConfigError(ValueError):
    """A run setting has the wrong type or range; the message names the field."""


def check_seed(seed: Any) -> int:
    """``seed`` if it is an int in ``0 .. 2**32 - 1`` (larger ones would wrap onto another run's stream)."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= SEED_MAX:
        raise ConfigError(f"seed must be an int in 0..{SEED_MAX} (2**32 - 1), got {seed!r}")
    return seed


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _check_field(name: str, value: Any, kind: str, low: float | None = None, high: float | None = None,
                 optional: bool = False) -> None:
    """Raises ConfigError naming ``name`` unless ``value`` is of ``kind`` ("int", "number", "bool", "str") in range."""
    if optional and value is None:
        return
    ok = {"int": _is_int, "number": _is_number, "bool": lambda v: isinstance(v, bool), "str": lambda v: isinstance(v, str)}[kind](value)
    if ok and low is not None and value < low:
        ok = False
    if ok and high is not None and value > high:
        ok = False
    if not ok:
        what = {"int": "an int", "number": "a finite number", "bool": "true or false", "str": "a string"}[kind]
        bounds = f" >= {low}" if low is not None and high is None else (f" in [{low}, {high}]" if low is not None else "")
        none = " or null" if optional else ""
        raise ConfigError(f"{name} must be {what}{bounds}{none}, got {value!r} ({type(value).__name__})")


def _check_strategy_types(fields: dict[str, Any]) -> None:
    """Types of the strategy's fields, by name (the strategy checks its ranges; a JSON ``"false"`` is not a bool)."""
    checks = {"num_genes": ("int", 1, None), "pop_size": ("int", 2, None), "antithetic": ("bool", None, None),
              "update_rule": ("str", None, None), "fitness_shaping": ("str", None, None), "p_min": ("number", 0.0, 1.0),
              "p_max": ("number", 0.0, 1.0), "init_freqs": ("str", None, None)}
    for name, value in fields.items():
        if name in checks:
            _check_field(name, value, *checks[name])
        elif name == "fixation" and not callable(value):
            _check_field(name, value, "number", 0.0, 0.5, optional=True)
        elif name == "eps" and not callable(value):
            _check_field(name, value, "number")
            if value <= 0:
                raise ConfigError(f"eps must be > 0 (or a schedule), got {value!r}")
    if fields.get("update_rule", next(iter(UPDATE_RULES))) not in UPDATE_RULES:
        raise ConfigError(f"update_rule must be one of {sorted(UPDATE_RULES)}, got {fields['update_rule']!r}")
    if isinstance(fields.get("optimizer"), str) and fields["optimizer"] not in OPTIMIZERS:
        raise ConfigError(f"optimizer must be none or one of {sorted(OPTIMIZERS)}, got {fields['optimizer']!r}")
    if fields.get("fitness_shaping", "none") not in SHAPINGS:
        raise ConfigError(f"fitness_shaping must be one of {sorted(SHAPINGS)}, got {fields['fitness_shaping']!r}")


_LATER_DEFAULTS = {"gene_map": "identity", "hidden_layers": 1, "fan_in_scale": False, "logit_scale": 1.0, "num_outputs": None,
                   "optimizer": None, "augment_shift": 0}
_STRATEGY_FIELDS = tuple(f.name for f in dataclasses.fields(NNE) if f.name != "init_freqs")


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """An NNE-on-MNIST run: the strategy (an :class:`~nne_jax.strategy.NNE`), network, data, budget.

    Network fields: ``beta`` (density of ``W``), ``num_hidden``, ``k_cap`` (k-cap hidden layer),
    ``gene_map`` (link weights ``g(W x)``, a key of ``GENE_MAPS``) and ``hidden_layers`` (``> 1``:
    a :class:`~nne_jax.tasks.deep.DeepTask` with that many layers of ``num_hidden`` units; ``fan_in_scale``
    scales its deeper layers' weights by ``1 / sqrt(fan-in)``), ``logit_scale`` (the network's output
    scale ``s``, ours: logits ``s · net(u)``; for this bias-free ReLU net it stands for any per-layer
    weight scale, see :class:`~nne_jax.tasks.mlp.MLPTask`), ``num_outputs`` (the network's output units
    ``C``; ``None``: one per class of the task. The paper's network has 10 outputs for both 0–4 and 0–9,
    so α = log 10 in δ on both; the presets set 10. ``--set num_outputs=none`` gives C = 5 on 0–4).
    ``augment_shift`` (ours; 0 = the paper's plain images): each generation's minibatch images are
    shifted by up to this many pixels (:func:`~nne_jax.data.augment.random_shift`); test images never.
    """

    name: str
    strategy: NNE
    generations: int
    batch_size: int
    eval_every: int
    fitness: str = "delta"
    temperature: float = 1.0
    beta: float = 0.0025
    num_hidden: int = 1000
    k_cap: int | None = None
    gene_map: str = "identity"
    hidden_layers: int = 1
    fan_in_scale: bool = False
    logit_scale: float = 1.0
    num_outputs: int | None = None
    per_class: int = 200
    augment_shift: int = 0
    signsgd_steps: int = 400
    signsgd_lrs: tuple[float, ...] = (1e-3, 3e-3, 1e-2, 3e-2)

    def __post_init__(self) -> None:
        """Checks every field by type and range; a ConfigError names the field."""
        _check_field("name", self.name, "str")
        for k in ("temperature", "beta", "logit_scale"):  # JSON's 2 and 2.0 are one run (one checkpoint identity)
            if _is_int(getattr(self, k)):
                object.__setattr__(self, k, float(getattr(self, k)))
        if not isinstance(self.strategy, NNE):
            raise ConfigError(f"strategy must be an NNE, got {type(self.strategy).__name__}")
        _check_strategy_types({f.name: getattr(self.strategy, f.name) for f in dataclasses.fields(NNE)})
        for field in ("generations", "batch_size", "eval_every", "num_hidden", "hidden_layers", "per_class", "signsgd_steps"):
            _check_field(field, getattr(self, field), "int", 1)
        _check_field("fitness", self.fitness, "str")
        if self.fitness not in FITNESSES:
            raise ConfigError(f"fitness must be one of {sorted(FITNESSES)}, got {self.fitness!r}")
        _check_field("temperature", self.temperature, "number")
        if not self.temperature > 0:
            raise ConfigError(f"temperature must be > 0, got {self.temperature!r}")
        _check_field("beta", self.beta, "number")
        if not 0.0 < self.beta <= 1.0:
            raise ConfigError(f"beta must be in (0, 1], got {self.beta}")
        _check_field("k_cap", self.k_cap, "int", 1, optional=True)
        if self.k_cap is not None and self.k_cap > self.num_hidden:
            raise ConfigError(f"k_cap={self.k_cap} exceeds num_hidden={self.num_hidden}")
        _check_field("gene_map", self.gene_map, "str")
        _check_field("fan_in_scale", self.fan_in_scale, "bool")
        try:
            check_logit_scale(self.logit_scale)
        except ValueError as err:
            raise ConfigError(str(err)) from None
        if self.num_outputs is not None and (isinstance(self.num_outputs, bool) or not isinstance(self.num_outputs, int)
                                             or self.num_outputs < 2):
            raise ConfigError(f"num_outputs must be an int >= 2 or None (one per class), got {self.num_outputs!r}")
        if not isinstance(self.signsgd_lrs, tuple) or not self.signsgd_lrs or not all(
                _is_number(v) and v > 0 for v in self.signsgd_lrs):
            raise ConfigError(f"signsgd_lrs must be a non-empty list of finite numbers > 0, got {self.signsgd_lrs!r}")
        try:
            check_augment_shift(self.augment_shift)
        except ValueError as err:
            raise ConfigError(str(err)) from None
        self.fitness_fn()  # validates with its own error messages
        try:
            check_gene_map(self.gene_map)
        except ValueError as err:
            raise ConfigError(str(err)) from None
        if self.fan_in_scale and self.hidden_layers < 2:
            raise ConfigError("fan_in_scale scales the layers after the first: it needs hidden_layers >= 2")
        if self.hidden_layers > 1 and self.k_cap is not None:
            raise ConfigError("k_cap is implemented for one hidden layer (hidden_layers=1)")

    @property
    def num_genes(self) -> int:
        return self.strategy.num_genes

    @property
    def pop_size(self) -> int:
        return self.strategy.pop_size

    def fitness_fn(self) -> Fitness:
        return Fitness(self.fitness, self.temperature)

    def flat(self) -> dict[str, Any]:
        """All fields in one flat dict (the strategy's fields inlined), as results files record them."""
        out = {k: v for k, v in dataclasses.asdict(self).items() if k != "strategy"}
        out.update({k: getattr(self.strategy, k) for k in _STRATEGY_FIELDS})
        return out

    def identity(self) -> dict[str, Any]:
        """The fields that define a run's random stream (all but the generation budget), for checkpoints.

        Fields added after the first release are left out while at their defaults, so checkpoints
        written before they existed still resume.
        """
        return {k: v for k, v in self.flat().items() if k != "generations" and _LATER_DEFAULTS.get(k, object()) != v}


def apply_overrides(config: RunConfig, assignments: list[str]) -> RunConfig:
    """``["eps=0.5", "antithetic=false"]`` → a config with those fields replaced (types checked).

    Fields of the strategy (``eps``, ``num_genes``, ...) and of the run are named alike.
    """
    current_values = config.flat()
    fields = set(current_values) - {"name"}
    changes: dict[str, Any] = {}
    for item in assignments:
        name, sep, raw = item.partition("=")
        if not sep or name not in fields:
            raise ConfigError(f"expected FIELD=VALUE with FIELD one of {sorted(fields)}, got {item!r}")
        current = current_values[name]
        if name in ("eps", "fixation") and raw.lower() != "none":
            changes[name] = parse_schedule(name, raw)
            continue
        if name == "optimizer":
            changes[name] = None if raw.lower() == "none" else raw
            continue
        if isinstance(current, bool):
            if raw.lower() not in ("true", "false"):
                raise ConfigError(f"{name} expects true or false, got {raw!r}")
            changes[name] = raw.lower() == "true"
        elif raw.lower() == "none" and not isinstance(current, str):  # fitness_shaping=none is the string
            changes[name] = None
        elif isinstance(current, tuple):
            changes[name] = tuple(_convert(name, v, float, "numbers separated by commas") for v in raw.split(","))
        elif isinstance(current, int) or name in ("k_cap", "num_outputs"):
            changes[name] = _convert(name, raw, int, "an int")
        elif isinstance(current, float) or current is None:
            changes[name] = _convert(name, raw, float, "a number")
        else:
            changes[name] = raw
    return with_fields(config, **changes)


def _convert(name: str, raw: str, kind: type, what: str) -> Any:
    try:
        return kind(raw)
    except ValueError:
        raise ConfigError(f"{name} expects {what}, got {raw!r}") from None


_SCHEDULES = {"cosine": (CosineDecay, "cosine:INIT:END:STEPS", (float, float, int)),
              "ramp": (LinearRamp, "ramp:INIT:END:START:STOP", (float, float, int, int))}


def parse_schedule(name: str, raw: str) -> float | CosineDecay | LinearRamp:
    """A number, or a schedule: ``"cosine:INIT:END:STEPS"`` → :class:`~nne_jax.schedules.CosineDecay`,
    ``"ramp:INIT:END:START:STOP"`` → :class:`~nne_jax.schedules.LinearRamp`; ``name`` is the field (for errors)."""
    forms = " or ".join(["a number"] + [form for _, form, _ in _SCHEDULES.values()])
    kind, sep, rest = raw.partition(":")
    if sep and kind in _SCHEDULES:
        cls, form, types = _SCHEDULES[kind]
        parts = rest.split(":")
        if len(parts) != len(types):
            raise ConfigError(f"{name} expects {form}, got {raw!r}")
        try:
            return cls(*(t(v) for t, v in zip(types, parts)))
        except ValueError as err:
            raise ConfigError(f"{name}: {err}") from err
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name} expects {forms}, got {raw!r}") from None


def with_fields(config: RunConfig, **changes: Any) -> RunConfig:
    """``dataclasses.replace`` that also accepts the strategy's fields (routed into ``config.strategy``)."""
    strategy_changes = {k: changes.pop(k) for k in list(changes) if k in _STRATEGY_FIELDS}
    _check_strategy_types(strategy_changes)  # before NNE sees them, so a bad type is named, not obscure
    for k in ("eps", "p_min", "p_max", "fixation"):  # JSON's 2 and 2.0 are one run (one checkpoint identity)
        if _is_int(strategy_changes.get(k)):
            strategy_changes[k] = float(strategy_changes[k])
    strategy = dataclasses.replace(config.strategy, **strategy_changes) if strategy_changes else config.strategy
    return dataclasses.replace(config, strategy=strategy, **changes)


PRESETS: dict[str, RunConfig] = {
    "faithful": RunConfig("faithful", NNE(num_genes=2000, pop_size=1000, eps=20.0), generations=3000, batch_size=100, eval_every=100,
                          num_outputs=10),
    "fast": RunConfig(
        "fast", NNE(num_genes=4000, pop_size=1000, eps=2.0, update_rule="multiplicative_weights", fitness_shaping="standardize",
                    antithetic=True, p_min=0.02, p_max=0.98),
        generations=600, batch_size=100, eval_every=25, fitness="neg_cross_entropy", num_outputs=10,
    ),
    # ours (issue #17): 4x the genes at a quarter of β (same cost of W x as fast), logits scaled by 1/30,
    # ε cosine-decayed 4 -> 0.5, allele fixation at 0.05 (fixed genes leave the computation)
    "wide": RunConfig(
        "wide", NNE(num_genes=16000, pop_size=1000, eps=CosineDecay(4.0, 0.5, 500), update_rule="multiplicative_weights",
                    fitness_shaping="standardize", antithetic=True, p_min=0.02, p_max=0.98, fixation=0.05),
        generations=500, batch_size=100, eval_every=25, fitness="neg_cross_entropy", num_outputs=10, beta=0.000625,
        logit_scale=1 / 30,
    ),
    # the first fast preset (still the paper's δ fitness): the base of most ablations
    "fast-delta": RunConfig(
        "fast-delta", NNE(num_genes=2000, pop_size=1000, eps=1.0, update_rule="multiplicative_weights", fitness_shaping="standardize",
                          antithetic=True, p_min=0.02, p_max=0.98),
        generations=500, batch_size=100, eval_every=25,
    ),
    "smoke": RunConfig(
        "smoke", NNE(num_genes=500, pop_size=100, eps=1.0, update_rule="multiplicative_weights", fitness_shaping="standardize",
                     antithetic=True, p_min=0.02, p_max=0.98),
        generations=30, batch_size=100, eval_every=10, per_class=20, signsgd_steps=50, signsgd_lrs=(1e-2,),
    ),
}

# ours (issue #17): wide, with fixation off until generation 250 and then ramped 0 -> 0.3 by 500
PRESETS["wide-ramp"] = with_fields(PRESETS["wide"], name="wide-ramp", fixation=LinearRamp(0.0, 0.3, 250, 500))

# ours (issue #17): wide-ramp run longer — 700 generations, ε cosine-decayed 4 -> 0.5 over all 700, fixation
# off until 250 and ramped 0 -> 0.3 by 600 (the wide-ramp curves were still rising at 500)
PRESETS["wide-long"] = with_fields(
    PRESETS["wide-ramp"], name="wide-long", generations=700, eps=CosineDecay(4.0, 0.5, 700), fixation=LinearRamp(0.0, 0.3, 250, 600)
)

# ours (issue #17): wide-ramp with Adam on the logit step; ε is then a step in logit units
PRESETS["wide-adam"] = with_fields(PRESETS["wide-ramp"], name="wide-adam", optimizer="adam", eps=CosineDecay(0.25, 0.02, 500),
                                   eval_every=10)

# ours (issue #17): wide-adam for 1000 generations — ε cosine-decayed 0.25 -> 0.02 over all 1000, fixation off until
# generation 500 and ramped 0 -> 0.3 by 1000
PRESETS["wide-adam-long"] = with_fields(PRESETS["wide-adam"], name="wide-adam-long", generations=1000,
                                        eps=CosineDecay(0.25, 0.02, 1000), fixation=LinearRamp(0.0, 0.3, 500, 1000))

# ours (issue #17): wide-adam on minibatch images shifted by up to 1 pixel (the same 2000 training images)
PRESETS["wide-adam-shift"] = with_fields(PRESETS["wide-adam"], name="wide-adam-shift", augment_shift=1)
