"""Targets: the function to learn, a formula over the present and past of named series.

The grammar is a small subset of Python expressions. The formula is parsed with ``ast`` and
walked through an explicit whitelist of node types; it is never evaluated by Python::

    expr    := expr op expr | -expr | +expr | (expr) | number | pi | e | series | call
             | expr cmp expr | not expr | expr and expr | expr or expr
    op      := + - * / **            cmp := < <= > >= == !=   (one per comparison, no chains)
    series  := NAME[t] | NAME[t-k]   k a whole-number literal, 0 <= k <= 10000
    call    := abs|exp|log|sqrt|sin|cos|tanh|sigmoid|relu (expr)
             | min(expr, expr, ...) | max(expr, expr, ...)      elementwise, 2+ arguments
             | clip(v, lo, hi) | where(c, a, b)

Comparisons, ``and``, ``or`` and ``not`` give 1.0 or 0.0; ``where`` picks ``a`` where
``c != 0`` and ``b`` elsewhere. ``NAME[t+1]`` is refused: a target may use only the present
and past. Limits keep hostile input cheap and every failure one clean :class:`LagnetError`:
at most 2000 characters, nesting depth 100, constant exponents with ``|p| <= 64``.

Example::

    >>> tgt = compile_target("x[t]**2 + 0.1*x[t-1]**2")
    >>> y, valid = tgt({"x": jnp.ones((3, 12))})   # y (N, L, 1) float32, valid (L,) bool
    >>> tgt.max_lag, tgt.series
    (1, ('x',))
"""

from __future__ import annotations

import ast
import functools
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, NoReturn

import jax
import jax.numpy as jnp
import numpy as np

from lagnet.errors import LagnetError

__all__ = ["Target", "compile_target"]

MAX_CHARS = 2000
MAX_DEPTH = 100
MAX_LAG = 10_000
MAX_EXPONENT = 64
_FIELD = "target.formula"

# A compiled expression maps {(series, lag): (N, L) array} and an array module (jnp when
# tracing, np when folding constants at compile time) to a value.
Env = Mapping[tuple[str, int], Any]
Expr = Callable[[Env, ModuleType], Any]


def _sigmoid(xp: ModuleType, a: Any) -> Any:
    return jax.nn.sigmoid(a) if xp is jnp else 1.0 / (1.0 + np.exp(-a))


def _relu(xp: ModuleType, a: Any) -> Any:
    return jax.nn.relu(a) if xp is jnp else np.maximum(a, 0.0)


