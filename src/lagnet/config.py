"""Frozen, validated configs — one per component — and their TOML form.

A run's config nests them: ``RunConfig(process=…, target=…, model=…, train=…, eval=…)``. A
process's and a model family's config live beside it (``lagnet/processes/``, ``lagnet/models/``)
and are chosen by ``kind``. TOML files, CLI flags and ``--set a.b=value``, and Python keyword
arguments all meet in :func:`merge`, so one set of checks guards every entry point. Every
failure is a :class:`LagnetError` naming the dotted field and the value.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal, Optional, Union

import tomli_w
from pydantic import (
    Field,
    PrivateAttr,
    SerializeAsAny,
    ValidationError,
    field_validator,
    model_serializer,
)

from lagnet import budget
from lagnet.errors import LagnetError
from lagnet.models.family import ModelConfig, model_config, switch_kind
from lagnet.processes.arma import ARMAConfig
from lagnet.processes.family import ProcessConfig, process_config
from lagnet.processes.spec import parse_process_spec
from lagnet.settings import Settings, first_error
from lagnet.targets_vocab import check_params

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


# ----------------------------------------------------------------------------- seeds
SEEDS = 2**32  # JAX's PRNGKey takes 32 bits: a larger seed wrapped onto a smaller one's run


def check_seed(value: Any, field: str = "seed") -> Any:
    """A seed in [0, 2**32) as given (pydantic then makes it an int); anything else is one
    line naming ``field``. The one range every seed input shares: a config's, every command's
    ``--seed``, the Python API's."""
    number = value
    if isinstance(value, str):  # "7" from a TOML string or a form: read as a whole number
        try:
            number = int(value.strip())
        except ValueError:
            return value  # pydantic's own words for it
    if isinstance(number, bool):
        raise LagnetError(field, value, "must be a whole number in [0, 2**32)")
    if isinstance(number, float) and number.is_integer():
        number = int(number)
    if isinstance(number, int) and not 0 <= number < SEEDS:
        raise LagnetError(field, value, "must be in [0, 2**32)")
    return value


# ----------------------------------------------------------------------------- target
class TargetConfig(Settings):
    """The function to learn, as a formula over named series (``x[t]**2 + 0.1*x[t-1]**2``) or
    a list of formulas, one output each; ``init`` is a recursive target's value before t = 0
    (``y[t] = 0.5*y[t-1] + x[t]``); ``inputs`` are the series the model sees as its input
    channels (None: ``x``, or the process's only observed series); ``params`` are constants
    the formulas name (``x[t]**2 + w*x[t-1]**2`` with ``params = {w = 0.1}``), arguments of
    the compiled step rather than numbers baked into it. The formula language is described
    in :mod:`lagnet.targets`."""

    formula: Union[str, tuple[str, ...]] = "x[t]**2 + 0.1*x[t-1]**2"
    init: float = 0.0
    inputs: Optional[tuple[str, ...]] = None
    params: dict[str, float] = Field(default_factory=dict)

    @field_validator("inputs", mode="before")
    @classmethod
    def _inputs(cls, v: Any) -> Any:
        # One name, or names separated by commas as --inputs takes them, is a list of one
        # (or several); a series named twice would be two input channels of one series.
        if isinstance(v, str):
            v = [name.strip() for name in v.split(",")]
        if isinstance(v, (list, tuple)):
            if not all(isinstance(name, str) and name.strip() for name in v):
                raise ValueError("must be names of series (non-empty strings)")
            twice = sorted({name for name in v if list(v).count(name) > 1})
            if twice:
                raise ValueError(f"names {twice[0]} twice; name each series once")
        return v

    @field_validator("params", mode="before")
    @classmethod
    def _params(cls, v: Any) -> Any:
        # Names and values are checked here, with the formula compiler's rules; whether the
        # formulas read them, and whether a name is a series, when the task is built.
        if not isinstance(v, dict):
            raise LagnetError("target.params", v, "must be a table of names and numbers")
        return check_params(v)

    @model_serializer(mode="wrap")
    def _dump(self, handler: Any) -> Any:
        # No empty [target.params] table in every config.toml: absent means none.
        data = handler(self)
        if isinstance(data, dict) and not data.get("params", True):
            del data["params"]
        return data

    @field_validator("formula", mode="before")
    @classmethod
    def _string_or_list(cls, v: Any) -> Any:
        # Checked before pydantic tries each member of the union, so that a bad value gets
        # one message on ``target.formula`` instead of one per member.
        if isinstance(v, str):
            return v
        if not (isinstance(v, (list, tuple)) and v and all(isinstance(f, str) for f in v)):
            raise ValueError("must be a formula or a non-empty list of formulas (strings)")
        return tuple(v)


