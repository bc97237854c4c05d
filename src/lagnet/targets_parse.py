"""The formula compiler: text in, a closure over series reads out; never evaluated by Python.

:func:`compile_formula` parses one formula with ``ast`` (the grammar is in :mod:`lagnet.targets`),
walks the tree through an explicit whitelist of node types and returns a :class:`Part`: a
closure ``expr(env, xp)`` over ``env = {Ref: array}`` and the array module ``xp``, the refs it
reads, and the name a recursive formula defines. Every refusal is one :class:`LagnetError`
naming the token and its 1-based column.
"""

from __future__ import annotations

import ast
import functools
import math
import unicodedata
import warnings
from collections.abc import Callable
from types import ModuleType
from typing import Any, NamedTuple, NoReturn

import numpy as np

from lagnet.errors import LagnetError
from lagnet.targets_calls import Calls
from lagnet.targets_reads import Reads
from lagnet.targets_vocab import (
    BINARY,
    COMPARE,
    CONSTANTS,
    DESCRIBE,
    FIELD,
    FLOAT32_MAX,
    FUNCTIONS,
    MAX_CHARS,
    MAX_DEPTH,
    MAX_EXPONENT,
    SYMBOLS,
    WINDOW_FUNCTIONS,
    Env,
    Expr,
    flag,
)
from lagnet.targets_windows import Ref


