"""The words of the formula language: its limits, its functions and constants, and the
operators it accepts (each as an implementation over an array module ``xp``: ``jnp`` when
tracing, ``np`` when folding constants at compile time), and those it names to refuse.
:mod:`lagnet.targets_parse` walks a formula's tree with these tables.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from lagnet.targets_windows import WINDOWS, Ref

MAX_CHARS = 2000
MAX_DEPTH = 100
MAX_LAG = 10_000
MAX_EXPONENT = 64
MAX_OUTPUTS = 64
FIELD = "target.formula"

# A compiled expression maps {Ref: array} — (N, L) arrays, or (N,) at one step of a
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