# ----------------------------------------------------------------------------- training
class TrainConfig(Settings):
    """The gradient loop. ``steps`` is the most it will take; ``max_seconds`` a wall-clock
    budget (the learning-rate schedule is fitted to whichever ends first); ``fixed_paths``
    trains on one fixed data set of that many paths instead of fresh paths every step;
    ``checkpoint_seconds``: how often a run with a directory saves what it needs to resume
    (and always when interrupted)."""

    steps: int = Field(4000, gt=0)
    batch: int = Field(128, gt=0)
    length: int = Field(101, gt=1)
    lr: float = Field(5e-3, gt=0)
    end_lr_factor: float = Field(0.01, ge=0, le=1)
    warmup: int = Field(100, ge=0)
    weight_decay: float = Field(0.0, ge=0)
    clip: float = Field(1.0, gt=0)
    max_seconds: Optional[float] = Field(None, gt=0)
    val_every: int = Field(100, gt=0)
    val_paths: int = Field(512, gt=0)
    patience: Optional[int] = Field(None, gt=0)
    fixed_paths: Optional[int] = Field(None, gt=0)
    pilot_paths: int = Field(1000, gt=0)
    checkpoint_seconds: Optional[float] = Field(60.0, gt=0)


class EvalConfig(Settings):
    """The held-out test: a fixed, seeded set of paths, independent of the run's seed, so
    runs with different seeds are compared on the same paths."""

    seed: int = Field(20_231_130)
    test_paths: int = Field(1000, gt=0)
    long_factor: int = Field(10, gt=1)
    long_paths: int = Field(200, gt=0)
    baseline_paths: int = Field(4000, gt=0)
    linear_lags: Optional[int] = Field(None, gt=0)

    @field_validator("seed", mode="before")
    @classmethod
    def _seed(cls, v: Any) -> Any:
        return check_seed(v, "eval.seed")


class RunConfig(Settings):
    _budget_picked: frozenset = PrivateAttr(default=frozenset())  # set by merge
    name: str = "run"

    def __eq__(self, other: object) -> bool:
        """The settings alike (what the budget table picked is no setting: a config read back
        from its config.toml equals the one written)."""
        if not isinstance(other, RunConfig):
            return NotImplemented
        return type(self) is type(other) and self.__dict__ == other.__dict__

    __hash__ = None  # type: ignore[assignment]  # mutable, as pydantic's models are
    seed: int = 0
    device: Literal["auto", "cpu", "gpu"] = "auto"
    process: SerializeAsAny[ProcessConfig] = ARMAConfig(ar=(0.1,))
    target: TargetConfig = TargetConfig()
    model: SerializeAsAny[ModelConfig] = Field(default_factory=lambda: model_config())
    train: TrainConfig = TrainConfig()
    eval: EvalConfig = EvalConfig()

    @field_validator("seed", mode="before")
    @classmethod
    def _seed(cls, v: Any) -> Any:
        return check_seed(v)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        # The name is a folder's name under runs/ (runs/<name>-<date>): a separator would
        # nest folders, and ``..`` write outside runs/.
        if not v.strip():
            raise ValueError("must not be empty: it names the run's folder under runs/")
        if "/" in v or "\\" in v or v.strip() in (".", ".."):
            raise ValueError("must be a plain folder name: no / or \\, not . or ..")
        if not v.isprintable():
            raise ValueError("must be a plain folder name: no line breaks or control characters")
        return v

    @field_validator("process", mode="before")
    @classmethod
    def _process(cls, v: Any) -> Any:
        return parse_process_spec(v) if isinstance(v, str) else process_config(v)

    @field_validator("model", mode="before")
    @classmethod
    def _model(cls, v: Any) -> Any:
        return model_config(v)

    @field_validator("target", mode="before")
    @classmethod
    def _target(cls, v: Any) -> Any:
        # target = "x[t]**2" as process = "ar1(rho=0.1)" is taken: the formula, alone
        return {"formula": v} if isinstance(v, (str, list, tuple)) else v