# name -> (fewest arguments, most arguments or None for any, implementation)
# The one-argument NumPy names are looked up on np or jnp, whichever is evaluating.
_FUNCTIONS: dict[str, tuple[int, int | None, Callable[..., Any]]] = {
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
_CONSTANTS = {"pi": float(np.pi), "e": float(np.e)}

_BINARY = {
    ast.Add: lambda xp, a, b: xp.add(a, b),
    ast.Sub: lambda xp, a, b: xp.subtract(a, b),
    ast.Mult: lambda xp, a, b: xp.multiply(a, b),
    ast.Div: lambda xp, a, b: xp.divide(a, b),
}
_COMPARE = {
    ast.Lt: lambda xp, a, b: xp.less(a, b),
    ast.LtE: lambda xp, a, b: xp.less_equal(a, b),
    ast.Gt: lambda xp, a, b: xp.greater(a, b),
    ast.GtE: lambda xp, a, b: xp.greater_equal(a, b),
    ast.Eq: lambda xp, a, b: xp.equal(a, b),
    ast.NotEq: lambda xp, a, b: xp.not_equal(a, b),
}
_SYMBOLS = {
    ast.FloorDiv: "//", ast.Mod: "%", ast.MatMult: "@", ast.LShift: "<<", ast.RShift: ">>",
    ast.BitOr: "|", ast.BitXor: "^", ast.BitAnd: "&", ast.Invert: "~",
    ast.Is: "is", ast.IsNot: "is not", ast.In: "in", ast.NotIn: "not in",
}
_DESCRIBE = {
    ast.Attribute: "attribute access", ast.Lambda: "lambda", ast.IfExp: "conditional expression",
    ast.ListComp: "comprehension", ast.SetComp: "comprehension", ast.DictComp: "comprehension",
    ast.GeneratorExp: "comprehension", ast.NamedExpr: "assignment ':='", ast.Starred: "starred",
    ast.JoinedStr: "f-string", ast.List: "list", ast.Tuple: "tuple", ast.Set: "set",
    ast.Dict: "dict", ast.Slice: "slice", ast.Await: "await",
}


def _flag(cond: Any, xp: ModuleType) -> Any:
    """A boolean as 1.0 / 0.0, so that every value in a formula is a number."""
    return xp.where(cond, 1.0, 0.0)


class _Compiler:
    """One walk over the AST into nested closures; raises LagnetError at the first bad node."""

    def __init__(self, formula: str, known: frozenset[str] | None):
        self.formula = formula
        self.known = known
        text = formula.replace("\t", " ").replace("\r", " ").replace("\n", " ")
        self.text = text.lstrip(" ")
        self.shift = len(text) - len(self.text)  # columns are reported in the formula as given
        self.utf8 = self.text.encode()
        self.refs: set[tuple[str, int]] = set()
        self.bare_constants: list[ast.Name] = []

    # -- messages
    def fail(self, reason: str) -> NoReturn:
        # A formula with line breaks is shown escaped so that str(err) stays one line.
        shown = self.formula if self.formula.isprintable() else repr(self.formula)
        raise LagnetError(_FIELD, shown, reason)

    def col(self, node: ast.AST, end: bool = False) -> int:
        """1-based character column; ast offsets count UTF-8 bytes."""
        offset = node.end_col_offset if end else node.col_offset  # type: ignore[attr-defined]
        return len(self.utf8[:offset].decode(errors="ignore")) + 1 + self.shift

    def seg(self, node: ast.AST) -> str:
        text = ast.get_source_segment(self.text, node) or type(node).__name__
        return text if len(text) <= 40 else text[:37] + "..."

    def op_col(self, left: ast.AST, symbol: str) -> int:
        """Column of an operator symbol written after ``left``."""
        start = self.col(left, end=True) - 1 - self.shift
        found = self.text.find(symbol, start)
        return (found if found >= 0 else start) + 1 + self.shift

    # -- the walk
    def compile(self) -> Expr:
        tree = self.parse()
        fn, _ = self.expr(tree.body, 0)
        for node in self.bare_constants:
            if node.id in (self.known or ()) or any(node.id == name for name, _ in self.refs):
                self.fail(f"bare '{node.id}' at column {self.col(node)} is ambiguous: "
                          f"'{node.id}' is a series here — write {node.id}[t] or {node.id}[t-k]")
        if not self.refs:
            self.fail("the formula reads no series — use at least one NAME[t] or NAME[t-k]")
        return fn

    def parse(self) -> ast.Expression:
        try:
            return ast.parse(self.text, mode="eval")
        except SyntaxError as e:
            # The offset counts characters (0 = end of input); unclosed brackets point at them.
            column = (e.offset or len(self.text) + 1) + self.shift
            near = self.text[column - 1 - self.shift:][:10] or "end of formula"
            self.fail(f"syntax error at column {column} near '{near}': {e.msg}")
        except (RecursionError, MemoryError, ValueError):
            self.fail(f"the formula is too deeply nested to parse (limit: depth {MAX_DEPTH})")

    def expr(self, node: ast.AST, depth: int) -> tuple[Expr, float | None]:
        """Compile one node. Returns the closure and, when it reads no series, its value."""
        if depth > MAX_DEPTH:
            self.fail(f"'{self.seg(node)}' at column {self.col(node)} nests deeper than "
                      f"{MAX_DEPTH} levels")
        handler = {
            ast.BinOp: self._binop, ast.UnaryOp: self._unaryop, ast.Compare: self._compare,
            ast.BoolOp: self._boolop, ast.Call: self._call, ast.Name: self._name,
            ast.Subscript: self._subscript, ast.Constant: self._constant,
        }.get(type(node))
        if handler is None:
            what = _DESCRIBE.get(type(node), type(node).__name__)
            hint = " — use where(c, a, b)" if isinstance(node, ast.IfExp) else ""
            self.fail(f"{what} '{self.seg(node)}' at column {self.col(node)} is not allowed{hint}")
        fn, is_constant = handler(node, depth + 1)
        if not is_constant:
            return fn, None
        # Fold in float64 NumPy. Exponents are capped, so no value here is ever a huge integer.
        with np.errstate(all="ignore"):
            value = float(fn({}, np))
        return (lambda env, xp: value), value

    def _binop(self, node: ast.BinOp, depth: int) -> tuple[Expr, bool]:
        if isinstance(node.op, ast.Pow):
            return self._pow(node, depth)
        # Walk the left spine of a left-associative chain (a + b - c * d ...) in a loop, so
        # that a long sum counts as one level of nesting, not one per term.
        steps: list[ast.BinOp] = []
        base: ast.AST = node
        while isinstance(base, ast.BinOp) and not isinstance(base.op, ast.Pow):
            steps.append(base)
            base = base.left
        first, const = self.expr(base, depth)
        constant = const is not None
        parts: list[tuple[Callable[..., Any], Expr]] = []
        for step in reversed(steps):
            op = _BINARY.get(type(step.op))
            if op is None:
                symbol = _SYMBOLS.get(type(step.op), type(step.op).__name__)
                hint = " (for a power write **)" if symbol == "^" else ""
                self.fail(f"operator '{symbol}' at column {self.op_col(step.left, symbol)} "
                          f"is not allowed{hint}")
            right, right_const = self.expr(step.right, depth)
            constant = constant and right_const is not None
            parts.append((op, right))

        def fn(env: Env, xp: ModuleType) -> Any:
            acc = first(env, xp)
            for op, right in parts:
                acc = op(xp, acc, right(env, xp))
            return acc

        return fn, constant

    def _pow(self, node: ast.BinOp, depth: int) -> tuple[Expr, bool]:
        base, base_const = self.expr(node.left, depth)
        exponent, p = self.expr(node.right, depth)
        if p is None:
            return (lambda env, xp: xp.power(base(env, xp), exponent(env, xp))), False
        if not abs(p) <= MAX_EXPONENT:  # also refuses inf and nan
            self.fail(f"exponent '{self.seg(node.right)}' = {p:g} at column "
                      f"{self.col(node.right)} is too large (limit: |p| <= {MAX_EXPONENT})")
        # An integral exponent stays an int so that JAX uses exact repeated multiplication,
        # which is defined for negative bases.
        q: float | int = int(p) if p == int(p) else p
        return (lambda env, xp: xp.power(base(env, xp), q)), base_const is not None

    def _unaryop(self, node: ast.UnaryOp, depth: int) -> tuple[Expr, bool]:
        if isinstance(node.op, ast.Invert):
            self.fail(f"operator '~' at column {self.col(node)} is not allowed")
        arg, const = self.expr(node.operand, depth)
        if isinstance(node.op, ast.USub):
            fn: Expr = lambda env, xp: xp.negative(arg(env, xp))  # noqa: E731
        elif isinstance(node.op, ast.Not):
            fn = lambda env, xp: _flag(xp.equal(arg(env, xp), 0), xp)  # noqa: E731
        else:  # UAdd
            fn = arg
        return fn, const is not None

    def _compare(self, node: ast.Compare, depth: int) -> tuple[Expr, bool]:
        if len(node.ops) > 1:
            self.fail(f"chained comparison '{self.seg(node)}' at column {self.col(node)} is not "
                      "allowed — join single comparisons with 'and'")
        op = _COMPARE.get(type(node.ops[0]))
        if op is None:
            symbol = _SYMBOLS.get(type(node.ops[0]), type(node.ops[0]).__name__)
            self.fail(f"operator '{symbol}' at column {self.op_col(node.left, symbol)} "
                      "is not allowed")
        left, lc = self.expr(node.left, depth)
        right, rc = self.expr(node.comparators[0], depth)
        fn = lambda env, xp: _flag(op(xp, left(env, xp), right(env, xp)), xp)  # noqa: E731
        return fn, lc is not None and rc is not None

    def _boolop(self, node: ast.BoolOp, depth: int) -> tuple[Expr, bool]:
        parts = [self.expr(v, depth) for v in node.values]
        combine = "logical_and" if isinstance(node.op, ast.And) else "logical_or"

        def fn(env: Env, xp: ModuleType) -> Any:
            truths = [xp.not_equal(p(env, xp), 0) for p, _ in parts]
            return _flag(functools.reduce(getattr(xp, combine), truths), xp)

        return fn, all(c is not None for _, c in parts)

    def _call(self, node: ast.Call, depth: int) -> tuple[Expr, bool]:
        allowed = ", ".join(sorted(_FUNCTIONS))
        if not isinstance(node.func, ast.Name):
            self.expr(node.func, depth)  # attribute access, lambda ...: fails with its own name
            self.fail(f"call of '{self.seg(node.func)}' at column {self.col(node)} is not allowed")
        name = node.func.id
        column = self.col(node)
        if name not in _FUNCTIONS:
            self.fail(f"function '{name}' at column {column} is not allowed (allowed: {allowed})")
        if node.keywords:
            kw = node.keywords[0]
            self.fail(f"keyword argument '{kw.arg or '**'}' at column {self.col(kw)} is not "
                      "allowed — pass arguments by position")
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                self.fail(f"starred argument '{self.seg(arg)}' at column {self.col(arg)} is "
                          "not allowed")
        lo, hi, impl = _FUNCTIONS[name]
        n = len(node.args)
        if n < lo or (hi is not None and n > hi):
            want = f"{lo}" if lo == hi else f"at least {lo}"
            self.fail(f"function '{name}' at column {column} takes {want} argument"
                      f"{'s' if lo > 1 or hi is None else ''}, got {n}")
        args = [self.expr(a, depth) for a in node.args]
        fn = lambda env, xp: impl(xp, *(a(env, xp) for a, _ in args))  # noqa: E731
        return fn, all(c is not None for _, c in args)

    def _name(self, node: ast.Name, depth: int) -> tuple[Expr, bool]:
        name, column = node.id, self.col(node)
        if name in _CONSTANTS:
            self.bare_constants.append(node)
            value = _CONSTANTS[name]
            return (lambda env, xp: value), True
        if name == "t":
            self.fail(f"bare 't' at column {column} — time appears only inside an index, "
                      "as NAME[t] or NAME[t-k]")
        if name in _FUNCTIONS:
            self.fail(f"function '{name}' at column {column} must be called, as {name}(...)")
        if self.known is None or name in self.known:
            self.fail(f"bare name '{name}' at column {column} — a series is read with an "
                      f"index, as {name}[t] or {name}[t-k]")
        self.fail(f"unknown name '{name}' at column {column} (series: "
                  f"{', '.join(sorted(self.known))}; constants: {', '.join(_CONSTANTS)})")

    def _subscript(self, node: ast.Subscript, depth: int) -> tuple[Expr, bool]:
        token, column = self.seg(node), self.col(node)
        if not isinstance(node.value, ast.Name):
            self.fail(f"subscript '{token}' at column {column} is not allowed — only a series "
                      "is indexed, as NAME[t] or NAME[t-k]")
        name = node.value.id
        if self.known is not None and name not in self.known:
            self.fail(f"unknown series '{name}' at column {column} "
                      f"(known: {', '.join(sorted(self.known))})")
        key = (name, self._lag(node.slice, token, column))
        self.refs.add(key)
        return (lambda env, xp: env[key]), False

    def _lag(self, index: ast.AST, token: str, column: int) -> int:
        bad = (f"index in {token} at column {column} is not allowed — a series is read as "
               "NAME[t] or NAME[t-k] with k a whole-number literal")
        if isinstance(index, ast.Name) and index.id == "t":
            return 0
        if not (isinstance(index, ast.BinOp) and isinstance(index.left, ast.Name)
                and index.left.id == "t" and isinstance(index.op, (ast.Add, ast.Sub))):
            self.fail(bad)
        k = index.right
        if not isinstance(k, ast.Constant):
            self.fail(f"lag '{self.seg(k)}' in {token} at column {column} must be a "
                      "whole-number literal")
        if type(k.value) is not int:
            self.fail(f"lag '{self.seg(k)}' in {token} at column {column} is not a whole number")
        if isinstance(index.op, ast.Add) and k.value > 0:
            self.fail(f"future value {token} at column {column} — a target may use only the "
                      "present and past")
        if k.value > MAX_LAG:
            self.fail(f"lag {k.value} in {token} at column {column} is larger than {MAX_LAG}")
        return int(k.value)

    def _constant(self, node: ast.Constant, depth: int) -> tuple[Expr, bool]:
        v, column = node.value, self.col(node)
        if type(v) not in (int, float):  # bool, str, bytes, None, complex, ...
            what = "string" if isinstance(v, (str, bytes)) else "constant"
            self.fail(f"{what} {self.seg(node)} at column {column} is not allowed — only numbers")
        try:
            value = float(v)
        except OverflowError:
            value = float("inf")
        if not np.isfinite(value):
            self.fail(f"number {self.seg(node)} at column {column} is too large")
        return (lambda env, xp: value), True


def _lagged(x: jax.Array, k: int) -> jax.Array:
    """x shifted right by k steps along time, zeros in front: out[:, t] = x[:, t-k]."""
    if k == 0:
        return x
    return jnp.pad(x, ((0, 0), (k, 0)))[:, : x.shape[1]]  # (N, L)


@dataclass(frozen=True)
class Target:
    """A compiled formula; make one with :func:`compile_target`.

    ``target(paths)`` maps ``{name: (N, L) array}`` to ``y`` ``(N, L, 1)`` float32 and
    ``valid`` ``(L,)`` bool, ``valid[t] = t >= max_lag``. Lagged series are zero before the
    start, and ``y`` is set to 0 at invalid steps so that it is finite there; callers mask them.
    """

    formula: str
    series: tuple[str, ...]
    max_lag: int
    outputs: int = 1
    _refs: tuple[tuple[str, int], ...] = field(default=(), repr=False, compare=False)
    _expr: Expr | None = field(default=None, repr=False, compare=False)

    def __call__(self, paths: Mapping[str, jax.Array]) -> tuple[jax.Array, jax.Array]:
        missing = [s for s in self.series if s not in paths]
        if missing:
            raise LagnetError("target.paths", sorted(paths), f"missing series {missing} that "
                              f"the formula {self.formula!r} reads")
        xs = {s: paths[s] for s in self.series}
        shape = jnp.shape(xs[self.series[0]])
        for s, x in xs.items():
            if len(jnp.shape(x)) != 2 or jnp.shape(x) != shape:
                raise LagnetError("target.paths", f"{s}: {jnp.shape(x)}", "every series must be "
                                  f"an (N, L) array of one shape; {self.series[0]} is {shape}")
        return _evaluate(self, xs)

    def numpy(self, paths: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        """``self(paths)`` on NumPy arrays, returned as NumPy arrays."""
        y, valid = self(paths)
        return np.asarray(y), np.asarray(valid)

    def __repr__(self) -> str:
        return f"Target({self.formula!r}, series={self.series}, max_lag={self.max_lag})"

    def __reduce__(self) -> tuple[Any, ...]:
        # The closures do not pickle; the formula is the whole state.
        return (compile_target, (self.formula,))


@functools.partial(jax.jit, static_argnums=0)
def _evaluate(target: Target, xs: dict[str, jax.Array]) -> tuple[jax.Array, jax.Array]:
    # Jitted as a whole (keyed on the formula) because eager JAX compiles every distinct pad
    # on its own: a 200-lag sum took 28 s eagerly. Under an outer jit this simply inlines.
    n, length = xs[target.series[0]].shape
    xs = {s: x.astype(jnp.float32) for s, x in xs.items()}
    env = {(s, k): _lagged(xs[s], k) for s, k in target._refs}
    valid = jnp.arange(length) >= target.max_lag  # (L,)
    y = jnp.broadcast_to(jnp.asarray(target._expr(env, jnp), jnp.float32), (n, length))
    y = jnp.where(valid[None, :], y, 0.0)  # (N, L)
    return y[:, :, None], valid  # (N, L, 1), (L,)


def compile_target(formula: str, series: Sequence[str] | None = None) -> Target:
    """Parse and check ``formula``; ``series`` lists the names that exist (None: any name).

    Raises :class:`LagnetError` on field ``target.formula``, naming the token and its column.
    """
    if not isinstance(formula, str):
        raise LagnetError(_FIELD, formula, f"must be a string, got {type(formula).__name__}")
    known = None if series is None else frozenset(series)
    c = _Compiler(formula, known)
    if len(formula) > MAX_CHARS:
        c.fail(f"formula is {len(formula)} characters long; the limit is {MAX_CHARS}")
    if not formula.strip():
        c.fail("empty formula at column 1 — write an expression such as x[t]**2")
    for i, ch in enumerate(formula):
        if ch == "#":
            c.fail(f"comment '#' at column {i + 1} is not allowed")
        if unicodedata.category(ch) == "Cc" and ch not in "\t\r\n":
            c.fail(f"control character U+{ord(ch):04X} at column {i + 1} is not allowed")
    expr = c.compile()
    refs = tuple(sorted(c.refs))
    return Target(
        formula=formula,
        series=tuple(sorted({s for s, _ in refs})),
        max_lag=max(k for _, k in refs),
        _refs=refs,
        _expr=expr,
    )
