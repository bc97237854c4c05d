"""The input checks of :class:`lagnet.sklearn.SequenceRegressor`: its options, X and y, each
refused in one line naming the field and the value (:class:`lagnet.errors.LagnetError`)."""

from __future__ import annotations

import numbers
import warnings
from typing import Any

import numpy as np
from sklearn.exceptions import DataConversionWarning
from sklearn.utils.validation import check_array

from lagnet.config import EvalConfig, TrainConfig
from lagnet.errors import LagnetError
from lagnet.models.family import FAMILIES, all_settings, family

EXPLICIT = ("model", "steps", "max_seconds", "seed", "warm_start")
OPTIONS = (
    (
        (set(TrainConfig.model_fields) | all_settings() | set(EvalConfig.model_fields))
        | {"device", "name", "eval"}
    )
    - set(EXPLICIT)
    - {"kind", "length"}
)
# options that are not SequenceRegressor's, with what to do instead
NOT_OPTIONS = {
    "length": "not an option: the path length is X's second axis, X (paths, steps[, inputs])",
    "kind": "not an option: the family is the model parameter, model='esn'",
}


def check_options(model: Any, steps: Any, options: dict[str, Any]) -> None:
    """Refuse a ``steps`` that is not a whole number ≥ 1, an unknown option, and a model
    setting that family ``model`` does not have (naming the families that have it)."""
    whole = isinstance(steps, numbers.Integral) or (  # 2.0 from a parameter search
        isinstance(steps, numbers.Real) and float(steps).is_integer()
    )
    if steps is not None and (isinstance(steps, bool) or not whole or steps < 1):
        raise LagnetError("steps", steps, "must be a whole number ≥ 1, or None (lagnet's default)")
    for name, value in options.items():
        if name not in OPTIONS:
            raise LagnetError(
                name, value, NOT_OPTIONS.get(name, "unknown option of SequenceRegressor")
            )
    if not isinstance(model, str) or model not in FAMILIES:
        return  # lagnet.train names a bad family
    own = family(model).config.model_fields
    for name, value in options.items():
        routed_elsewhere = name in TrainConfig.model_fields or name in EvalConfig.model_fields
        if name in own or routed_elsewhere or name not in all_settings():
            continue
        have = [f.kind for f in FAMILIES if name in f.config.model_fields]
        raise LagnetError(
            name, value, f"not a setting of {model}; the families with it: {', '.join(have)}"
        )


def refuse_1d(X: Any) -> None:
    """A 1-D X is refused, with the reshape that reads it as one path."""
    shape = shape_of(X)
    if shape is not None and len(shape) == 1:
        raise LagnetError(
            "X",
            f"shape {shape}",
            "a 1-D array: X is (paths, steps) or (paths, steps, inputs). Reshape your data "
            f"with X.reshape(1, -1) for one path of {shape[0]} steps",
        )


def shape_of(X: Any) -> tuple[int, ...] | None:
    """X's shape: its own (an array, a DataFrame, a sparse matrix) or that of the array it
    converts to (nested lists); None where it has none (ragged lists: refused later)."""
    if hasattr(X, "shape"):
        return tuple(X.shape)
    try:
        return np.asarray(X).shape  # through __array__: not np.shape, which some refuse
    except (ValueError, TypeError):
        return None


def refuse_not_finite(X: np.ndarray, field: str = "X") -> None:
    """The first undefined value of X (N, L) or (N, L, C), by path and step, in one line."""
    bad = np.argwhere(~np.isfinite(X))
    if len(bad) == 0:
        return
    where = tuple(int(i) for i in bad[0])
    names = ("path", "step", "input")
    at = ", ".join(f"{n} {i}" for n, i in zip(names, where))
    value = "NaN" if np.isnan(X[where]) else str(X[where])  # inf, -inf
    raise LagnetError(
        field, f"{value} at {at}", "every input must be defined: fill it, or drop that path"
    )


def as_paths(X: np.ndarray) -> np.ndarray:
    """X (N, L) or (N, L, C) -> (N, L, C)."""
    if X.ndim > 3:
        raise LagnetError("X", f"shape {X.shape}", "expected (N, L) or (N, L, C)")
    return X[..., None] if X.ndim == 2 else X


def as_targets(y: Any, x: np.ndarray) -> tuple[np.ndarray, int]:
    """y as (N, L, O) with NaN where undefined, and the ndim of the y given (1, 2 or 3)."""
    n, length = x.shape[:2]
    ya = np.asarray(y)
    if ya.ndim == 2 and ya.shape[1] == 1 and length != 1:
        warnings.warn(
            "A column-vector y was passed when a 1d array was expected: read as one target "
            "per path, at its last step",
            DataConversionWarning,
            stacklevel=3,
        )
        ya = ya[:, 0]
    if ya.ndim <= 1:
        ya = check_array(ya, ensure_2d=False, dtype=np.float64, input_name="y")
        out = np.full((len(ya), length, 1), np.nan)
        out[:, -1, 0] = ya
        y_ndim = 1
    else:
        ya = check_array(
            ya, ensure_2d=False, allow_nd=True, dtype=np.float64, ensure_all_finite="allow-nan"
        )
        out = ya[..., None] if ya.ndim == 2 else ya
        y_ndim = ya.ndim
        if out.ndim != 3 or out.shape[1] != length:
            raise LagnetError(
                "y", f"shape {ya.shape}", f"expected (N,), (N, {length}) or (N, {length}, O)"
            )
    if out.shape[0] != n:
        raise LagnetError("y", f"{out.shape[0]} paths", f"X has {n}")
    _one_warm_up(out)
    return out, y_ndim


def _one_warm_up(y: np.ndarray) -> int:
    """The first step where y (N, L, O) is defined: before it NaN on every path, from it on
    defined everywhere, the same step for every output. Anything else is refused."""
    outputs = y.shape[2]
    starts = []
    for o in range(outputs):
        which = f", output {o}" if outputs > 1 else ""
        ok = np.isfinite(y[..., o])  # (N, L)
        if not ok.any():
            raise LagnetError("y", f"NaN everywhere{which}", "the target is defined at no step")
        first = int(np.argmax(ok.any(axis=0)))  # the first step defined on some path
        holes = np.argwhere(~ok[:, first:])
        if len(holes):
            p, s = (int(i) for i in holes[0])
            raise LagnetError(
                "y",
                f"NaN at path {p}, step {first + s}{which}",
                "only leading steps, the same on every path, may be undefined",
            )
        starts.append(first)
    if len(set(starts)) > 1:
        late, early = int(np.argmax(starts)), int(np.argmin(starts))
        raise LagnetError(
            "y",
            f"output {late} undefined on its first {starts[late]} step(s), "
            f"output {early} on {starts[early]}",
            f"every output must share one warm-up (the same leading NaN steps): set "
            f"y[:, :{starts[late]}] to NaN, or fit the outputs apart",
        )
    return starts[0]
