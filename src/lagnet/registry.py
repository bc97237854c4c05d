"""Named tasks: a process, a target, the inputs the model sees and a recommended length, each
with a one-line description and the reference it comes from.

``lagnet tasks`` lists them; ``lagnet train --task narma10`` trains one; a task with parameters
takes them in call form, ``--task "ar1-square-lag(w=0.5)"``. A task is only a starting config:
anything else can still be overridden (``--set train.steps=…``, ``--model …``).

>>> cfg = task_config("memory-k(k=5)")
>>> cfg.target.formula
'x[t-5]'
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lagnet.config import RunConfig, make_config
from lagnet.errors import LagnetError

__all__ = ["TASKS", "TaskSpec", "parse_task", "task_config"]


# Every task's recommended training budget (override with --max-seconds or --set).
RECOMMENDED_SECONDS = 60.0


@dataclass(frozen=True)
class TaskSpec:
    """One named task. ``build(params)`` returns the config dict (process, target, train…);
    ``params`` are the task's parameters with their defaults (numbers only)."""

    name: str
    description: str
    reference: str
    build: Callable[[dict[str, float]], dict[str, Any]]
    params: dict[str, float] = field(default_factory=dict)
    # Model settings recommended when the task is trained with another family than its own
    # (family -> {setting: value}), e.g. the window a window MLP needs on NARMA-10.
    families: dict[str, dict[str, Any]] = field(default_factory=dict)

    def config(self, **params: float) -> RunConfig:
        unknown = sorted(set(params) - set(self.params))
        if unknown:
            known = ", ".join(self.params) or "none"
            raise LagnetError(
                f"task.{unknown[0]}",
                params[unknown[0]],
                f"unknown parameter for {self.name} (known: {known})",
            )
        values = {**self.params, **params}
        data = self.build(values)
        data.setdefault("name", self.name)
        data.setdefault("train", {}).setdefault("max_seconds", RECOMMENDED_SECONDS)
        return make_config(data)


def _int_param(values: dict[str, float], name: str, low: int, high: int) -> int:
    v = values[name]
    if not math.isfinite(v) or float(v) != int(v) or not low <= int(v) <= high:
        raise LagnetError(f"task.{name}", v, f"must be a whole number in [{low}, {high}]")
    return int(v)


def _ar1_square_lag(v: dict[str, float]) -> dict[str, Any]:
    return {
        "process": "ar1(rho=0.1)",
        "target": {"formula": f"x[t]**2 + {v['w']!r}*x[t-1]**2", "inputs": ["x"]},
        "train": {"length": 101},
    }


def _narma(
    order: int, coefs: str = "", model: dict | None = None
) -> Callable[[dict[str, float]], dict[str, Any]]:
    def build(v: dict[str, float]) -> dict[str, Any]:
        return {
            "process": f"narma(order={order}{coefs})",
            "target": {"formula": "y[t]", "inputs": ["u"]},
            "model": model or {"kind": "window", "window": 5 * order},
            "train": {"length": 200},
        }

    return build


def _adding(v: dict[str, float]) -> dict[str, Any]:
    length = _int_param(v, "length", 4, 10_000)
    return {
        "process": f"adding(markers=2, span={length // 2})",
        "target": {"formula": "s[t] = s[t-1] + v[t]*m[t]", "inputs": ["v", "m"]},
        "train": {"length": length},
    }


def _memory_k(v: dict[str, float]) -> dict[str, Any]:
    k = _int_param(v, "k", 0, 1000)
    return {
        "process": "normal()",
        "target": {"formula": f"x[t-{k}]", "inputs": ["x"]},
        "train": {"length": max(100, 4 * k)},
    }


def _garch_vol(v: dict[str, float]) -> dict[str, Any]:
    return {
        "process": "garch(omega=0.05, alpha=0.1, beta=0.85)",
        "target": {"formula": "sigma2[t]", "inputs": ["r"]},
        "train": {"length": 200},
    }


def _sv_filter(v: dict[str, float]) -> dict[str, Any]:
    return {
        "process": "sv(mu=0.0, phi=0.95, sigma_eta=0.3)",
        "target": {"formula": "h[t]", "inputs": ["r"]},
        "train": {"length": 200},
    }


def _regime_filter(v: dict[str, float]) -> dict[str, Any]:
    return {
        "process": "regime(P=[[0.95, 0.05], [0.05, 0.95]], mu=[-1.0, 1.0], "
        "rho=[0.5, 0.5], sigma=[0.7, 0.7])",
        "target": {"formula": "regime[t]", "inputs": ["x"]},
        "train": {"length": 200},
    }


def _noisy_ar_filter(v: dict[str, float]) -> dict[str, Any]:
    return {
        "process": "noisy(rho=0.9, sigma=1.0, noise=1.0)",
        "target": {"formula": "s[t]", "inputs": ["x"]},
        "train": {"length": 200},
    }


def _delayed_xor(v: dict[str, float]) -> dict[str, Any]:
    a, b = _int_param(v, "a", 0, 1000), _int_param(v, "b", 0, 1000)
    if a == b:
        raise LagnetError(
            "task.b", v["b"], "must differ from a (the XOR of a bit with itself is 0)"
        )
    return {
        "process": "normal()",
        "target": {"formula": f"(x[t-{a}] > 0) != (x[t-{b}] > 0)", "inputs": ["x"]},
        "train": {"length": max(100, 4 * max(a, b))},
    }


