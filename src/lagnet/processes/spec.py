"""Process specs: one-line strings such as ``ar1(rho=0.1)`` or ``arma(ar=[0.5, -0.2], ma=[0.3])``.

The string is parsed with ``ast`` and read through a whitelist — one call of a known name whose
arguments are numbers, strings, booleans, or lists of numbers, of strings or of such lists
(``var(A=[[0.5, 0.1], [0.0, 0.3]], names=["x", "z"])``). It is never evaluated. The result is a
validated config, and building it checks what the constructor checks (stationarity).
"""

from __future__ import annotations

import ast
import unicodedata
import warnings
from typing import Any

from pydantic import ValidationError

from lagnet.errors import LagnetError
from lagnet.processes.base import build_process
from lagnet.processes.family import (
    MAT,
    MATS,
    NUM,
    NUMS,
    PROCESSES,
    SHARES,
    STR,
    STRS,
    ProcessConfig,
    SpecForm,
)

_MAX_LEN = 1000
_MAX_DEPTH = 3  # list nesting: a list of matrices


def _forms() -> dict[str, SpecForm]:
    """Every spec name every registered process declares."""
    return {name: fam.form(name) for fam in PROCESSES for name in fam.forms}


_EXAMPLE = "expected a call such as ar1(rho=0.1) or arma(ar=[0.5, -0.2], ma=[0.3])"


def parse_process_spec(spec: str) -> ProcessConfig:
    """The config a spec string describes; any problem is a one-line :class:`LagnetError`.

    >>> parse_process_spec("ar1(rho=0.1)").ar
    (0.1,)
    >>> parse_process_spec('iid(dist="uniform", low=0, high=0.5)').high
    0.5
    """
    if not isinstance(spec, str):
        raise LagnetError("process", spec, "a process spec must be a string")
    if len(spec) > _MAX_LEN:
        raise LagnetError("process", _one_line(spec), f"longer than {_MAX_LEN} characters")
    shown = _one_line(spec)
    bad = next((c for c in spec if "\ud800" <= c <= "\udfff"), None)
    if bad is not None:  # from undecodable bytes (a command line's); ast cannot encode it
        raise LagnetError(
            "process", shown, f"U+{ord(bad):04X} is not a character (a lone surrogate)"
        )
    try:
        with warnings.catch_warnings():  # "invalid decimal literal": a syntax error follows
            warnings.simplefilter("ignore", SyntaxWarning)
            body = ast.parse(spec.strip(), mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError) as err:
        why = getattr(err, "msg", None) or type(err).__name__
        raise LagnetError("process", shown, f"not a valid spec ({why}); {_EXAMPLE}") from None

    if isinstance(body, ast.Name):  # a bare name: "normal" means "normal()"
        body = ast.Call(func=body, args=[], keywords=[])
    if not (isinstance(body, ast.Call) and isinstance(body.func, ast.Name)):
        raise LagnetError("process", shown, f"not a process spec; {_EXAMPLE}")
    name = body.func.id
    forms = _forms()
    form = forms.get(name)
    if form is None:
        odd = "".join(c for c in name if not c.isascii())[:3]
        hint = f" — '{name}' is not plain ASCII ({', '.join(map(_codepoint, odd))})" if odd else ""
        raise LagnetError(
            "process", shown, f"unknown process '{name}' (known: {', '.join(forms)}){hint}"
        )

    known = f"(known: {', '.join(form.params)})"
    if len(body.args) > len(form.positional):
        raise LagnetError(
            "process",
            shown,
            f"{name} takes at most {len(form.positional)} "
            f"positional argument(s): {', '.join(form.positional) or 'none'}",
        )
    given: dict[str, Any] = {}
    pairs = list(zip(form.positional, body.args)) + [(k.arg, k.value) for k in body.keywords]
    for param, node in pairs:
        if param is None or isinstance(node, ast.Starred):
            raise LagnetError("process", shown, "* and ** arguments are not allowed")
        if param not in form.params:
            value = _literal(node, f"process.{param}")
            raise LagnetError(
                f"process.{param}", _one_line(value), f"unknown parameter for {name} {known}"
            )
        if param in given:
            raise LagnetError(f"process.{param}", shown, "given twice")
        given[param] = _typed(
            _literal(node, f"process.{param}"), form.params[param], f"process.{param}"
        )
    try:
        cfg = form.make(given)
    except ValidationError as err:
        e = err.errors()[0]
        field = str(e["loc"][0]) if e["loc"] else "process"
        param = form.renamed.get(field, field)
        if e["type"] == "missing":
            raise LagnetError(f"process.{param}", shown, f"{name} needs {param}") from None
        raise LagnetError(
            f"process.{param}", _shown(given.get(param, e.get("input"))), e["msg"]
        ) from None
    for param in form.required:
        if param not in given:
            raise LagnetError(f"process.{param}", shown, f"{name} needs {param}")
    _check_builds(cfg, form, given)
    return cfg