class _Compiler(Calls, Reads):
    """One walk over the AST into nested closures; raises LagnetError at the first bad node."""

    def __init__(
        self,
        formula: str,
        known: frozenset[str] | None,
        field: str = FIELD,
        params: frozenset[str] = frozenset(),
    ):
        self.formula = formula
        self.known = known
        self.params = params
        self.used: set[str] = set()  # the parameters the formula reads
        self.ops = 0  # array operations the formula's nodes trace to (its windows aside)
        self.field = field
        self.rec: str | None = None  # the name a recursive formula defines
        text = formula.replace("\t", " ").replace("\r", " ").replace("\n", " ")
        self.text = text.lstrip(" ")
        self.shift = len(text) - len(self.text)  # columns are reported in the formula as given
        self.utf8 = self.text.encode(errors="surrogatepass")  # a lone one is refused later
        self.refs: set[Ref] = set()
        self.bare_constants: list[ast.Name] = []

    # -- messages
    def fail(self, reason: str) -> NoReturn:
        # A formula with line breaks is shown escaped so that str(err) stays one line.
        shown = self.formula if self.formula.isprintable() else repr(self.formula)
        raise LagnetError(self.field, shown, reason)

    def col(self, node: ast.AST, end: bool = False) -> int:
        """1-based character column; ast offsets count UTF-8 bytes."""
        offset = node.end_col_offset if end else node.col_offset  # type: ignore[attr-defined]
        return len(self.utf8[:offset].decode(errors="ignore")) + 1 + self.shift

    def seg(self, node: ast.AST) -> str:
        """The source of ``node``, cut to 40 characters. The text is one line (line breaks
        became spaces), so this slices its UTF-8 bytes: ``ast.get_source_segment`` splits the
        whole text into lines on every call, which made a 400-subscript formula take seconds."""
        start, end = getattr(node, "col_offset", None), getattr(node, "end_col_offset", None)
        if start is None or end is None or getattr(node, "end_lineno", 1) != 1:
            return type(node).__name__
        text = self.utf8[start:end].decode(errors="replace") or type(node).__name__
        return text if len(text) <= 40 else text[:37] + "..."

    def op_col(self, left: ast.AST, symbol: str) -> int:
        """Column of an operator symbol written after ``left``."""
        start = self.col(left, end=True) - 1 - self.shift
        found = self.text.find(symbol, start)
        return (found if found >= 0 else start) + 1 + self.shift

    # -- the walk
    def compile(self) -> Expr:
        body = self.parse()
        fn, _ = self.expr(body, 0)
        for node in self.bare_constants:
            if node.id in (self.known or ()) or any(node.id == r.name for r in self.refs):
                self.fail(
                    f"bare '{node.id}' at column {self.col(node)} is ambiguous: "
                    f"'{node.id}' is a series here — write {node.id}[t] or {node.id}[t-k]"
                )
        if not any(r.name != self.rec for r in self.refs):
            self.fail("the formula reads no series — use at least one NAME[t] or NAME[t-k]")
        return fn

    def parse(self) -> ast.AST:
        """The expression to compile; for ``NAME[t] = expr`` its right side (``self.rec`` is
        then NAME). Statements are parsed only to refuse them cleanly."""
        statements = self._parse_module().body
        if len(statements) > 1:
            self.fail(
                f"';' at column {self.op_col(statements[0], ';')} is not allowed — one "
                "formula per string; a list of formulas gives several outputs"
            )
        stmt = statements[0]
        if isinstance(stmt, ast.Expr):
            return stmt.value
        if isinstance(stmt, ast.AugAssign):
            self.fail(
                f"augmented assignment '{self.seg(stmt)}' at column {self.col(stmt)} is "
                "not allowed — a recursive target is written NAME[t] = expression"
            )
        if not isinstance(stmt, ast.Assign):
            self.fail(f"statement '{self.seg(stmt)}' at column {self.col(stmt)} is not allowed")
        if len(stmt.targets) > 1:
            self.fail(
                f"more than one '=' (the second at column "
                f"{self.op_col(stmt.targets[1], '=')}) — a recursive target is one "
                "NAME[t] = expression"
            )
        lhs = stmt.targets[0]
        if not (
            isinstance(lhs, ast.Subscript)
            and isinstance(lhs.value, ast.Name)
            and isinstance(lhs.slice, ast.Name)
            and lhs.slice.id == "t"
        ):
            self.fail(
                f"left side '{self.seg(lhs)}' at column {self.col(lhs)} must be NAME[t], "
                "as in y[t] = 0.5*y[t-1] + x[t]"
            )
        name = lhs.value.id
        if name in FUNCTIONS or name in WINDOW_FUNCTIONS or name in CONSTANTS or name == "t":
            self.fail(
                f"'{name}' at column {self.col(lhs)} cannot name a recursive target: it is "
                "a function, a constant or time"
            )
        if self.known is not None and name in self.known:
            self.fail(
                f"recursive target '{name}' at column {self.col(lhs)} clashes with a series "
                f"of the process ({', '.join(sorted(self.known))}) — choose another name"
            )
        if name in self.params:
            self.fail(
                f"recursive target '{name}' at column {self.col(lhs)} clashes with a "
                "parameter in target.params — choose another name"
            )
        self.rec = name
        return stmt.value

    def _parse_module(self) -> ast.Module:
        try:
            with warnings.catch_warnings():  # "invalid decimal literal": a syntax error follows
                warnings.simplefilter("ignore", SyntaxWarning)
                return ast.parse(self.text, mode="exec")
        except SyntaxError as e:
            # The offset counts characters (0 = end of input); unclosed brackets point at them.
            column = (e.offset or len(self.text) + 1) + self.shift
            near = self.text[column - 1 - self.shift :][:10] or "end of formula"
            self.fail(f"syntax error at column {column} near '{near}': {e.msg}")
        except (RecursionError, MemoryError, ValueError):
            self.fail(f"the formula is too deeply nested to parse (limit: depth {MAX_DEPTH})")

    def expr(self, node: ast.AST, depth: int) -> tuple[Expr, float | None]:
        """Compile one node. Returns the closure and, when it reads no series, its value."""
        if depth > MAX_DEPTH:
            self.fail(
                f"'{self.seg(node)}' at column {self.col(node)} nests deeper than "
                f"{MAX_DEPTH} levels"
            )
        handler = {
            ast.BinOp: self._binop,
            ast.UnaryOp: self._unaryop,
            ast.Compare: self._compare,
            ast.BoolOp: self._boolop,
            ast.Call: self._call,
            ast.Name: self._name,
            ast.Subscript: self._subscript,
            ast.Constant: self._constant,
        }.get(type(node))
        if handler is None:
            what = DESCRIBE.get(type(node), type(node).__name__)
            hint = " — use where(c, a, b)" if isinstance(node, ast.IfExp) else ""
            self.fail(f"{what} '{self.seg(node)}' at column {self.col(node)} is not allowed{hint}")
        fn, is_constant = handler(node, depth + 1)
        if not is_constant:
            self.ops += 1
            return fn, None
        # Fold in float64 NumPy. Exponents are capped, so no value here is ever a huge integer.
        with np.errstate(all="ignore"):
            value = float(fn({}, np))
        if abs(value) > FLOAT32_MAX:  # finite in float64, inf in float32
            value = math.copysign(math.inf, value)
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
        self.ops += len(steps) - 1
        parts: list[tuple[Callable[..., Any], Expr]] = []
        for step in reversed(steps):
            op = BINARY.get(type(step.op))
            if op is None:
                symbol = SYMBOLS.get(type(step.op), type(step.op).__name__)
                hint = " (for a power write **)" if symbol == "^" else ""
                self.fail(
                    f"operator '{symbol}' at column {self.op_col(step.left, symbol)} "
                    f"is not allowed{hint}"
                )
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
            self.fail(
                f"exponent '{self.seg(node.right)}' = {p:g} at column "
                f"{self.col(node.right)} is too large (limit: |p| <= {MAX_EXPONENT})"
            )
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
            fn = lambda env, xp: flag(xp.equal(arg(env, xp), 0), xp)  # noqa: E731
        else:  # UAdd
            fn = arg
        return fn, const is not None

    def _compare(self, node: ast.Compare, depth: int) -> tuple[Expr, bool]:
        if len(node.ops) > 1:
            self.fail(
                f"chained comparison '{self.seg(node)}' at column {self.col(node)} is not "
                "allowed — join single comparisons with 'and'"
            )
        op = COMPARE.get(type(node.ops[0]))
        if op is None:
            symbol = SYMBOLS.get(type(node.ops[0]), type(node.ops[0]).__name__)
            self.fail(
                f"operator '{symbol}' at column {self.op_col(node.left, symbol)} is not allowed"
            )
        left, lc = self.expr(node.left, depth)
        right, rc = self.expr(node.comparators[0], depth)
        fn = lambda env, xp: flag(op(xp, left(env, xp), right(env, xp)), xp)  # noqa: E731
        return fn, lc is not None and rc is not None

    def _boolop(self, node: ast.BoolOp, depth: int) -> tuple[Expr, bool]:
        parts = [self.expr(v, depth) for v in node.values]
        self.ops += 2 * len(parts)
        combine = "logical_and" if isinstance(node.op, ast.And) else "logical_or"

        def fn(env: Env, xp: ModuleType) -> Any:
            truths = [xp.not_equal(p(env, xp), 0) for p, _ in parts]
            return flag(functools.reduce(getattr(xp, combine), truths), xp)

        return fn, all(c is not None for _, c in parts)


