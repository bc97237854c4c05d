"""Targets: the function to learn, one or several formulas over the present and past of
named series.

The grammar is a small subset of Python expressions. A formula is parsed with ``ast`` and
walked through an explicit whitelist of node types; it is never evaluated by Python::

    formula := expr | NAME[t] = expr                   the second form is a recursive target
    expr    := expr op expr | -expr | +expr | (expr) | number | pi | e | series | call
             | expr cmp expr | not expr | expr and expr | expr or expr
    op      := + - * / **            cmp := < <= > >= == !=   (one per comparison, no chains)
    series  := NAME[t] | NAME[t-k]   k a whole-number literal, 0 <= k <= 10000
    call    := abs|exp|log|sqrt|sin|cos|tanh|sigmoid|relu (expr)
             | min(expr, expr, ...) | max(expr, expr, ...)      elementwise, 2+ arguments
             | clip(v, lo, hi) | where(c, a, b)
             | sum|mean|std|max|min (NAME, k [, lag=l])         window of k >= 1 steps
             | ewm(NAME, alpha [, lag=l])                        0 < alpha <= 1

Comparisons, ``and``, ``or`` and ``not`` give 1.0 or 0.0; ``where`` picks ``a`` where
``c != 0`` and ``b`` elsewhere. ``NAME[t+1]`` is refused: a target may use only the present
and past. Limits keep hostile input cheap and every failure one clean :class:`LagnetError`:
at most 2000 characters, nesting depth 100, constant exponents with ``|p| <= 64``,
numbers within float32's range (the target is computed in float32; a constant folded beyond
it is inf), and about 3000 array operations to trace for all outputs together (a window is a
few dozen to a few hundred: :func:`lagnet.targets_windows.trace_cost`).

Windows (:mod:`lagnet.targets_windows` computes them). ``sum(x, k, lag=l)`` adds
x[t-l-k+1 .. t-l]; ``mean``, ``std`` (population), ``max`` and ``min`` summarise the same
steps. ``max``/``min`` of a bare series name and a whole number are the window form; with
expressions they stay elementwise. ``ewm(x, alpha, lag=l)`` is m[t-l] with
m_t = alpha·x_t + (1-alpha)·m_{t-1}, m_0 = x_0.

Recursive targets. ``y[t] = expr`` defines a series ``y`` that ``expr`` may read at
``y[t-k]``, k >= 1, and in windows and ewm with ``lag >= 1`` — never at t. It is evaluated
step by step (``lax.scan``) with ``y = init`` (default 0) before t = 0. NARMA-10 (Atiya &
Parlos 2000)::

    y[t] = 0.3*y[t-1] + 0.05*y[t-1]*sum(y, 10, lag=1) + 1.5*u[t-9]*u[t] + 0.1

This is y(t+1) of the equation written at the output's own step, so it reads u[t]; the
``narma(order=10)`` process's series ``y`` is y(t) itself (driven by u up to t-1), which this
formula gives one step later — equal to it on the process's paths with ``u[t-10]*u[t-1]``.

Parameters. A formula may name constants that are not series — ``x[t]**2 + w*x[t-1]**2``
with ``params={"w": 0.1}`` (``target.params`` in a config). They are arguments of the
computation, not constants baked into it: ``target(paths, {"w": w})`` takes any value, a JAX
tracer included (jit or vmap over w), and one compilation serves every w. Window lengths,
lags, exponents written as numbers and ewm's alpha stay literals.

Several outputs. A list of formulas gives one output each, y (N, L, O) with O = len(list);
each formula reads any series of the process, and a recursive name belongs to its formula.

The valid-step mask. ``max_lag`` is how far back any output looks: k for ``x[t-k]``,
k-1+l for a window, l for an ewm. ``valid[t] = t >= warmup`` with ``warmup = max_lag``, and
``max_lag + 1`` when any output is recursive: below ``max_lag`` a step reads values from
before the start (zeros for a series, ``init`` for y), and y[0] is itself made from initial
values wherever it reads y, so one more step is masked and no valid step reads an initial
value directly. A stable recursion forgets the rest geometrically; a slow one needs longer
paths. An ewm counts only its lag, not its infinite memory: m_0 = x_0 is the natural start
(pandas' ``adjust=False``), and any finite cut-off would be arbitrary.

Example::

    >>> tgt = compile_target("x[t]**2 + 0.1*x[t-1]**2")
    >>> y, valid = tgt({"x": jnp.ones((3, 12))})   # y (N, L, 1) float32, valid (L,) bool
    >>> tgt.max_lag, tgt.series
    (1, ('x',))
    >>> compile_target(["x[t]**2", "mean(x, 5)"]).outputs
    2
    >>> tgt = compile_target("x[t]**2 + w*x[t-1]**2", params={"w": 0.1})
    >>> tgt.params, tgt.defaults
    (('w',), {'w': 0.1})
    >>> y, valid = tgt({"x": jnp.ones((3, 12))}, params={"w": 0.5})
"""

