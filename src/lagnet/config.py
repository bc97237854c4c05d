"""Frozen, validated configs — one per component — and their TOML form.

A run's config nests them: ``RunConfig(process=…, target=…, model=…, train=…, eval=…)``.
TOML files, CLI flags (``--set train.lr=1e-3``) and Python keyword arguments all end here,
so one set of checks guards every entry point. Every failure is a :class:`LagnetError`
naming the dotted field and the value.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any, Literal, Optional, Union, get_args

import tomli_w
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from lagnet.errors import LagnetError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


# ----------------------------------------------------------------------------- processes
class ARMAConfig(_Frozen):
    """ARMA(p, q): x_t = mean + sum_i ar[i]·(x_{t-1-i} - mean) + e_t + sum_j ma[j]·e_{t-1-j},
    e_t ~ N(0, sigma²). ``init="zero"`` starts every path at rest (x_0 = mean, no past shocks);
    ``"stationary"`` draws the start from the stationary distribution."""

    kind: Literal["arma"] = "arma"
    ar: tuple[float, ...] = ()
    ma: tuple[float, ...] = ()
    sigma: float = Field(1.0, gt=0)
    mean: float = 0.0
    init: Literal["zero", "stationary"] = "zero"
    name: str = "x"


class IIDConfig(_Frozen):
    """Independent draws: normal(loc, scale), uniform(low, high) or student_t(df, loc, scale)."""

    kind: Literal["iid"] = "iid"
    dist: Literal["normal", "uniform", "student_t"] = "normal"
    loc: float = 0.0
    scale: float = Field(1.0, gt=0)
    low: float = 0.0
    high: float = 1.0
    df: float = Field(5.0, gt=0)
    name: str = "x"


class VARConfig(_Frozen):
    """VAR(p) with named channels: y_t = mean + sum_i A[i]·(y_{t-1-i} - mean) + e_t,
    e_t ~ N(0, cov). ``A`` is one C×C matrix (a VAR(1)) or a list of p of them; ``cov`` None =
    identity, ``mean`` None = zeros, ``names`` None = x1..xC. ``init`` as for ARMA."""

    kind: Literal["var"] = "var"
    A: tuple[tuple[tuple[float, ...], ...], ...]
    cov: Optional[tuple[tuple[float, ...], ...]] = None
    mean: Optional[tuple[float, ...]] = None
    names: Optional[tuple[str, ...]] = None
    init: Literal["zero", "stationary"] = "zero"

    @field_validator("A", mode="before")
    @classmethod
    def _one_matrix(cls, v: Any) -> Any:
        # One matrix means a VAR(1): wrap it, so A is always a list of p matrices and
        # A=[[...]] and A=[[[...]]] give equal configs.
        v = v.tolist() if hasattr(v, "tolist") else v
        if (isinstance(v, (list, tuple)) and v and isinstance(v[0], (list, tuple)) and v[0]
                and not isinstance(v[0][0], (list, tuple))):
            return (v,)
        return v


class GARCHConfig(_Frozen):
    """GARCH(1, 1), or GJR-GARCH with ``gamma`` > 0: r_t = mu + e_t, e_t = sqrt(sigma2_t)·z_t,
    sigma2_t = omega + (alpha + gamma·1[e_{t-1} < 0])·e_{t-1}² + beta·sigma2_{t-1}; z normal or
    Student-t(df) scaled to unit variance. Series ``name`` (observed) and ``sigma2`` (latent)."""

    kind: Literal["garch"] = "garch"
    omega: float = Field(0.05, gt=0)
    alpha: float = Field(0.1, ge=0)
    beta: float = Field(0.85, ge=0)
    gamma: float = Field(0.0, ge=0)
    mu: float = 0.0
    dist: Literal["normal", "student_t"] = "normal"
    df: float = Field(8.0, gt=2)
    name: str = "r"


class SVConfig(_Frozen):
    """Stochastic volatility: h_t = mu + phi·(h_{t-1} - mu) + sigma_eta·eta_t,
    r_t = exp(h_t / 2)·z_t. Series ``name`` (observed) and ``h`` (latent log-variance)."""

    kind: Literal["sv"] = "sv"
    mu: float = -1.0
    phi: float = Field(0.95, gt=-1, lt=1)
    sigma_eta: float = Field(0.25, gt=0)
    name: str = "r"


class OUConfig(_Frozen):
    """Ornstein–Uhlenbeck dX = theta·(mu - X)·dt + sigma·dW, sampled every ``dt``.
    ``init="zero"`` starts at ``x0`` (None = mu); ``"stationary"`` draws X_0 from
    N(mu, sigma²/(2·theta))."""

    kind: Literal["ou"] = "ou"
    theta: float = Field(1.0, gt=0)
    mu: float = 0.0
    sigma: float = Field(1.0, gt=0)
    dt: float = Field(0.1, gt=0)
    x0: Optional[float] = None
    init: Literal["zero", "stationary"] = "zero"
    name: str = "x"


class RegimeConfig(_Frozen):
    """Markov regime-switching AR(1): s_t ~ P[s_{t-1}, ·],
    x_t = mu[s_t] + rho[s_t]·(x_{t-1} - mu[s_t]) + sigma[s_t]·e_t. ``rho`` None = zeros,
    ``sigma`` None = ones. Series ``name`` (observed) and ``regime`` (latent, 0..k-1)."""

    kind: Literal["regime"] = "regime"
    P: tuple[tuple[float, ...], ...]
    mu: tuple[float, ...]
    rho: Optional[tuple[float, ...]] = None
    sigma: Optional[tuple[float, ...]] = None
    name: str = "x"


class NoisyConfig(_Frozen):
    """A latent AR(1) or random walk seen through noise: s_t = rho·s_{t-1} + sigma·e_t, s_0 = 0,
    x_t = s_t + noise·v_t. Series ``name`` (observed) and ``s`` (latent)."""

    kind: Literal["noisy"] = "noisy"
    rho: float = Field(1.0, ge=-1, le=1)
    sigma: float = Field(1.0, gt=0)
    noise: float = Field(1.0, ge=0)
    name: str = "x"


class AddingConfig(_Frozen):
    """The adding problem's inputs (Hochreiter & Schmidhuber 1997): values v_t ~ U[0, 1] and
    markers m_t, exactly ``markers`` ones at distinct positions among the first ``span`` steps."""

    kind: Literal["adding"] = "adding"
    markers: int = Field(2, gt=0)
    span: int = Field(50, gt=0)


class NARMAConfig(_Frozen):
    """NARMA(order) driven by u_t ~ U[low, high]. ``convention="standard"`` (Atiya & Parlos 2000):
    y(t+1) = a·y(t) + b·y(t)·Σ_{i=0}^{order-1} y(t-i) + c·u(t-order+1)·u(t) + d;
    ``"reservoirpy"``: the variant of ``reservoirpy.datasets.narma`` (one step off). a, b, c, d
    None = the convention's defaults. A path with |y| > ``bound`` is redrawn. Series ``u``
    (observed) and ``y`` (latent)."""

    kind: Literal["narma"] = "narma"
    order: int = Field(10, gt=0, le=1000)
    convention: Literal["standard", "reservoirpy"] = "standard"
    low: float = 0.0
    high: float = 0.5
    a: Optional[float] = None
    b: Optional[float] = None
    c: Optional[float] = None
    d: Optional[float] = None
    bound: float = Field(10.0, gt=0)


class DataConfig(_Frozen):
    """Observed series from a file (.csv, .parquet, .npz): ``columns`` None = every numeric
    series. ``window`` cuts each series into non-overlapping blocks of that many steps, from
    which windows are drawn; None draws windows anywhere."""

    kind: Literal["data"] = "data"
    path: str
    columns: Optional[tuple[str, ...]] = None
    window: Optional[int] = Field(None, gt=1)


class CustomConfig(_Frozen):
    """A record of a user's own simulator (``CallableProcess``), which lives in Python only: a
    run config with it can be read back but not rebuilt from the file."""

    kind: Literal["custom"] = "custom"
    fn: str
    series: tuple[str, ...]
    observed: tuple[str, ...]
    jax: bool = True


ProcessConfig = Annotated[Union[ARMAConfig, IIDConfig, VARConfig, GARCHConfig, SVConfig, OUConfig,
                                RegimeConfig, NoisyConfig, NARMAConfig, DataConfig, CustomConfig,
                                AddingConfig],
                          Field(discriminator="kind")]


# ----------------------------------------------------------------------------- target
class TargetConfig(_Frozen):
    """The function to learn, as a formula over named series (``x[t]**2 + 0.1*x[t-1]**2``) or
    a list of formulas, one output each; ``init`` is a recursive target's value before t = 0
    (``y[t] = 0.5*y[t-1] + x[t]``); ``inputs`` are the series the model sees as its input
    channels. The formula language is described in :mod:`lagnet.targets`."""

    formula: Union[str, tuple[str, ...]] = "x[t]**2 + 0.1*x[t-1]**2"
    init: float = 0.0
    inputs: tuple[str, ...] = ("x",)

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


# ----------------------------------------------------------------------------- model
Activation = Literal["silu", "relu", "tanh", "gelu", "identity"]


ModelKind = Literal["rnn", "gru", "lstm", "window", "tcn", "esn", "lru", "narx", "transformer",
                    "auto"]
GRADIENT_MODELS = ("rnn", "gru", "lstm", "window", "tcn", "lru", "transformer")
CLOSED_FORM_MODELS = ("esn", "narx")
DEFAULT_LAYERS = {"rnn": 1, "gru": 1, "lstm": 1, "window": 2, "tcn": 4, "lru": 2,
                  "transformer": 2, "esn": 1, "narx": 1, "auto": 1}


class ModelConfig(_Frozen):
    """The model family (``kind``) and its settings. One flat config so that every setting is
    one override away (``--set model.window=6``); each family reads the fields it needs.

    Shared by the gradient-trained families:
      ``hidden`` width (recurrent state, TCN channels, LRU/Transformer model width), ``layers``,
      (None = the family's default, ``DEFAULT_LAYERS``),
      ``head`` (MLP widths after the encoder; [] = linear read-out), ``head_activation``,
      ``skip`` (feed the current input to the head beside the encoder output), ``normalize``
      (fit input/target scalings on a pilot sample and store them inside the model).
    rnn/gru/lstm: ``activation`` is the Elman cell's nonlinearity.
    window: MLP over the last ``window`` inputs (None = the formula's largest lag + 1).
    tcn: causal dilated convolutions, kernel ``tcn_kernel``, dilations 1, 2, 4, … over
      ``layers`` residual blocks (receptive field 1 + 2·(kernel-1)·(2**layers - 1)).
    lru: linear recurrent units (Orvieto et al. 2023), eigenvalue moduli in
      [``lru_r_min``, ``lru_r_max``], state size ``lru_state``.
    transformer: causal encoder, ``heads`` heads, attention over the last ``context`` steps.
    esn: reservoir of ``reservoir`` units, ``spectral_radius``, ``leak``, ``input_scaling``,
      ``density``; ridge read-out with penalty ``ridge``, first ``washout`` steps skipped.
    narx: polynomial terms of degree ≤ ``narx_degree`` in the last ``window`` lags (None =
      largest lag + 1), chosen by forward orthogonal regression, at most ``narx_terms`` terms,
      stopping when the unexplained share of variance falls below ``narx_tol``.
    auto: narx, esn and a gru within the time budget; the best on validation is kept.
    """

    kind: ModelKind = "gru"
    hidden: int = Field(32, gt=0)
    layers: Optional[int] = Field(None, gt=0)
    activation: Literal["tanh", "relu"] = "tanh"
    head: tuple[int, ...] = (64,)
    head_activation: Activation = "silu"
    skip: bool = True
    normalize: bool = True
    # window / narx
    window: Optional[int] = Field(None, gt=0, le=10_000)
    # tcn
    tcn_kernel: int = Field(3, ge=2)
    # lru
    lru_state: int = Field(64, gt=0)
    lru_r_min: float = Field(0.5, ge=0, lt=1)
    lru_r_max: float = Field(0.99, gt=0, lt=1)
    # transformer
    heads: int = Field(4, gt=0)
    context: int = Field(128, gt=0)
    # esn
    reservoir: int = Field(500, gt=0)
    spectral_radius: float = Field(0.9, gt=0)
    leak: float = Field(1.0, gt=0, le=1)
    input_scaling: float = Field(1.0, gt=0)
    density: float = Field(0.1, gt=0, le=1)
    ridge: float = Field(1e-6, ge=0)
    washout: int = Field(50, ge=0)
    # narx
    narx_degree: int = Field(2, ge=1, le=5)
    narx_terms: int = Field(20, gt=0)
    narx_tol: float = Field(1e-12, ge=0)

    @property
    def num_layers(self) -> int:
        """``layers``, or the family's default when unset."""
        return self.layers if self.layers is not None else DEFAULT_LAYERS[self.kind]

    @field_validator("head")
    @classmethod
    def _positive_widths(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if any(w <= 0 for w in v):
            raise ValueError("head widths must be positive")
        return v


# ----------------------------------------------------------------------------- training
class TrainConfig(_Frozen):
    """The gradient loop. ``steps`` is the most it will take; ``max_seconds`` a wall-clock
    budget (the learning-rate schedule is fitted to whichever ends first); ``fixed_paths``
    trains on one fixed data set of that many paths instead of fresh paths every step."""

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


class EvalConfig(_Frozen):
    """The held-out test: a fixed, seeded set of paths, independent of the run's seed, so
    runs with different seeds are compared on the same paths."""

    seed: int = Field(20_231_130, ge=0, lt=2**63)
    test_paths: int = Field(1000, gt=0)
    long_factor: int = Field(10, gt=1)
    long_paths: int = Field(200, gt=0)
    baseline_paths: int = Field(4000, gt=0)
    linear_lags: Optional[int] = Field(None, gt=0)


class RunConfig(_Frozen):
    name: str = "run"
    seed: int = Field(0, ge=0, lt=2**63)
    device: Literal["auto", "cpu", "gpu"] = "auto"
    process: ProcessConfig = ARMAConfig(ar=(0.1,))
    target: TargetConfig = TargetConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    eval: EvalConfig = EvalConfig()

    @field_validator("process", mode="before")
    @classmethod
    def _process_spec(cls, v: Any) -> Any:
        if isinstance(v, str):
            from lagnet.processes import parse_process_spec

            return parse_process_spec(v).model_dump()
        return v


# ----------------------------------------------------------------------------- building
def _process_kinds() -> set[str]:
    members = get_args(get_args(ProcessConfig)[0])
    return {m.model_fields["kind"].default for m in members}


def _first_error(err: ValidationError, prefix: str = "") -> LagnetError:
    e = err.errors()[0]
    inner = (e.get("ctx") or {}).get("error")
    if isinstance(inner, LagnetError):  # raised by a validator (a process spec): keep it as is
        return inner
    # A process error's loc carries the union tag ("process", "garch", "alpha"): drop it.
    parts = [str(p) for p in e["loc"]]
    if len(parts) > 1 and parts[0] == "process" and parts[1] in _process_kinds():
        del parts[1]
    loc = ".".join(parts)
    field = ".".join(p for p in (prefix, loc) if p) or "config"
    msg = e["msg"]
    if e["type"] == "extra_forbidden":
        msg = "unknown setting"
    return LagnetError(field, e.get("input"), msg)


def make_config(data: dict | None = None, **overrides: Any) -> RunConfig:
    """Build a validated :class:`RunConfig` from a nested dict; bad input → LagnetError."""
    data = dict(data or {})
    data.update(overrides)
    try:
        return RunConfig.model_validate(data)
    except ValidationError as err:
        raise _first_error(err) from None


def load_config(path: str | Path) -> RunConfig:
    path = Path(path)
    if not path.is_file():
        raise LagnetError("config", str(path), "no such file")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise LagnetError("config", str(path), f"not valid TOML ({err})") from None
    return make_config(data)


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


def apply_overrides(data: dict, assignments: list[str]) -> dict:
    """Apply ``a.b=value`` assignments to a nested dict (copied, not changed in place)."""
    import copy

    data = copy.deepcopy(data)
    for item in assignments:
        if "=" not in item:
            raise LagnetError("--set", item, "expected a.b=value")
        key, _, text = item.partition("=")
        parts = [p.strip() for p in key.strip().split(".")]
        if not all(parts):
            raise LagnetError("--set", item, "expected a.b=value")
        node = data
        for p in parts[:-1]:
            child = node.get(p)
            if isinstance(child, str) and p == "process":
                from lagnet.processes import parse_process_spec

                child = parse_process_spec(child).model_dump()
            if child is None:
                child = {}
            if not isinstance(child, dict):
                raise LagnetError("--set", item, f"{p} is not a section")
            node[p] = child = dict(child)
            node = child
        node[parts[-1]] = parse_value(text.strip())
    return data