# ----------------------------------------------------------------------------- building
def make_config(data: dict | None = None, **overrides: Any) -> RunConfig:
    """Build a validated :class:`RunConfig` from a nested dict; bad input → LagnetError."""
    data = dict(data or {})
    data.update(overrides)
    try:
        return RunConfig.model_validate(data)
    except ValidationError as err:
        raise first_error(err) from None


def read_toml(path: str | Path, field: str = "config") -> dict:
    """A TOML file's table; a missing file or bad TOML is one line naming ``field``."""
    path = Path(path)
    if path.is_dir():
        raise LagnetError(field, str(path), "is a folder, not a TOML file")
    if not path.is_file():
        raise LagnetError(field, str(path), "no such file")
    try:
        text = path.read_bytes().decode("utf-8-sig")  # a BOM is no error
    except UnicodeDecodeError:
        raise LagnetError(field, str(path), "not UTF-8 text") from None
    except OSError as err:
        raise LagnetError(field, str(path), f"cannot read it ({err.strerror or err})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise LagnetError(field, str(path), f"not valid TOML ({err})") from None


# keys of a sweep spec (lagnet.sweeps.spec.SweepSpec) that no run config has
SWEEP_KEYS = ("base", "grid", "random", "trials", "seeds", "search", "metric", "direction")
SWEEP_KEYS += ("sample_seed", "sets")


def load_config(path: str | Path) -> RunConfig:
    data = read_toml(path)
    try:
        return make_config(data)
    except LagnetError as e:
        if not any(k in data for k in SWEEP_KEYS):
            raise
        hint = "; this looks like a sweep spec: run it with lagnet sweep"
        raise LagnetError(e.field, e.value, e.reason + hint) from None


def _drop_none(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _drop_none(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, (list, tuple)):
        return [_drop_none(v) for v in obj]
    return obj


def config_to_toml(cfg: RunConfig) -> str:
    """The fully resolved config as TOML (unset optional fields are left out)."""
    return tomli_w.dumps(_drop_none(cfg.model_dump(mode="python")))


def parse_value(text: str) -> Any:
    """A CLI value as TOML would read it (``3``, ``1e-3``, ``[20]``, ``true``, ``"gru"``);
    anything TOML cannot read is taken as a plain string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def parse_sets(assignments: Iterable[str]) -> list[tuple[str, Any]]:
    """``a.b=value`` strings as (dotted field, value) pairs, values read as TOML would."""
    pairs = []
    for item in assignments:
        key, eq, text = item.partition("=")
        parts = [p.strip() for p in key.strip().split(".")]
        if not eq or not all(parts):
            raise LagnetError("--set", item, "expected a.b=value")
        pairs.append((".".join(parts), parse_value(text.strip())))
    return pairs


def _assign(data: dict, dotted: str, value: Any) -> None:
    """Set ``data[a][b] = value`` for ``dotted`` = ``a.b``, making sections on the way."""
    node = data
    *parents, leaf = dotted.split(".")
    for p in parents:
        child = node.get(p)
        if isinstance(child, str) and p == "process":
            child = parse_process_spec(child).model_dump()
        if child is None:
            child = {}
        if isinstance(child, Settings):
            child = child.model_dump()
        if not isinstance(child, dict):
            raise LagnetError(dotted, value, f"{p} is not a section")
        node[p] = child = dict(child)
        node = child
    node[leaf] = value


def merge(
    base: RunConfig | dict | str | Path | None = None,
    values: dict[str, Any] | None = None,
    sets: Iterable[str] = (),
) -> tuple[RunConfig, list[str]]:
    """The one way settings are combined: a base (a config, its dict, a TOML file, or the
    defaults), then ``values`` (dotted field → value; None means "not given": CLI flags and
    Python keyword arguments), then ``sets`` (``a.b=value``, the CLI's ``--set``). Returns the
    validated config and notes for the user.

    A new ``model.kind`` is applied first: the model section keeps only the settings the new
    family has, and a note names every dropped setting that was not at its default.

    >>> cfg, notes = merge(values={"model.kind": "window", "model.window": 6})
    >>> cfg.model.window, merge(cfg, {"model.kind": "esn"})[1]
    (6, ['model.kind = esn: dropped model.window = 6 (not a setting of esn)'])
    """
    if isinstance(base, (str, Path)):
        base = load_config(base)
    data = copy.deepcopy(_as_data(base) if isinstance(base, RunConfig) else dict(base or {}))
    pairs = [(k, v) for k, v in (values or {}).items() if v is not None] + parse_sets(sets)
    notes: list[str] = []
    kinds = [v for k, v in pairs if k == "model.kind"]
    if kinds:
        model = data.get("model") or {}
        if isinstance(model, Settings):
            model = model.model_dump()
        kind = kinds[-1]
        if not isinstance(kind, str):
            raise LagnetError("model.kind", kind, "must be a family's name")
        data["model"], dropped = switch_kind(dict(model), kind)
        if dropped:
            notes.append(
                f"model.kind = {kind}: dropped "
                + ", ".join(f"model.{k} = {_shown(v)}" for k, v in dropped.items())
                + (" (not settings of " if len(dropped) > 1 else " (not a setting of ")
                + f"{kind})"
            )
    for dotted, value in pairs:
        if dotted != "model.kind":
            _assign(data, dotted, value)
    cfg = make_config(data)
    # A setting another family has, at its default, is let through by the model's validation
    # (run directories of older versions load so); given here, it was asked for: refused.
    own = type(cfg.model).model_fields
    for dotted, value in pairs:
        section, _, name = dotted.partition(".")
        if section == "model" and name and "." not in name and name not in own:
            raise LagnetError(dotted, value, f"not a setting of {cfg.model.kind}")
    sized, note = budget.pick(cfg)
    if sized:
        for dotted, value in sized.items():
            _assign(data, dotted, value)
        cfg = make_config(data)
        notes.append(note)
    cfg._budget_picked = frozenset(sized)
    return cfg, notes


def _as_data(cfg: RunConfig) -> dict:
    """A config as merge's starting dict. Of the model and training sections only the fields
    that were set: the defaults come back on validation, and what the user chose stays apart
    from a default (the budget table sizes only what nobody chose)."""
    data = cfg.model_dump()
    chosen = cfg.model_dump(include={"model", "train"}, exclude_unset=True)
    for dotted in cfg._budget_picked:  # the table's, not the user's: sized again (a sweep's
        section, _, name = dotted.partition(".")  # model.hidden kept the base's batch and lr)
        chosen.get(section, {}).pop(name, None)
    data["train"] = chosen.get("train", {})
    data["model"] = {**chosen.get("model", {}), "kind": cfg.model.kind}
    return data


def _shown(v: Any) -> str:
    return str(list(v)) if isinstance(v, tuple) else str(v)