TASKS: dict[str, TaskSpec] = {
    t.name: t
    for t in [
        TaskSpec(
            "ar1-square-lag",
            "x_t² + w·x_{t-1}² of an AR(1) with ρ = 0.1 — the forum task",
            "the forum post behind lagnet",
            _ar1_square_lag,
            {"w": 0.1},
        ),
        TaskSpec(
            "narma10",
            "NARMA-10 output from its uniform input (10-step nonlinear memory)",
            "Atiya & Parlos 2000, IEEE Trans. Neural Networks 11(3)",
            # measured on 2 cores (benchmarks/README.md), 60 s: a GRU sized by the budget
            # table (32 units, batch 32) reaches NRMSE 0.03, a window of 50 inputs 0.07
            _narma(10, model={"kind": "gru"}),
            families={"window": {"window": 50}},
        ),
        TaskSpec(
            "narma30",
            "NARMA-30 output from its uniform input (30-step nonlinear memory)",
            "Atiya & Parlos 2000, IEEE Trans. Neural Networks 11(3); the order-20/30 "
            "coefficients 0.2, 0.004, 1.5, 0.001 (the order-10 ones have no equilibrium at 30)",
            # a window of 5·order inputs: NRMSE 0.05 in 60 s (benchmarks/README.md)
            _narma(30, ", a=0.2, b=0.004, c=1.5, d=0.001"),
        ),
        TaskSpec(
            "adding",
            "running sum of the values marked by two markers in the first half",
            "Hochreiter & Schmidhuber 1997, Neural Computation 9(8)",
            _adding,
            {"length": 100},
        ),
        TaskSpec(
            "memory-k",
            "recall the input k steps back (short-term memory)",
            "Jaeger 2001, GMD Report 152 (short-term memory capacity)",
            _memory_k,
            {"k": 10},
        ),
        TaskSpec(
            "garch-vol",
            "GARCH(1,1) conditional variance σ²_t from past returns",
            "Bollerslev 1986, J. Econometrics 31(3)",
            _garch_vol,
        ),
        TaskSpec(
            "sv-filter",
            "log-volatility h_t of a stochastic-volatility model from returns",
            "Taylor 1986; Kim, Shephard & Chib 1998, Rev. Econ. Studies 65(3)",
            _sv_filter,
        ),
        TaskSpec(
            "regime-filter",
            "the hidden regime of a two-state Markov-switching AR(1)",
            "Hamilton 1989, Econometrica 57(2)",
            _regime_filter,
        ),
        TaskSpec(
            "noisy-ar-filter",
            "the clean AR(1) signal under measurement noise (Kalman filtering)",
            "Kalman 1960, J. Basic Engineering 82(1)",
            _noisy_ar_filter,
        ),
        TaskSpec(
            "delayed-xor",
            "XOR of the signs of x_{t-a} and x_{t-b} (nonlinear memory)",
            "a delayed-XOR memory task, as in Jaeger 2001 / Bertschinger & Natschläger 2004",
            _delayed_xor,
            {"a": 2, "b": 5},
        ),
    ]
}


def parse_task(spec: str) -> tuple[TaskSpec, dict[str, float]]:
    """``"name"`` or ``"name(param=value, …)"`` → the task and its parameters. Parsed by ``ast``
    and read through a whitelist (numbers only); never evaluated."""
    if not isinstance(spec, str) or not spec.strip():
        raise LagnetError("task", spec, "expected a task name (see `lagnet tasks`)")
    text = spec.strip()
    name, _, rest = text.partition("(")
    name = name.strip()
    task = TASKS.get(name)
    if task is None:
        raise LagnetError("task", spec, f"unknown task (known: {', '.join(TASKS)})")
    params: dict[str, float] = {}
    if rest:
        try:
            call = ast.parse(text.replace(name, "f", 1), mode="eval").body
        except SyntaxError:
            raise LagnetError("task", spec, "expected name(param=value, …)") from None
        if not isinstance(call, ast.Call) or call.args:
            raise LagnetError("task", spec, "parameters must be given by name: name(param=value)")
        for kw in call.keywords:
            node = kw.value
            negative = isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub)
            if negative:
                node = node.operand
            if kw.arg is None:
                raise LagnetError(
                    "task", spec, "parameters must be given by name: name(param=value)"
                )
            if (
                not isinstance(node, ast.Constant)
                or isinstance(node.value, bool)
                or not isinstance(node.value, (int, float))
            ):
                raise LagnetError(f"task.{kw.arg}", ast.unparse(kw.value), "must be a number")
            # as given (an int stays one): an error shows ``k: -1``, not ``k: -1.0``
            params[kw.arg] = -node.value if negative else node.value
    return task, params


def family_settings(spec: str, kind: str | None) -> dict[str, Any]:
    """The task's recommended settings for family ``kind`` as dotted fields
    (``{"model.window": 50}`` for ``narma10`` and ``window``); {} when it has none."""
    task, _ = parse_task(spec)
    return {f"model.{k}": v for k, v in task.families.get(kind or "", {}).items()}


def task_config(spec: str) -> RunConfig:
    """The starting config of a named task (``"narma10"``, ``"memory-k(k=20)"``)."""
    task, params = parse_task(spec)
    return task.config(**params)
