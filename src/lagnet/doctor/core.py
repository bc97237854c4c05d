"""``diagnose(run_dir)``: run every diagnostic on a trained run; ``write`` puts the result
into the run directory (``doctor.json``, ``plots/doctor_*.png``, the report's Doctor
section); ``fix`` trains once more with the suggested changes and compares.

One fresh sample of the run's task, longer than the largest lag tried, serves the lag oracle
(first half to fit, second half to score), the memory probe and the gradient flow; a second,
``eval.long_factor`` times the training length, serves the long-horizon check. Both come from
the ``seed`` given here, independent of the run's training and test seeds.

Legend: N paths, L time steps, C input channels, O outputs.

Example::

    >>> d = diagnose("runs/forum", quick=True)
    >>> d.doc["verdict"]["primary"], d.doc["memory"]
    ('receptive_field', {'true': 5, 'needed': 5, 'effective': 0, ...})
    >>> write(d)          # doctor.json, plots, report.html
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import jax
import numpy as np

from lagnet.capacity import measure as memory_capacity
from lagnet.config import RunConfig, merge
from lagnet.doctor import checks, flow, memory
from lagnet.doctor import findings as fnd
from lagnet.doctor.verdict import compose
from lagnet.evaluation import per_step_mse
from lagnet.files import write_json
from lagnet.models import Normalised, batched, build_net, family, predict_batched
from lagnet.notebook import diagnosis_html
from lagnet.records import finite_json, read_evaluations
from lagnet.runs import check_out_dir, load, run
from lagnet.samples import run_keys
from lagnet.targets import formula_text
from lagnet.tasks import build_task

DOCTOR_JSON = "doctor.json"
KMAX_CAP = 96  # the oracle's longest look-back (its cost grows with the lags' count)


@dataclass(frozen=True)
class Budget:
    """Sample sizes: rows for the oracle's fit and test halves, paths for the gradients and
    the long horizon, knots per lag."""

    rows: int
    grad_paths: int
    grad_ends: int
    long_paths: int
    knots: int


FULL = Budget(rows=20_000, grad_paths=64, grad_ends=8, long_paths=200, knots=12)
QUICK = Budget(rows=4_000, grad_paths=16, grad_ends=4, long_paths=32, knots=5)


@dataclass
class Diagnosis:
    """The result: ``doc`` is what ``doctor.json`` holds; the rest is kept for ``fix``."""

    run_dir: Path
    doc: dict
    findings: list
    config: RunConfig
    metrics: dict
    _oracle_test: Any = field(default=None, repr=False)  # (x_test, y_test, t0)

    def _repr_html_(self) -> str:  # Jupyter: the verdict, memory, findings, plots
        return diagnosis_html(self)


def _predict(model, x: np.ndarray) -> np.ndarray:
    return predict_batched(model, x, batch=512, pad=True)


def _model_mse(model, x: np.ndarray, y: np.ndarray, t0: int) -> float:
    return float(np.mean((_predict(model, x)[:, t0:] - y[:, t0:]) ** 2))


def _true_lag(cfg: RunConfig, target) -> Optional[int]:
    """The formula's largest lag, when that is all the memory it needs: not recursive, and
    every series it reads is one the model sees."""
    if target.recursive or not set(target.series) <= set(cfg.target.inputs):
        return None
    return int(target.max_lag)


def diagnose(run_dir: str | os.PathLike, *, quick: bool = False, seed: int = 0) -> Diagnosis:
    """Every diagnostic on the run in ``run_dir``; nothing is written (see :func:`write`)."""
    run_dir = Path(run_dir)
    r = load(run_dir)
    cfg, model, budget = r.config, r.model, QUICK if quick else FULL
    task = build_task(cfg)
    target, length = task.target, cfg.train.length
    true_lag = _true_lag(cfg, target)
    limit = task.process.max_length
    room = (limit if limit is not None else 10**9) - 17  # longest look-back the data allows
    kmax = min(true_lag + 2 if true_lag is not None else 32, KMAX_CAP, room)
    t0 = max(kmax, target.warmup)
    big = max(length, t0 + 16)
    if limit is not None:
        big = min(big, limit)
    per_path = big - t0
    n = int(min(4000, max(32, math.ceil(budget.rows / per_path))))
    # One simulation for everything (a compile per shape is the doctor's main cost): a
    # path's first ``big`` steps are distributed as a path of ``big`` steps, so the first
    # 2N paths cut short are the oracle's sample and the rest are the long-horizon paths.
    long_len = length * cfg.eval.long_factor
    xs, ys, vs = (
        np.asarray(a)
        for a in task.sample(
            jax.random.PRNGKey(seed), 2 * n + budget.long_paths, max(big, long_len)
        )
    )
    x, y = xs[: 2 * n, :big], ys[: 2 * n, :big]  # (2N, L, C), (2N, L, O)
    x_fit, y_fit, x_test, y_test = x[:n], y[:n], x[n:], y[n:]

    # Lag oracle and memory.
    ks = memory.lag_grid(kmax, true_lag)
    oracle = memory.lag_oracle(x_fit, y_fit, x_test, y_test, ks, t0, knots=budget.knots)
    model_mse = _model_mse(model, x_test, y_test, t0)
    effective = memory.effective_memory(ks, oracle, model_mse)
    needed = memory.needed_memory(ks, oracle)

    # Memory probe.
    state_fn, skipped = memory.state_function(model, family(cfg.model.kind))
    probe = dict(k=ks, r2=None, skipped=skipped or None)
    if state_fn is not None:
        probe["r2"] = memory.memory_probe(
            batched(state_fn, x_fit, batch=512, pad=True),
            x_fit,
            batched(state_fn, x_test, batch=512, pad=True),
            x_test,
            ks,
            t0,
        )

    # Memory capacity (Jaeger 2001): past inputs the state holds, read out linearly.
    capacity = memory_capacity(r, paths=16 if quick else None, seed=seed)

    # Gradient flow through time, after training and at initialisation.
    kg = min(big - 1, max(kmax, 10))
    xg = x_test[: budget.grad_paths]
    horizon = true_lag if true_lag else max(needed, 1)
    finite = family(cfg.model.kind).finite_reach
    g_trained = flow.sensitivity_by_lag(model, xg, kg, budget.grad_ends)
    g_init = None
    if family(cfg.model.kind).trained:
        net = build_net(
            cfg.model, task.c_in, task.c_out, run_keys(cfg.seed)[0], max_lag=task.memory_hint
        )
        init = Normalised(net, model.x_mean, model.x_std, model.y_mean, model.y_std)
        g_init = flow.sensitivity_by_lag(init, xg, kg, budget.grad_ends)
    flow_trained = flow.flow_summary(g_trained, horizon, finite)
    flow_init = flow.flow_summary(g_init, horizon, finite) if g_init is not None else None

    # Error per step over a long horizon.
    xl, yl, vl = xs[2 * n :, :long_len], ys[2 * n :, :long_len], vs[:long_len]
    steps = per_step_mse(yl, _predict(model, xl), vl)
    horizon_info = flow.horizon_summary(steps, length, max(1, length // 10))
    horizon_info.update(length=long_len, train_length=length)

    valid = np.arange(big) >= target.warmup
    yv = y[:, valid]
    facts = fnd.Facts(
        cfg=cfg,
        target=target,
        metrics=r.metrics,
        history=r.history,
        evaluations=read_evaluations(run_dir),
        true_lag=true_lag,
        needed=needed,
        effective=effective,
        flow_init=flow_init,
        flow_trained=flow_trained,
        horizon=horizon_info,
        x_std=float(x.std()),
        y_mean=float(yv.mean()),
        y_std=float(yv.std()),
    )
    found = checks.check_all(facts)
    doc = dict(
        version=1,
        quick=quick,
        seed=seed,
        run=dict(
            kind=cfg.model.kind,
            formula=formula_text(cfg.target.formula),
            test=r.metrics.get("test"),
            evaluations=facts.evaluations,
        ),
        memory=dict(
            true=true_lag,
            needed=needed,
            effective=effective,
            receptive_field=checks.receptive_field(cfg.model),
        ),
        oracle=dict(k=ks, mse=oracle, model_mse=model_mse, rows=n * per_path, t0=t0, length=big),
        probe=probe,
        memory_capacity=capacity,
        gradients=dict(
            k=list(range(kg + 1)),
            trained=g_trained,
            init=g_init,
            summary_trained=flow_trained,
            summary_init=flow_init,
        ),
        long_horizon=horizon_info,
        findings=[x.as_dict() for x in found],
        overrides=fnd.merged_overrides(found),
        verdict=compose(facts, found, kmax),
        fix=None,
    )
    return Diagnosis(
        run_dir=run_dir,
        doc=doc,
        findings=found,
        config=cfg,
        metrics=r.metrics,
        _oracle_test=(x_test, y_test, t0),
    )


# ----------------------------------------------------------------------------- writing
def write(d: Diagnosis, *, plots: bool = True) -> Path:
    """Write ``doctor.json`` (and the doctor's plots) into the run directory and re-make its
    report with the Doctor section. Returns the path of doctor.json."""
    from lagnet.report import write_report

    if plots:
        from lagnet.doctor.plots import save_doctor_plots

        save_doctor_plots(d.run_dir, d.doc)
    path = d.run_dir / DOCTOR_JSON
    write_json(path, finite_json(d.doc))
    write_report(d.run_dir)
    return path


# ----------------------------------------------------------------------------- --fix
def fixed_dir(run_dir: str | os.PathLike) -> Path:
    """Where ``--fix`` writes its run: ``<run>-fixed`` beside the original."""
    run_dir = Path(run_dir).resolve()
    return run_dir.with_name(f"{run_dir.name}-fixed")


def fixed_config(cfg: RunConfig, overrides: dict[str, Any]) -> RunConfig:
    """``cfg`` with dotted-path ``overrides`` applied (validated like any config; a remedy that
    changes the family keeps the settings the new family has)."""
    return merge(cfg, overrides)[0]


def _summary(metrics: dict, effective: Optional[int]) -> dict:
    test, lh = metrics.get("test") or {}, metrics.get("long_horizon") or {}
    return dict(
        mse=test.get("mse"),
        r2=test.get("r2"),
        memory_r2=test.get("memory_r2"),
        long_ratio=lh.get("ratio"),
        effective_memory=effective,
    )


def _same_formula(a: str, b: str) -> bool:
    return "".join(a.split()) == "".join(b.split())


def _evaluated(evaluations: list[dict], formula: str) -> dict:
    """The summary of the run's last recorded evaluation against ``formula``
    (``lagnet eval --target``): its test metrics; n/a where it has none."""
    for e in reversed(evaluations):
        if _same_formula(formula_text(e.get("formula", "")), formula):
            return _summary(dict(test=e.get("test") or {}), None)
    return _summary({}, None)


def fix_config(d: Diagnosis, max_seconds: Optional[float] = None) -> RunConfig:
    """The run's config with the diagnosis's suggested changes, and ``max_seconds`` (when
    given) as the training budget: a remedy of more steps can take minutes. The budget given
    wins over the run's and over a remedy's (one of training longer: four times the budget)."""
    overrides = dict(d.doc["overrides"])
    if max_seconds is not None:
        overrides["train.max_seconds"] = max_seconds
    return fixed_config(d.config, overrides)


def fix(
    d: Diagnosis,
    out: str | os.PathLike | None = None,
    callbacks=(),
    max_seconds: Optional[float] = None,
    started: Optional[Callable[[], None]] = None,
) -> Optional[dict]:
    """Train once more with the diagnosis's suggested changes into ``out`` (default
    ``<run>-fixed``), within ``max_seconds`` when given, and record before/after in
    ``d.doc["fix"]``. None when nothing is suggested. ``started``: as for ``run``."""
    overrides = d.doc["overrides"]
    if not overrides:
        return None
    out = check_out_dir(out if out is not None else fixed_dir(d.run_dir))
    cfg = fix_config(d, max_seconds)
    applied = dict(overrides)
    if max_seconds is not None:  # the budget given replaced a remedy's
        applied["train.max_seconds"] = max_seconds
    new = run(cfg, out, callbacks=callbacks, started=started)
    trained, fixed = (formula_text(c.target.formula) for c in (d.config, cfg))
    same_target = _same_formula(trained, fixed)
    after_eff = None
    if same_target:
        x_test, y_test, t0 = d._oracle_test
        o = d.doc["oracle"]
        after_eff = memory.effective_memory(
            o["k"], o["mse"], _model_mse(new.model, x_test, y_test, t0)
        )
        before = _summary(d.metrics, d.doc["memory"]["effective"])
    else:  # the fix trains on another target: before is the run scored on that one
        before = _evaluated(d.doc["run"].get("evaluations") or [], fixed)
    d.doc["fix"] = dict(
        dir=str(out),
        overrides=applied,
        max_seconds=max_seconds,  # the budget the caller gave the fix, None if none
        before=before,
        after=_summary(new.metrics, after_eff),
        # what the run and the fix were trained on, and what "before" was scored on: the
        # run's own target, or the fix's where the run was evaluated on it (lagnet eval
        # --target); None where it never was, and before is n/a
        targets=dict(
            run=trained,
            fix=fixed,
            before=trained if same_target else (fixed if before["mse"] is not None else None),
        ),
    )
    return d.doc["fix"]
