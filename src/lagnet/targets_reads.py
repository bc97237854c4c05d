"""The leaves of a formula: names (constants, parameters), series reads ``NAME[t-k]`` and
numbers. A part of the formula compiler (:mod:`lagnet.targets_parse`), which mixes it in.

A parameter (``w`` with ``target.params = {w = 0.1}``) compiles to a read of ``env[Param(w)]``,
never to its value: its value is an argument of the compiled computation, so one compilation
serves every value, and an expression that reads one is not folded at compile time.
"""

from __future__ import annotations

import ast
import unicodedata

from lagnet.targets_vocab import CONSTANTS, FLOAT32_MAX, FUNCTIONS, MAX_LAG, Expr, Param
from lagnet.targets_windows import Ref


class Reads:
    """The compiler's methods for names, series reads and numbers; ``self`` is the formula
    compiler (``self.known``: the series that exist or None; ``self.params``: the declared
    parameters; ``self.used``: those read so far)."""

    def _name(self, node: ast.Name, depth: int) -> tuple[Expr, bool]:
        name, column = node.id, self.col(node)
        if name in CONSTANTS:
            self.bare_constants.append(node)
            value = CONSTANTS[name]
            return (lambda env, xp: value), True
        if name == "t":
            self.fail(
                f"bare 't' at column {column} — time appears only inside an index, "
                "as NAME[t] or NAME[t-k]"
            )
        if name in FUNCTIONS:
            self.fail(f"function '{name}' at column {column} must be called, as {name}(...)")
        if name in self.params:
            self.used.add(name)
            key = Param(name)
            return (lambda env, xp: env[key]), False
        if self.known is None or name in self.known or name == self.rec:
            maybe = self.known is None and name != self.rec  # a series or a parameter
            declare = f"; a constant is declared in target.params, as {{{name} = 0.1}}"
            self.fail(
                f"bare name '{name}' at column {column} — a series is read with an "
                f"index, as {name}[t] or {name}[t-k]{declare if maybe else ''}"
                f"{self.lookalike(name)}"
            )
        params = f"; parameters: {', '.join(sorted(self.params))}" if self.params else ""
        hint = self.lookalike(name) or (
            f" — to use it as a parameter, declare it in target.params, as {{{name} = 0.1}}"
        )
        self.fail(
            f"unknown name '{name}' at column {column} (series: "
            f"{', '.join(sorted(self.known))}; constants: {', '.join(CONSTANTS)}{params}){hint}"
        )

    def lookalike(self, name: str) -> str:
        """A hint for a name with non-ASCII letters (Cyrillic 'х' looks like 'x')."""
        odd = [ch for ch in dict.fromkeys(name) if not ch.isascii()]
        if not odd:
            return ""
        shown = ", ".join(f"U+{ord(c):04X} {unicodedata.name(c, '?')}" for c in odd[:3])
        return f" — '{name}' is not plain ASCII ({shown})"

    def _series(self, name: str, column: int, what: str) -> None:
        """Refuse a read of ``name`` as a series when it is not one."""
        if name in self.params:
            self.fail(
                f"'{name}' at column {column} is a parameter (target.params), not a series — {what}"
            )
        if self.known is not None and name not in self.known and name != self.rec:
            self.fail(
                f"unknown series '{name}' at column {column} "
                f"(known: {', '.join(sorted(self.known))}){self.lookalike(name)}"
            )

    def _subscript(self, node: ast.Subscript, depth: int) -> tuple[Expr, bool]:
        token, column = self.seg(node), self.col(node)
        if not isinstance(node.value, ast.Name):
            self.fail(
                f"subscript '{token}' at column {column} is not allowed — only a series "
                "is indexed, as NAME[t] or NAME[t-k]"
            )
        name = node.value.id
        self._series(name, column, f"write {name}, not {token}")
        key = Ref("at", name, 1, self._lag(node.slice, token, column))
        if name == self.rec and key.lag == 0:
            self.fail(
                f"{token} at column {column} is the value being defined — the right side "
                f"reads only the past, {name}[t-k] with k >= 1"
            )
        self.refs.add(key)
        return (lambda env, xp: env[key]), False

    def _lag(self, index: ast.AST, token: str, column: int) -> int:
        bad = (
            f"index in {token} at column {column} is not allowed — a series is read as "
            "NAME[t] or NAME[t-k] with k a whole-number literal"
        )
        if isinstance(index, ast.Name) and index.id == "t":
            return 0
        if not (
            isinstance(index, ast.BinOp)
            and isinstance(index.left, ast.Name)
            and index.left.id == "t"
            and isinstance(index.op, (ast.Add, ast.Sub))
        ):
            self.fail(bad)
        k = index.right
        if not isinstance(k, ast.Constant):
            self.fail(
                f"lag '{self.seg(k)}' in {token} at column {column} must be a whole-number literal"
            )
        if type(k.value) is not int:
            self.fail(f"lag '{self.seg(k)}' in {token} at column {column} is not a whole number")
        if isinstance(index.op, ast.Add) and k.value > 0:
            self.fail(
                f"future value {token} at column {column} — a target may use only the "
                "present and past"
            )
        if k.value > MAX_LAG:
            self.fail(f"lag {self.seg(k)} in {token} at column {column} is larger than {MAX_LAG}")
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
        if not abs(value) <= FLOAT32_MAX:
            self.fail(
                f"number {self.seg(node)} at column {column} is too large (targets are "
                f"computed in float32: |v| <= {FLOAT32_MAX:.4g})"
            )
        return (lambda env, xp: value), True