class Part(NamedTuple):
    """One compiled formula: its closure, the refs it reads, the name it defines if it is
    recursive, and the parameters it reads."""

    expr: Expr
    refs: tuple[Ref, ...]
    name: str | None
    params: tuple[str, ...] = ()
    ops: int = 0


def compile_formula(
    formula: Any,
    known: frozenset[str] | None,
    field_name: str = FIELD,
    params: frozenset[str] = frozenset(),
) -> Part:
    """Compile one formula; ``known`` lists the series that exist (None: any name),
    ``params`` the names of parameters it may read."""
    if not isinstance(formula, str):
        raise LagnetError(field_name, formula, f"must be a string, got {type(formula).__name__}")
    c = _Compiler(formula, known, field_name, params)
    if len(formula) > MAX_CHARS:
        c.fail(f"formula is {len(formula)} characters long; the limit is {MAX_CHARS}")
    if not formula.strip():
        c.fail("empty formula at column 1 — write an expression such as x[t]**2")
    for i, ch in enumerate(formula):
        if ch == "#":
            c.fail(f"comment '#' at column {i + 1} is not allowed")
        if unicodedata.category(ch) == "Cc" and ch not in "\t\r\n":
            c.fail(f"control character U+{ord(ch):04X} at column {i + 1} is not allowed")
        if unicodedata.category(ch) == "Cs":  # from undecodable bytes (a command line's)
            c.fail(f"U+{ord(ch):04X} at column {i + 1} is not a character (a lone surrogate)")
    expr = c.compile()
    return Part(expr, tuple(sorted(c.refs)), c.rec, tuple(sorted(c.used)), c.ops)