def _check_builds(cfg: ProcessConfig, form: SpecForm, given: dict[str, Any]) -> None:
    """Run the constructor's checks now, naming the parameter the user wrote."""
    try:
        build_process(cfg)
    except LagnetError as err:
        field = err.field.removeprefix("process.")
        param = form.renamed.get(field)
        if param is None:
            raise
        raise LagnetError(f"process.{param}", _shown(given[param]), err.reason) from None


def _literal(node: ast.AST, field: str, depth: int = 0) -> Any:
    """A whitelisted literal: a number (signs allowed), a string, a bool, or a list/tuple of
    numbers, of strings, or of such lists (a matrix, a list of matrices: at most
    ``_MAX_DEPTH`` deep). Anything else — names, calls, attributes — is refused."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        if not node.value.isprintable():  # a NUL would reach the file system as a path
            raise LagnetError(field, repr(node.value), "control characters are not allowed")
        return node.value
    if isinstance(node, ast.Constant) and isinstance(node.value, (bool, int, float)):
        return node.value
    if (
        isinstance(node, ast.UnaryOp)
        and isinstance(node.op, (ast.USub, ast.UAdd))
        and isinstance(node.operand, ast.Constant)
        and _is_num(node.operand.value)
    ):
        return -node.operand.value if isinstance(node.op, ast.USub) else node.operand.value
    if isinstance(node, (ast.List, ast.Tuple)) and depth < _MAX_DEPTH:
        items = [_literal(item, field, depth + 1) for item in node.elts]
        if any(all(test(v) for v in items) for test in (_is_num, _is_str, _is_list)):
            return items
    raise LagnetError(
        field,
        _one_line(ast.unparse(node)),
        "expected a number, a quoted string, or a list of numbers, of strings or of such lists",
    )


def _typed(value: Any, kind: str, field: str) -> Any:
    if kind == NUM and _is_num(value):
        return value
    if kind == NUMS and (_is_num(value) or isinstance(value, list)):
        return tuple(value) if isinstance(value, list) else (value,)
    if kind == STR and isinstance(value, str):
        return value
    if kind == SHARES and isinstance(value, str):
        return value
    if kind == SHARES and _is_list(value) and all(map(_is_num, value)):
        return tuple(value)
    if kind == STRS and _is_list(value) and all(_is_str(v) for v in value):
        return tuple(value)
    if kind == MAT and _is_matrix(value):
        return tuple(tuple(row) for row in value)
    if kind == MATS and _is_matrix(value):
        return _typed(value, MAT, field)
    if kind == MATS and _is_list(value) and value and all(map(_is_matrix, value)):
        return tuple(_typed(m, MAT, field) for m in value)
    raise LagnetError(field, _one_line(value), f"expected {kind}")


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_str(v: Any) -> bool:
    return isinstance(v, str)


def _is_list(v: Any) -> bool:
    return isinstance(v, list)


def _is_matrix(v: Any) -> bool:
    """A non-empty list of lists of numbers (rows may be ragged: the process says so)."""
    return _is_list(v) and bool(v) and all(_is_list(r) and all(map(_is_num, r)) for r in v)


def _shown(v: Any) -> Any:
    """A parameter value as the user wrote it: lists as lists."""
    return list(v) if isinstance(v, tuple) else _one_line(v)


def _one_line(v: Any) -> Any:
    """Strings with control characters are shown quoted, so an error stays on one line."""
    if isinstance(v, str) and not v.isprintable():
        return repr(v)
    return v


def _codepoint(c: str) -> str:
    return f"U+{ord(c):04X} {unicodedata.name(c, '?')}"
