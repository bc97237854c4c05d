"""A sweep's spec: a base config and what varies, checked whole before anything runs.

```toml
seeds = [0, 1]            # or a count: seeds = 3 -> 0, 1, 2
metric = "test.memory_r2" # what "best" means (default test.mse) ...
direction = "maximize"    # ... and which way (default: minimize, maximize for r2-like names)
[base.process]            # or: base = "examples/ar1.toml", or: task = "narma10"
kind = "arma"
ar = [0.3]
[base.target]
formula = "x[t-1]*x[t]"
[grid]                    # every combination of these
"model.hidden" = [8, 16]
[random]                  # trials = N draws of these (search = "random", or "tpe": Optuna)
"train.lr" = {log_uniform = [1e-4, 1e-2]}
```

Every swept field is a dotted config field (``--set`` names); each of its values is applied to
the base config and validated, so an unknown field, an empty grid, or a distribution a field
cannot take is one line naming it, before a single point runs.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional, Union

import numpy as np
from pydantic import Field, ValidationError, field_validator

from lagnet.config import RunConfig, merge, read_toml
from lagnet.errors import LagnetError
from lagnet.registry import task_config
from lagnet.settings import Settings, first_error

DISTRIBUTIONS = ("uniform", "log_uniform", "int_uniform", "choice")
MAXIMIZE = ("r2", "memory_r2", "reachable_share")


class SweepSpec(Settings):
    base: Optional[Union[str, dict]] = None
    task: Optional[str] = None
    grid: dict[str, list] = Field(default_factory=dict)
    random: dict[str, dict] = Field(default_factory=dict)
    trials: int = Field(0, ge=0)
    seeds: Union[int, list[int]] = 1
    search: Optional[Literal["grid", "random", "tpe"]] = None
    metric: str = "test.mse"
    direction: Optional[Literal["minimize", "maximize"]] = None
    sample_seed: int = Field(0, ge=0)

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, v: Any) -> Any:
        if isinstance(v, int) and v < 1:
            raise ValueError("must be a positive count or a list of seeds")
        if isinstance(v, list) and (not v or any(s < 0 for s in v) or len(set(v)) != len(v)):
            raise ValueError("must be a non-empty list of distinct seeds >= 0")
        return v

    @property
    def seed_list(self) -> list[int]:
        return list(range(self.seeds)) if isinstance(self.seeds, int) else list(self.seeds)

    @property
    def mode(self) -> str:
        return self.search or ("random" if self.random else "grid")

    @property
    def maximize(self) -> bool:
        if self.direction is not None:
            return self.direction == "maximize"
        return self.metric.split(".")[-1] in MAXIMIZE


@dataclass(frozen=True)
class Point:
    """One configuration at one seed. ``values``: swept field -> value; ``id``: stable, from
    the values and seed, so a resumed sweep finds its points again."""

    values: dict
    seed: int
    config: RunConfig = field(compare=False, repr=False)

    @property
    def id(self) -> str:
        return point_id(self.values, self.seed)

    @property
    def label(self) -> str:
        return ", ".join(f"{k}={_short(v)}" for k, v in self.values.items()) or "base"


def point_id(values: dict, seed: int) -> str:
    text = json.dumps(values, sort_keys=True, default=str)
    digest = hashlib.sha1(text.encode()).hexdigest()[:8]
    return f"p{digest}-s{seed}"


def _short(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def load_spec(source: str | Path | dict) -> tuple[SweepSpec, Path]:
    """A spec from a TOML file (or a dict) and the folder its relative paths are read from."""
    root = Path.cwd()
    data = dict(source) if isinstance(source, dict) else read_toml(source, "spec")
    try:
        spec = SweepSpec.model_validate(data)
    except ValidationError as e:
        raise first_error(e) from None
    return spec, root


def base_config(spec: SweepSpec, root: Path) -> RunConfig:
    """The config every point starts from: a config file, a named task, or inline sections."""
    if spec.task is not None and spec.base is not None and not isinstance(spec.base, dict):
        raise LagnetError("task", spec.task, "give base or task, not both")
    cfg = task_config(spec.task) if spec.task is not None else None
    if isinstance(spec.base, str):
        path = Path(spec.base)
        cfg = merge(path if path.is_absolute() else root / path)[0]
    elif isinstance(spec.base, dict):
        cfg = merge(cfg, _dotted(spec.base))[0]
    return cfg if cfg is not None else merge()[0]


def _dotted(table: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in table.items():
        name = f"{prefix}{k}"
        if isinstance(v, dict) and name not in ("process", "target.params"):
            out.update(_dotted(v, name + "."))
        else:
            out[name] = v
    return out


def _apply(base: RunConfig, values: dict, seed: int) -> RunConfig:
    return merge(base, {**values, "seed": seed})[0]


def _check_value(base: RunConfig, name: str, value: Any, where: str) -> None:
    try:
        merge(base, {name: value})
    except LagnetError as e:
        raise LagnetError(f"{where}.{name}", value, e.reason) from None


def draw(dist: dict, rng: np.random.Generator) -> Any:
    ((kind, arg),) = dist.items()
    if kind == "choice":
        return arg[int(rng.integers(len(arg)))]
    lo, hi = arg
    if kind == "uniform":
        return float(rng.uniform(lo, hi))
    if kind == "log_uniform":
        return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))
    return int(rng.integers(lo, hi + 1))  # int_uniform, both ends included


def check_distribution(name: str, dist: Any) -> None:
    where = f"random.{name}"
    if not isinstance(dist, dict) or len(dist) != 1 or next(iter(dist)) not in DISTRIBUTIONS:
        raise LagnetError(where, dist, f"must be one of {{{' | '.join(DISTRIBUTIONS)} = ...}}")
    ((kind, arg),) = dist.items()
    if kind == "choice":
        if not isinstance(arg, list) or not arg:
            raise LagnetError(where, dist, "choice takes a non-empty list of values")
        return
    if not (isinstance(arg, list) and len(arg) == 2 and all(_is_num(a) for a in arg)):
        raise LagnetError(where, dist, f"{kind} takes [low, high]")
    lo, hi = arg
    if not lo < hi:
        raise LagnetError(where, dist, "needs low < high")
    if kind == "log_uniform" and lo <= 0:
        raise LagnetError(where, dist, "log_uniform needs low > 0")
    if kind == "int_uniform" and not all(isinstance(a, int) for a in arg):
        raise LagnetError(where, dist, "int_uniform takes integers")


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def validate(spec: SweepSpec, base: RunConfig) -> None:
    """Check every swept value against the base config (one line for the first bad one)."""
    if not spec.grid and not spec.random and len(spec.seed_list) < 2:
        raise LagnetError("grid", {}, "nothing varies: add [grid], [random] or several seeds")
    for name, values in spec.grid.items():
        if not isinstance(values, list) or not values:
            raise LagnetError(f"grid.{name}", values, "must be a non-empty list of values")
        for v in values:
            _check_value(base, name, v, "grid")
    overlap = set(spec.grid) & set(spec.random)
    if overlap:
        raise LagnetError("random", sorted(overlap)[0], "is also in [grid]; sweep it in one")
    rng = np.random.default_rng(spec.sample_seed)
    for name, dist in spec.random.items():
        check_distribution(name, dist)
        ((kind, arg),) = dist.items()
        probes = arg if kind == "choice" else [*arg, draw(dist, rng)]
        for v in probes:
            _check_value(base, name, v, "random")
    if spec.random and spec.trials < 1:
        raise LagnetError("trials", spec.trials, "[random] needs trials = N (N >= 1)")
    if spec.mode == "tpe" and not spec.random:
        raise LagnetError("search", "tpe", "searches the [random] fields: add some")
    if not spec.metric.startswith("test."):
        raise LagnetError("metric", spec.metric, "must name a test metric, e.g. test.mse")


def grid_values(spec: SweepSpec) -> list[dict]:
    names = list(spec.grid)
    return [dict(zip(names, combo)) for combo in itertools.product(*spec.grid.values())] or [{}]


def random_values(spec: SweepSpec) -> list[dict]:
    rng = np.random.default_rng(spec.sample_seed)
    return [{k: draw(d, rng) for k, d in spec.random.items()} for _ in range(spec.trials)]


def expand(spec: SweepSpec, base: RunConfig) -> list[Point]:
    """Every point of a grid or random sweep (tpe proposes its points as it goes)."""
    combos = grid_values(spec)
    if spec.mode == "random":
        combos = [{**g, **r} for g in combos for r in random_values(spec)]
    return [
        Point(values=v, seed=s, config=_apply(base, v, s)) for v in combos for s in spec.seed_list
    ]


def point(base: RunConfig, values: dict, seed: int) -> Point:
    return Point(values=values, seed=seed, config=_apply(base, values, seed))


def load(
    source: str | Path | dict, sets: Sequence[str] = ()
) -> tuple[SweepSpec, RunConfig, list[Point]]:
    """Spec, base config (with ``sets``, ``a.b=value``, applied to it) and points; raises
    :class:`LagnetError` on the first bad thing."""
    spec, root = load_spec(source)
    base = merge(base_config(spec, root), None, sets)[0]
    validate(spec, base)
    return spec, base, ([] if spec.mode == "tpe" else expand(spec, base))
