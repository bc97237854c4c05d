"""The words of the formula language: its limits, its functions and constants, and the
operators it accepts (each as an implementation over an array module ``xp``: ``jnp`` when
tracing, ``np`` when folding constants at compile time), and those it names to refuse.
:mod:`lagnet.targets_parse` walks a formula's tree with these tables.
"""

from __future__ import annotations

import ast
import functools
import keyword
import math
import numbers
import re
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from lagnet.errors import LagnetError
from lagnet.targets_windows import WINDOWS, Ref

MAX_CHARS = 2000
MAX_DEPTH = 100
MAX_LAG = 10_000
MAX_EXPONENT = 64
MAX_OUTPUTS = 64
MAX_PARAMS = 64
# About 0.1 ms of tracing each on a 2-core CPU (a windowed sum is ~60, a std ~300, an ewm ~150):
# a target of at most this many traced in 0.3-0.6 s on a shared 2-core CPU.
MAX_COST = 3000
# Targets are computed in float32: a number beyond its range would become inf on the way in
# (with a warning from the cast), so a literal or a parameter that large is refused, and a
# constant folded beyond it is inf, as float32 arithmetic would make it.
FLOAT32_MAX = float(np.finfo(np.float32).max)
FIELD = "target.formula"
PARAMS_FIELD = "target.params"


class Param(NamedTuple):
    """A formula parameter's key in an expression's env: a named constant whose value is an
    argument of the compiled computation (``w`` in ``x[t]**2 + w*x[t-1]**2``)."""

    name: str


# A compiled expression maps {Ref: array, Param: scalar} — (N, L) arrays, or (N,) at one step of a
# recursion — and an array module (jnp when tracing, np when folding constants at compile
# time) to a value.
Env = Mapping[Ref, Any]
Expr = Callable[[Env, ModuleType], Any]


def _sigmoid(xp: ModuleType, a: Any) -> Any:
    return jax.nn.sigmoid(a) if xp is jnp else 1.0 / (1.0 + np.exp(-a))


def _relu(xp: ModuleType, a: Any) -> Any:
    return jax.nn.relu(a) if xp is jnp else np.maximum(a, 0.0)


# name -> (fewest arguments, most arguments or None for any, implementation)
# The one-argument NumPy names are looked up on np or jnp, whichever is evaluating.
FUNCTIONS: dict[str, tuple[int, int | None, Callable[..., Any]]] = {
    name: (1, 1, lambda xp, a, f=name: getattr(xp, f)(a))
    for name in ("abs", "exp", "log", "sqrt", "sin", "cos", "tanh")
} | {
    "sigmoid": (1, 1, _sigmoid),
    "relu": (1, 1, _relu),
    "min": (2, None, lambda xp, *a: functools.reduce(xp.minimum, a)),
    "max": (2, None, lambda xp, *a: functools.reduce(xp.maximum, a)),
    "clip": (3, 3, lambda xp, v, lo, hi: xp.minimum(xp.maximum(v, lo), hi)),
    "where": (3, 3, lambda xp, c, a, b: xp.where(xp.not_equal(c, 0), a, b)),
}
CONSTANTS = {"pi": float(np.pi), "e": float(np.e)}
WINDOW_FUNCTIONS = (*WINDOWS, "ewm")

BINARY = {
    ast.Add: lambda xp, a, b: xp.add(a, b),
    ast.Sub: lambda xp, a, b: xp.subtract(a, b),
    ast.Mult: lambda xp, a, b: xp.multiply(a, b),
    ast.Div: lambda xp, a, b: xp.divide(a, b),
}
COMPARE = {
    ast.Lt: lambda xp, a, b: xp.less(a, b),
    ast.LtE: lambda xp, a, b: xp.less_equal(a, b),
    ast.Gt: lambda xp, a, b: xp.greater(a, b),
    ast.GtE: lambda xp, a, b: xp.greater_equal(a, b),
    ast.Eq: lambda xp, a, b: xp.equal(a, b),
    ast.NotEq: lambda xp, a, b: xp.not_equal(a, b),
}
SYMBOLS = {
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.MatMult: "@",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.BitOr: "|",
    ast.BitXor: "^",
    ast.BitAnd: "&",
    ast.Invert: "~",
    ast.Is: "is",
    ast.IsNot: "is not",
    ast.In: "in",
    ast.NotIn: "not in",
}
DESCRIBE = {
    ast.Attribute: "attribute access",
    ast.Lambda: "lambda",
    ast.IfExp: "conditional expression",
    ast.ListComp: "comprehension",
    ast.SetComp: "comprehension",
    ast.DictComp: "comprehension",
    ast.GeneratorExp: "comprehension",
    ast.NamedExpr: "assignment ':='",
    ast.Starred: "starred",
    ast.JoinedStr: "f-string",
    ast.List: "list",
    ast.Tuple: "tuple",
    ast.Set: "set",
    ast.Dict: "dict",
    ast.Slice: "slice",
    ast.Await: "await",
}


def flag(cond: Any, xp: ModuleType) -> Any:
    """A boolean as 1.0 / 0.0, so that every value in a formula is a number."""
    return xp.where(cond, 1.0, 0.0)


_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")


def reserved(name: str) -> str | None:
    """Why ``name`` cannot name a parameter or a recursive target, or None when it can."""
    if name in FUNCTIONS or name in WINDOW_FUNCTIONS:
        return f"'{name}' is a function of the formula language"
    if name in CONSTANTS:
        return f"'{name}' is a constant of the formula language ({CONSTANTS[name]:.6g})"
    if name == "t":
        return "'t' is time in the formula language"
    if keyword.iskeyword(name):
        return f"'{name}' is a Python keyword"
    return None


def check_params(params: Any, field: str = PARAMS_FIELD) -> dict[str, float | None]:
    """Formula parameters as ``{name: value}`` (sorted; value None when only names are given:
    a sequence of names). Names are ASCII identifiers that are not words of the language;
    values finite numbers. Raises :class:`LagnetError` on ``target.params.<name>``."""
    if params is None:
        return {}
    if isinstance(params, str) or not isinstance(params, (Mapping, list, tuple)):
        raise LagnetError(
            field, params, "must be a table of names and numbers, as {w = 0.1}, or a list of names"
        )
    named_only = not isinstance(params, Mapping)
    pairs = [(n, None) for n in params] if named_only else list(params.items())
    if len(pairs) > MAX_PARAMS:
        raise LagnetError(field, len(pairs), f"at most {MAX_PARAMS} parameters")
    out: dict[str, float | None] = {}
    for name, value in pairs:
        if not isinstance(name, str) or not _IDENTIFIER.fullmatch(name):
            raise LagnetError(
                field,
                name,
                "a parameter's name is a letter, then letters, digits or '_' (ASCII, at most 64)",
            )
        why = reserved(name)
        if why is not None:
            raise LagnetError(f"{field}.{name}", value, f"{why}; choose another name")
        if name in out:
            raise LagnetError(f"{field}.{name}", value, "given twice")
        if not named_only:
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise LagnetError(f"{field}.{name}", value, "must be a number")
            try:
                value = float(value)
            except OverflowError:
                value = math.inf
            if not abs(value) <= FLOAT32_MAX:
                raise LagnetError(
                    f"{field}.{name}",
                    value,
                    f"must be a finite number within float32's range (|v| <= {FLOAT32_MAX:.4g})",
                )
        out[name] = value
    return dict(sorted(out.items()))