from __future__ import annotations

import dataclasses
import functools
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from lagnet.errors import LagnetError
from lagnet.targets_parse import Part, compile_formula
from lagnet.targets_vocab import (
    FLOAT32_MAX,
    MAX_COST,
    MAX_OUTPUTS,
    PARAMS_FIELD,
    Param,
    check_params,
)
from lagnet.targets_windows import Ref, recurse, ref_values, trace_cost

__all__ = ["Target", "compile_target"]

_FIELD = "target.formula"


@dataclass(frozen=True)
class Target:
    """Compiled formulas; make one with :func:`compile_target`.

    ``target(paths)`` maps ``{name: (N, L) array}`` to ``y`` ``(N, L, O)`` float32 and
    ``valid`` ``(L,)`` bool, ``valid[t] = t >= warmup`` (the module docstring gives the rule).
    Series are zero before the start, and ``y`` is set to 0 at invalid steps so that it is
    finite there; callers mask them. ``formula`` is a string, or a tuple with one formula per
    output; ``series`` are the process series read; ``init`` is a recursive target's value
    before t = 0; ``params`` the names of the formula's parameters (sorted) and ``defaults``
    their values when none are given.
    """

    formula: str | tuple[str, ...]
    series: tuple[str, ...]
    max_lag: int
    outputs: int = 1
    warmup: int = 0
    init: float = 0.0
    params: tuple[str, ...] = ()
    _defaults: tuple[tuple[str, float], ...] = ()
    _parts: tuple[Part, ...] = field(default=(), repr=False, compare=False)

    @property
    def formulas(self) -> tuple[str, ...]:
        """One formula per output."""
        return (self.formula,) if isinstance(self.formula, str) else self.formula

    @property
    def recursive(self) -> bool:
        return any(p.name is not None for p in self._parts)

    def reads_only_now(self, inputs) -> tuple[bool, ...]:
        """Per output: whether it reads only current values (``NAME[t]``) of the series in
        ``inputs`` and does not recurse — a function of the model's current input, which
        needs no memory however poorly a baseline fits it (x1·x2·x3 of three inputs)."""
        return tuple(
            p.name is None  # ewm's extent is its lag: it reads the whole past
            and all(r.op != "ewm" and r.extent == 0 and r.name in inputs for r in p.refs)
            for p in self._parts
        )

    @property
    def defaults(self) -> dict[str, float]:
        """The parameters' values used when a call gives none."""
        return dict(self._defaults)

    def param_values(self, params: Mapping[str, Any] | None = None) -> dict[str, jax.Array]:
        """Every parameter's value as a float32 scalar: from ``params`` (name -> number or
        JAX scalar, tracers included), else the default. A name that is not a parameter of
        the formula, a missing value or a value that is not a scalar: LagnetError."""
        given = {} if params is None else params
        if not isinstance(given, Mapping):
            raise LagnetError(PARAMS_FIELD, given, "must map parameter names to values")
        for name in given:
            if name not in self.params:
                has = f"its parameters: {', '.join(self.params)}" if self.params else "it has none"
                raise LagnetError(
                    f"{PARAMS_FIELD}.{name}",
                    given[name],
                    f"not a parameter of the formula {formula_text(self.formula)!r} ({has})",
                )
        defaults, out = self.defaults, {}
        for name in self.params:
            value = given.get(name, defaults.get(name))
            if value is None or isinstance(value, (str, bytes)):
                raise LagnetError(
                    f"{PARAMS_FIELD}.{name}",
                    value,
                    "needs a number: give it in params, or a default when compiling",
                )
            value = jnp.asarray(value, jnp.float32)
            if value.shape != ():
                raise LagnetError(
                    f"{PARAMS_FIELD}.{name}", value.shape, "must be a scalar (vmap to vary it)"
                )
            out[name] = value
        return out

    def __call__(
        self, paths: Mapping[str, jax.Array], params: Mapping[str, Any] | None = None
    ) -> tuple[jax.Array, jax.Array]:
        """y (N, L, O) and valid (L,) from the series; ``params``: name -> value (a number or
        a JAX scalar) for some or all of the formula's parameters, None: the defaults."""
        missing = [s for s in self.series if s not in paths]
        if missing:
            raise LagnetError(
                "target.paths",
                sorted(paths),
                f"missing series {missing} that the formula {self.formula!r} reads",
            )
        xs = {s: paths[s] for s in self.series}
        shape = jnp.shape(xs[self.series[0]])
        for s, x in xs.items():
            if len(jnp.shape(x)) != 2 or jnp.shape(x) != shape:
                raise LagnetError(
                    "target.paths",
                    f"{s}: {jnp.shape(x)}",
                    "every series must be "
                    f"an (N, L) array of one shape; {self.series[0]} is {shape}",
                )
        values = self.param_values(params)
        # The compiled function is keyed on the formulas, not on the default values.
        program = dataclasses.replace(self, _defaults=()) if self._defaults else self
        return _evaluate(program, xs, values)

    def numpy(
        self, paths: Mapping[str, Any], params: Mapping[str, Any] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``self(paths, params)`` on NumPy arrays, returned as NumPy arrays."""
        y, valid = self(paths, params)
        return np.asarray(y), np.asarray(valid)

    def __repr__(self) -> str:
        extra = f", outputs={self.outputs}" if self.outputs > 1 else ""
        extra += f", init={self.init:g}" if self.recursive and self.init else ""
        extra += f", params={self._params_arg()!r}" if self.params else ""
        return f"Target({self.formula!r}, series={self.series}, max_lag={self.max_lag}{extra})"

    def __reduce__(self) -> tuple[Any, ...]:
        # The closures do not pickle; the formulas and the initial value are the whole state.
        return (_rebuild, (self.formula, self.init, self._params_arg()))

    def _params_arg(self) -> dict[str, float] | tuple[str, ...]:
        """The ``params`` argument of :func:`compile_target` that made this target."""
        return self.defaults if self._defaults else self.params


def _rebuild(formula: str | tuple[str, ...], init: float, params: Any = None) -> Target:
    return compile_target(formula, init=init, params=params)


@functools.partial(jax.jit, static_argnums=0)
def _evaluate(
    target: Target, xs: dict[str, jax.Array], values: dict[str, jax.Array]
) -> tuple[jax.Array, jax.Array]:
    # Jitted as a whole (keyed on the formulas) because eager JAX compiles every distinct pad
    # on its own: a 200-lag sum took 28 s eagerly. Under an outer jit this simply inlines.
    n, length = xs[target.series[0]].shape
    xs = {s: x.astype(jnp.float32) for s, x in xs.items()}
    ys = []
    # Each read of a process series once, shared by every output that reads it.
    shared = {r: ref_values(r, xs[r.name]) for r in _outside(target._parts)}
    for part in target._parts:
        outside = {r: shared[r] for r in part.refs if r.name != part.name}
        consts = {Param(p): values[p] for p in part.params}  # scalars
        if part.name is None:
            y = part.expr({**outside, **consts}, jnp)
            y = jnp.broadcast_to(jnp.asarray(y, jnp.float32), (n, length))
        else:
            own = [r for r in part.refs if r.name == part.name]
            y = recurse(part.expr, own, outside, target.init, n, length, consts)
        ys.append(y)  # (N, L)
    valid = jnp.arange(length) >= target.warmup  # (L,)
    y = jnp.where(valid[None, :, None], jnp.stack(ys, axis=-1), 0.0)  # (N, L, O)
    return y, valid


def _outside(parts: Sequence[Part]) -> set[Ref]:
    """The reads of process series (not of a recursive output's own past) of all parts."""
    return {r for p in parts for r in p.refs if r.name != p.name}


def _check_cost(parts: Sequence[Part], formula: Any) -> None:
    """Refuse a target that would take too long to trace (and compile): see MAX_COST."""
    outside = _outside(parts)
    cost = sum(p.ops for p in parts) + sum(map(trace_cost, outside))
    cost += sum(2 for p in parts for r in p.refs if r.name == p.name)
    if cost > MAX_COST:
        windows = sum(r.op != "at" for r in outside)
        raise LagnetError(
            _FIELD,
            formula_text(formula),
            f"too costly to compute: about {cost} array operations, the limit is {MAX_COST} "
            f"({windows} distinct windows and ewms, each a few dozen to a few hundred) — "
            "use fewer windows, outputs or terms",
        )


def compile_target(
    formula: str | Sequence[str],
    series: Sequence[str] | None = None,
    *,
    init: float = 0.0,
    params: Mapping[str, float] | Sequence[str] | None = None,
) -> Target:
    """Parse and check ``formula`` — one string, or a list with one formula per output;
    ``series`` lists the names that exist (None: any name); ``init`` is the value of a
    recursive target before t = 0; ``params`` the formula's parameters, ``{name: default}``
    or just their names (every call must then give their values).

    Raises :class:`LagnetError` on field ``target.formula`` (``target.formula[i]`` for the
    i-th of a list), naming the token and its column, on ``target.init``, or on
    ``target.params.<name>`` (a bad name or value, a series' name, a parameter no formula
    reads).
    """
    if isinstance(formula, str):
        items, fields = [formula], [_FIELD]
    elif isinstance(formula, (list, tuple)):
        items, fields = list(formula), [f"{_FIELD}[{i}]" for i in range(len(formula))]
        if not items or len(items) > MAX_OUTPUTS:
            raise LagnetError(
                _FIELD,
                items,
                f"a list of formulas needs 1 to {MAX_OUTPUTS} entries, got {len(items)}",
            )
    else:
        raise LagnetError(
            _FIELD, formula, f"must be a string or a list of strings, got {type(formula).__name__}"
        )
    if isinstance(init, bool) or not isinstance(init, numbers.Real) or not abs(init) <= FLOAT32_MAX:
        raise LagnetError("target.init", init, "must be a finite number within float32's range")
    known = None if series is None else frozenset(series)
    declared = check_params(params)
    for name, value in declared.items():
        if known is not None and name in known:
            raise LagnetError(
                f"{PARAMS_FIELD}.{name}",
                value,
                f"is a series of the process ({', '.join(sorted(known))}) — a parameter "
                "needs a name of its own",
            )
    names = frozenset(declared)
    parts: list[Part] = []
    for f, name in zip(items, fields):
        parts.append(compile_formula(f, known, name, names))
        _check_cost(parts, formula)  # after each: 64 long formulas take a second to parse
    unused = sorted(names - {p for part in parts for p in part.params})
    if unused:
        raise LagnetError(
            f"{PARAMS_FIELD}.{unused[0]}",
            declared[unused[0]],
            f"is not used by the formula {formula_text(formula)!r} — a typo?",
        )
    refs = [r for p in parts for r in p.refs]
    max_lag = max(r.extent for r in refs)
    recursive = any(p.name is not None for p in parts)
    return Target(
        formula=formula if isinstance(formula, str) else tuple(items),
        series=tuple(sorted({r.name for p in parts for r in p.refs if r.name != p.name})),
        max_lag=max_lag,
        outputs=len(parts),
        warmup=max_lag + 1 if recursive else max_lag,
        init=float(init),
        params=tuple(declared),
        _defaults=tuple((k, v) for k, v in declared.items() if v is not None),
        _parts=tuple(parts),
    )


def formula_text(formula: str | Sequence[str]) -> str:
    """A target's formula (one string, or one per output) as one line."""
    return formula if isinstance(formula, str) else "; ".join(formula)
