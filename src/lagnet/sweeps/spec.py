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
the base config and validated, so an unknown field, an empty grid, a value listed twice, a
swept ``seed`` (``seeds`` sweeps it), a distribution a field cannot take, fewer distinct
``[random]`` points than ``trials`` or an unknown metric is one line naming it, before a single
point runs. ``sets = ["a.b=value", ...]`` are ``--set`` values applied to the base (a sweep
folder's ``spec.toml`` keeps the ``--set`` values of the command that made it there).
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
# The sweep.csv columns a metric may name: the numbers of a run's metrics.json "test" section
# (lagnet.evaluation.evaluate; reachable_share where the optimum is known), the memoryless
# baseline's R², the best validation MSE and R² (lagnet.sweeps.units.row_of).
METRICS = (
    *(f"test.{m}" for m in ("mse", "rmse", "nrmse", "r2", "memory_r2", "reachable_share")),
    *(f"test.{m}" for m in ("memoryless_r2", "nonfinite_paths", "paths", "length")),
    "val.mse",  # the best validation MSE: a choice that leaves the test paths alone
    "val.r2",  # and its R², each output's error as a share of its variance (several outputs)
)


class SweepSpec(Settings):
    base: Optional[Union[str, dict]] = None
    task: Optional[str] = None
    grid: dict[str, list] = Field(default_factory=dict)
    random: dict[str, dict] = Field(default_factory=dict)
    trials: int = Field(0, strict=True)  # "4" is refused, as seeds = "three" is
    seeds: Union[int, list[int]] = 1
    search: Optional[Literal["grid", "random", "tpe"]] = None
    metric: str = "test.mse"
    direction: Optional[Literal["minimize", "maximize"]] = None
    sample_seed: int = Field(0, ge=0)
    sets: list[str] = Field(default_factory=list)

    @field_validator("trials")
    @classmethod
    def _trials(cls, v: int) -> int:
        if v < 0:  # not "should be >= 0": 0 is refused too, where [random] needs trials
            raise ValueError("must be a number of trials >= 1")
        return v

    @field_validator("seeds", mode="before")
    @classmethod
    def _seeds(cls, v: Any) -> Any:
        def whole(s: Any) -> bool:
            return isinstance(s, int) and not isinstance(s, bool)

        if not (whole(v) or (isinstance(v, list) and all(whole(s) for s in v))):
            raise ValueError("must be a count of seeds or a list of whole-number seeds")
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
    text = _key(values)
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


def _dotted(table: dict, prefix: str = "", always: bool = False) -> dict:
    out = {}
    for k, v in table.items():
        name = f"{prefix}{k}"
        if isinstance(v, dict) and (always or name not in ("process", "target.params")):
            out.update(_dotted(v, name + ".", always))
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
        _not_seed("grid", name, values)
        if not isinstance(values, list) or not values:
            raise LagnetError(f"grid.{name}", values, "must be a non-empty list of values")
        for i, v in enumerate(values):
            _check_value(base, name, v, "grid")
            if any(_same(v, w) for w in values[:i]):
                raise LagnetError(f"grid.{name}", v, "is listed twice: give each value once")
    overlap = set(spec.grid) & set(spec.random)
    if overlap:
        raise LagnetError("random", sorted(overlap)[0], "is also in [grid]; sweep it in one")
    rng = np.random.default_rng(spec.sample_seed)
    for name, dist in spec.random.items():
        _not_seed("random", name, dist)
        check_distribution(name, dist)
        ((kind, arg),) = dist.items()
        probes = arg if kind == "choice" else [*arg, draw(dist, rng)]
        for v in probes:
            _check_value(base, name, v, "random")
    if spec.random and spec.trials < 1:
        raise LagnetError("trials", spec.trials, "[random] needs trials = N (N >= 1)")
    if spec.mode == "tpe" and not spec.random:
        raise LagnetError("search", "tpe", "searches the [random] fields: add some")
    size = space_size(spec.random)
    if spec.mode in ("random", "tpe") and spec.random and size < spec.trials:
        raise LagnetError(
            "trials", spec.trials, f"the [random] fields have only {size} distinct points: "
            f"ask for at most {size} trials, or sweep them in [grid]"
        )  # fmt: skip
    if spec.metric not in METRICS:
        raise LagnetError("metric", spec.metric, f"must be one of {', '.join(METRICS)}")


def _not_seed(where: str, name: str, values: Any) -> None:
    if name == "seed":  # every point's seed is one of seeds: a swept seed would be overwritten
        raise LagnetError(f"{where}.seed", values, "sweep the seed with seeds = [...] instead")


def _key(v: Any) -> str:
    """A value as a point's id sees it: equal keys, equal ids."""
    return json.dumps(v, sort_keys=True, default=str)


def _same(a: Any, b: Any) -> bool:
    return _key(a) == _key(b) or (_is_num(a) and _is_num(b) and a == b)  # 1 and 1.0 too


def space_size(random: dict[str, dict]) -> float:
    """How many distinct points the ``[random]`` fields have (inf for a continuous one)."""
    size = 1
    for dist in random.values():
        ((kind, arg),) = dist.items()
        if kind == "choice":
            size *= len({_key(v) for v in arg})
        elif kind == "int_uniform":
            size *= arg[1] - arg[0] + 1
        else:
            return math.inf
    return size


def grid_values(spec: SweepSpec) -> list[dict]:
    names = list(spec.grid)
    return [dict(zip(names, combo)) for combo in itertools.product(*spec.grid.values())] or [{}]


def random_values(spec: SweepSpec) -> list[dict]:
    """``trials`` distinct draws (a draw equal to an earlier one is drawn again): the first N
    of them do not change when ``trials`` grows."""
    rng = np.random.default_rng(spec.sample_seed)
    drawn: dict[str, dict] = {}
    limit = 1000 + 100 * spec.trials
    for _ in range(limit):
        if len(drawn) == spec.trials:
            break
        values = {k: draw(d, rng) for k, d in spec.random.items()}
        drawn.setdefault(_key(values), values)
    if len(drawn) < spec.trials:
        raise LagnetError(
            "trials", spec.trials, f"only {len(drawn)} distinct points in {limit} draws"
        )
    return list(drawn.values())


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


def effective(source: str | Path | dict, sets: Sequence[str] = ()) -> tuple[SweepSpec, RunConfig]:
    """The spec and its base config, with the spec's ``sets`` and then ``sets`` applied."""
    spec, root = load_spec(source)
    return spec, merge(base_config(spec, root), None, [*spec.sets, *sets])[0]


def load(
    source: str | Path | dict, sets: Sequence[str] = ()
) -> tuple[SweepSpec, RunConfig, list[Point]]:
    """Spec, base config (with ``sets``, ``a.b=value``, applied to it) and points; raises
    :class:`LagnetError` on the first bad thing."""
    spec, base = effective(source, sets)
    validate(spec, base)
    return spec, base, ([] if spec.mode == "tpe" else expand(spec, base))


def as_stored(source: str | Path | dict, sets: Sequence[str] = ()) -> dict:
    """The spec as a sweep folder keeps it: as given, with ``sets`` added to its own and a base
    file by its full path, so it reads back the same from anywhere."""
    spec, root = load_spec(source)
    data = dict(source) if isinstance(source, dict) else spec.model_dump(exclude_none=True)
    if isinstance(spec.base, str):
        data["base"] = str(root / spec.base)  # an absolute path stays as it is
    data["sets"] = [*spec.sets, *sets]
    if not data["sets"]:
        del data["sets"]
    return data


def sweep_fields(spec: SweepSpec, base: RunConfig) -> dict[str, Any]:
    """What decides a sweep's points and their scores, by name (``trials`` aside: more trials
    go on with the same first draws): two specs with equal fields make the same sweep."""
    fields: dict[str, Any] = dict(
        seeds=spec.seed_list, search=spec.mode, metric=spec.metric,
        direction="maximize" if spec.maximize else "minimize", sample_seed=spec.sample_seed,
    )  # fmt: skip
    fields.update({f"grid.{k}": sorted(v, key=_key) for k, v in spec.grid.items()})
    fields.update({f"random.{k}": d for k, d in spec.random.items()})
    fields["random"] = list(spec.random)  # the order the fields are drawn in
    fields.update(_dotted(base.model_dump(mode="json"), always=True))
    return fields
