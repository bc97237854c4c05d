"""Calls in a formula: the elementwise functions (``abs``, ``min``, ``where``, …) and the
window functions over the last k steps (``sum(x, k, lag=l)``, ``ewm(x, alpha)``). A part of
the formula compiler (:mod:`lagnet.targets_parse`), which mixes it in.
"""

from __future__ import annotations

import ast

from lagnet.targets_vocab import (
    CONSTANTS,
    FUNCTIONS,
    MAX_LAG,
    WINDOW_FUNCTIONS,
    Expr,
)
from lagnet.targets_windows import Ref


class Calls:
    """The compiler's methods for calls; ``self`` is the formula compiler."""

    def _call(self, node: ast.Call, depth: int) -> tuple[Expr, bool]:
        allowed = ", ".join(sorted({*FUNCTIONS, *WINDOW_FUNCTIONS}))
        if not isinstance(node.func, ast.Name):
            self.expr(node.func, depth)  # attribute access, lambda ...: fails with its own name
            self.fail(f"call of '{self.seg(node.func)}' at column {self.col(node)} is not allowed")
        name = node.func.id
        column = self.col(node)
        if name in WINDOW_FUNCTIONS and (name not in FUNCTIONS or self._window_form(node)):
            return self._window(node, name, depth)
        if name not in FUNCTIONS:
            self.fail(f"function '{name}' at column {column} is not allowed (allowed: {allowed})")
        if node.keywords:
            kw = node.keywords[0]
            self.fail(
                f"keyword argument '{kw.arg or '**'}' at column {self.col(kw)} is not "
                "allowed — pass arguments by position"
            )
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                self.fail(
                    f"starred argument '{self.seg(arg)}' at column {self.col(arg)} is not allowed"
                )
        lo, hi, impl = FUNCTIONS[name]
        n = len(node.args)
        if n < lo or (hi is not None and n > hi):
            want = f"{lo}" if lo == hi else f"at least {lo}"
            self.fail(
                f"function '{name}' at column {column} takes {want} argument"
                f"{'s' if lo > 1 or hi is None else ''}, got {n}"
            )
        args = [self.expr(a, depth) for a in node.args]
        fn = lambda env, xp: impl(xp, *(a(env, xp) for a, _ in args))  # noqa: E731
        return fn, all(c is not None for _, c in args)

    def _window_form(self, node: ast.Call) -> bool:
        """max/min of a bare series name and a number, or with lag=: the window form."""
        if any(kw.arg == "lag" for kw in node.keywords):
            return True
        if len(node.args) != 2 or not isinstance(node.args[0], ast.Name):
            return False
        name = node.args[0].id
        return (
            name != "t"
            and name not in self.params
            and (name not in CONSTANTS or name in (self.known or ()) or name == self.rec)
        )

    def _window(self, node: ast.Call, func: str, depth: int) -> tuple[Expr, bool]:
        """sum|mean|std|max|min(NAME, k, lag=l) or ewm(NAME, alpha, lag=l): one Ref."""
        token, column = self.seg(node), self.col(node)
        second = "alpha" if func == "ewm" else "k"
        usage = f"{func}(NAME, {second}) or {func}(NAME, {second}, lag=l)"
        for kw in node.keywords:
            if kw.arg != "lag":
                self.fail(
                    f"keyword argument '{kw.arg or '**'}' at column {self.col(kw)} is not "
                    f"allowed — {func} takes only lag="
                )
        if len(node.args) != 2 or any(isinstance(a, ast.Starred) for a in node.args):
            self.fail(f"'{token}' at column {column} must be {usage}")
        series = node.args[0]
        if not isinstance(series, ast.Name) or series.id == "t":
            self.fail(
                f"first argument '{self.seg(series)}' of {func} at column {column} must be "
                f"a bare series name, as {func}(x, {second}) — not x[t]"
            )
        name = series.id
        self._series(name, self.col(series), f"{func} reads a series")
        size_node = node.args[1]
        if func == "ewm":
            _, alpha = self.expr(size_node, depth)
            if alpha is None or not 0 < alpha <= 1:
                self.fail(
                    f"alpha '{self.seg(size_node)}' in {token} at column {column} must be "
                    "a number in (0, 1] (a constant, not a parameter or a series)"
                )
            size: int | float = float(alpha)
        else:
            size = self._whole(size_node, "window length", token, column, least=1)
        lag = 0
        for kw in node.keywords:
            lag = self._whole(kw.value, "lag", token, column, least=0)
        ref = Ref(func, name, size, lag)
        if ref.extent > MAX_LAG:
            self.fail(
                f"{token} at column {column} looks back {ref.extent} steps, more than {MAX_LAG}"
            )
        if name == self.rec and lag < 1:
            self.fail(
                f"{token} at column {column} includes {name}[t], the value being defined "
                f"— read the past only, as {func}({name}, {self.seg(size_node)}, lag=1)"
            )
        self.refs.add(ref)
        return (lambda env, xp: env[ref]), False

    def _whole(self, node: ast.AST, what: str, token: str, column: int, least: int) -> int:
        if not (
            isinstance(node, ast.Constant)
            and type(node.value) is int
            and least <= node.value <= MAX_LAG
        ):
            self.fail(
                f"{what} '{self.seg(node)}' in {token} at column {column} must be a "
                f"whole-number literal from {least} to {MAX_LAG}"
            )
        return int(node.value)
