"""What a model family declares about itself, and the registry that reads the declarations.

Each module in ``lagnet/models/`` declares its family (or families) once, at the bottom:

    FAMILIES.register(Family(kind="tcn", config=TCNConfig, summary="…", build=_build, …))

and everything else — config validation, the CLI's help, ``bench``'s model list, the checkpoint
loader, the doctor, the contract test suite — reads that declaration. Adding a family is one new
file. Legend: N paths, L time steps, C channels, H hidden units, O outputs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Optional

import jax
import numpy as np
from pydantic import Field, field_validator

from lagnet.settings import Registry, Settings, validate_member

Activation = Literal["silu", "relu", "tanh", "gelu", "identity"]


class ModelConfig(Settings):
    """The base of every family's config: its ``kind`` and whether inputs and targets are
    normalised with scalings fitted on a pilot sample and stored inside the model."""

    kind: str
    normalize: bool = True


class NetConfig(ModelConfig):
    """What the gradient-trained families share: ``hidden`` width, ``layers`` (None = the
    family's default, ``DEFAULT_LAYERS``), ``head`` (MLP widths after the encoder; [] = linear
    read-out), ``head_activation``, and ``skip`` (feed the current input to the head beside the
    encoder output)."""

    DEFAULT_LAYERS: ClassVar[int] = 1
    hidden: int = Field(32, gt=0)
    layers: Optional[int] = Field(None, gt=0)
    head: tuple[int, ...] = (64,)
    head_activation: Activation = "silu"
    skip: bool = True

    @property
    def num_layers(self) -> int:
        """``layers``, or the family's default when unset."""
        return self.layers if self.layers is not None else self.DEFAULT_LAYERS

    @field_validator("head")
    @classmethod
    def _positive_widths(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if any(w <= 0 for w in v):
            raise ValueError("head widths must be positive")
        return v


@dataclass(frozen=True)
class FitData:
    """What a closed-form learner fits on: x (N, L, C) and y (N, L, O) as NumPy arrays
    (normalised unless the family works in raw units), valid (L,), the run's init key, the
    target's largest lag where it is the memory needed (``Task.memory_hint``), the input
    names, how many paths to push through the model at a time, the run's validation
    paths (x, y), scaled as x and y are, for a learner that chooses its own settings, and
    the run's time budget (``train.max_seconds``), which such a search keeps to."""

    x: np.ndarray
    y: np.ndarray
    valid: np.ndarray
    key: jax.Array
    memory_hint: Optional[int]
    inputs: tuple[str, ...]
    batch: int
    val: Optional[tuple[np.ndarray, np.ndarray]] = None
    seconds: Optional[float] = None  # the run's time budget: a search stops within it


@dataclass(frozen=True)
class Family:
    """One model family.

    Exactly one of ``build`` (gradient-trained: ``build(cfg, c_in, c_out, key, max_lag)`` → an
    untrained ``SequenceNet``), ``fit`` (closed form: ``fit(cfg, FitData)`` → (net, details),
    with ``skeleton(cfg, c_in, c_out, structure)`` giving zero weights of the saved shapes to
    load into) or ``candidates`` (a chooser: fit each named family, keep the best on validation).

    ``reach(cfg)``: inputs the model sees at each step (None: unbounded, a recurrence);
    ``widen(cfg, need)``: (the settings that fix the reach now, in words; the remedy's text;
    its overrides) to make the reach ``need``; ``grow(cfg, train)``: the remedy (text,
    overrides) for a model too small or trained too briefly;
    ``recurrent``: a state carries the past through time (gradients can vanish along it);
    ``saturating(cfg)``: that state is bounded (tanh), so a linear head cannot square it;
    ``states(net, x)``: hidden states (N, L, H) of normalised inputs, for the memory probe;
    ``check(cfg, length)``: refuse settings that paths of ``length`` steps cannot hold (a
    washout or window as long as the path), before anything starts;
    ``examples``: configs the contract test suite builds (name → settings, and ``max_lag``
    where the family reads one); ``raw_units``: a closed-form fit on unnormalised data;
    ``in_bench``: one of ``lagnet bench``'s standard families.
    """

    kind: str
    config: type[ModelConfig]
    summary: str
    build: Optional[Callable[..., Any]] = None
    fit: Optional[Callable[[Any, FitData], tuple[Any, dict]]] = None
    skeleton: Optional[Callable[..., Any]] = None
    candidates: tuple[str, ...] = ()
    raw_units: bool = False
    reach: Callable[[Any], Optional[int]] = lambda cfg: None
    widen: Optional[Callable[[Any, int], tuple[str, str, dict]]] = None
    grow: Optional[Callable[[Any, Any], tuple[str, dict]]] = None
    recurrent: bool = False
    saturating: Callable[[Any], bool] = lambda cfg: False
    states: Optional[Callable[[Any, jax.Array], jax.Array]] = None
    check: Callable[[Any, int], None] = lambda cfg, length: None
    examples: dict[str, dict] = field(default_factory=dict)
    in_bench: bool = True

    def __post_init__(self) -> None:
        ways = [self.build is not None, self.fit is not None, bool(self.candidates)]
        if sum(ways) != 1:
            raise ValueError(f"family {self.kind}: give exactly one of build, fit, candidates")
        if self.fit is not None and self.skeleton is None:
            raise ValueError(f"family {self.kind}: a closed-form family needs a skeleton")
        if self.config.model_fields["kind"].default != self.kind:
            raise ValueError(
                f"family {self.kind}: its config's kind defaults to "
                f"{self.config.model_fields['kind'].default!r}"
            )

    @property
    def closed_form(self) -> bool:
        return self.fit is not None

    @property
    def finite_reach(self) -> bool:
        """The model sees a fixed stretch of inputs (a window, a receptive field): it declares
        how to lengthen it."""
        return self.widen is not None

    @property
    def trained(self) -> bool:
        """Trained by the gradient loop."""
        return self.build is not None


FAMILIES: Registry[Family] = Registry("model.kind", "lagnet.models", lambda f: f.kind)
DEFAULT_KIND = "gru"


def family(kind: Any) -> Family:
    return FAMILIES.get(kind)


def model_config(data: Any = None, **settings: Any) -> ModelConfig:
    """The config of the family ``data["kind"]`` (default gru), validated; bad input →
    LagnetError naming ``model.<field>``.

    >>> model_config(kind="tcn", hidden=8).num_layers
    4
    """
    if isinstance(data, ModelConfig) and not settings:
        return data
    if isinstance(data, ModelConfig):
        data = data.model_dump()
    data = {**(data or {}), **settings}
    kind = data.setdefault("kind", DEFAULT_KIND)
    fam = family(kind)
    return validate_member(fam.config, _without_others_defaults(data, fam), "model")


def _without_others_defaults(data: dict, fam: Family) -> dict:
    """``data`` less the settings ``fam`` does not have that hold another family's default:
    run directories written when one flat config held every family's settings load as they
    were. A setting of another family at any other value is still refused."""
    own = fam.config.model_fields
    defaults: dict[str, set] = {}
    for other in FAMILIES:
        for name, f in other.config.model_fields.items():
            defaults.setdefault(name, set()).add(repr(f.default))
        for name, value in getattr(other.config, "LEGACY_DEFAULTS", {}).items():
            defaults.setdefault(name, set()).add(repr(value))
    return {
        k: v for k, v in data.items() if k in own or repr(_plain(v)) not in defaults.get(k, set())
    }


def all_settings() -> set[str]:
    """Every setting any family has (``lagnet.train(hidden=…)`` routes these to the model)."""
    return {name for f in FAMILIES for name in f.config.model_fields}


def switch_kind(data: dict, kind: str) -> tuple[dict, dict]:
    """The model section ``data`` moved to family ``kind``: the settings the new family has
    are kept, the others dropped. Returns (new section, dropped settings that were not at the
    old family's defaults — what the user would want to hear about)."""
    new = family(kind).config.model_fields
    old_kind = data.get("kind", DEFAULT_KIND)
    old_defaults = (
        {n: f.default for n, f in family(old_kind).config.model_fields.items()}
        if old_kind in FAMILIES
        else {}
    )
    kept = {k: v for k, v in data.items() if k in new}
    kept["kind"] = kind
    dropped = {
        k: v for k, v in data.items() if k not in new and old_defaults.get(k, object()) != _plain(v)
    }
    return kept, dropped


def _plain(v: Any) -> Any:
    return tuple(v) if isinstance(v, list) else v


def default_window(cfg: Any, max_lag: Optional[int]) -> int:
    """``cfg.window``, or the formula's largest lag + 1 when that is the memory needed
    (``Task.memory_hint``), else 10."""
    if cfg.window is not None:
        return cfg.window
    return max_lag + 1 if max_lag is not None else 10


def widen_window(cfg: Any, need: int) -> tuple[str, str, dict]:
    """The remedy for a window too short for the target: a window of ``need`` inputs."""
    return (
        f"model.window = {cfg.window}",
        f"window ≥ {need}: model.window = {need}",
        {"model.window": need},
    )


def grow_net(cfg: NetConfig, train: Any) -> tuple[str, dict]:
    """The remedy for a network too small or trained too briefly: twice as wide and long —
    twice the time budget where the run had one (its steps are then only a ceiling: doubling
    them advised two million steps)."""
    longer = (
        ("train.max_seconds", 2 * train.max_seconds)
        if getattr(train, "max_seconds", None)
        else ("train.steps", 2 * train.steps)
    )
    return (
        f"a wider model trained longer: model.hidden = {2 * cfg.hidden}, "
        f"{longer[0]} = {int(longer[1]) if float(longer[1]).is_integer() else longer[1]}",
        {"model.hidden": 2 * cfg.hidden, longer[0]: longer[1]},
    )
