"""Closed-form learners and ``--model auto``: fits that take seconds and no gradient loop.

``fit_closed_form`` fits an echo state network's ridge read-out or a sparse polynomial NARX
on one fixed training sample; ``fit_auto`` fits both, then a GRU with the rest of the time
budget, and keeps whichever does best on the run's validation set. Both return the same
``FitResult`` as the gradient loop (``training.fit`` hands these kinds over to this module),
so evaluation, saving and reports need not know how a model was fitted.

Legend: N paths, L time steps, C input channels, O outputs.
"""

from __future__ import annotations

import time
from typing import Iterable

import numpy as np

from lagnet.config import RunConfig
from lagnet.errors import LagnetError
from lagnet.models import Normalised, default_window, identity_scaling, predict
from lagnet.models.esn import draw_reservoir, fit_readout
from lagnet.models.narx import fit_narx
from lagnet.tasks import Task
from lagnet.training import (HISTORY_COLUMNS, Callback, FitResult, fit_scales, pilot_sample,
                             run_keys, validation_set)

AUTO_SECONDS = 60.0  # the whole ``auto`` budget when train.max_seconds is unset
AUTO_MIN_GRU_SECONDS = 2.0  # less than this left: the GRU would not get past compiling
# A closed-form candidate whose validation MSE is below this share of the target's variance
# fits to float32 rounding: no network can do better, so ``auto`` trains none.
AUTO_EXACT = 1e-9


def training_sample(cfg: RunConfig, task: Task):
    """The fixed training paths of a closed-form fit, from the run's data key:
    ``train.fixed_paths`` of them if set, else as many as the held-out sample has
    (max(pilot_paths, val_paths), 1000 at the defaults). One simulation shape then serves both,
    and the compile it costs (about a second) is paid once; 1000 paths of 101 steps give
    about 50 000 read-out rows after the default washout, 100 per weight of a 500-unit
    reservoir."""
    n = cfg.train.fixed_paths or max(cfg.train.pilot_paths, cfg.train.val_paths)
    return task.sample(run_keys(cfg.seed)[3], n, cfg.train.length)


def check_target_finite(cfg: RunConfig, held_out) -> None:
    y = held_out[1][:, held_out[2]]
    if not np.all(np.isfinite(y)):
        raise LagnetError("target.formula", cfg.target.formula,
                          "is NaN or infinite on the process's paths (sqrt or log of a negative "
                          "value, a division by zero?)")


def host(sample):
    """A sample (x, y, valid) as NumPy arrays: slicing and arithmetic on the host then compile
    nothing (each eager JAX operation compiles a kernel of its own, 0.05–0.3 s apiece on 2 busy
    cores — most of a closed-form fit's time)."""
    return tuple(np.asarray(a) for a in sample)


def validation_mse(model, data, batch: int = 256) -> float:
    """Masked MSE of ``model`` on data = (x, y, valid) — over paths, outputs and valid steps,
    as the gradient loop's validation computes it — ``batch`` paths at a time (an ESN's states
    are N·L·H floats), the batch evaluation uses, so the compiled prediction is shared."""
    x, y, valid = host(data)
    sse = sum(float(np.sum((np.asarray(predict(model, x[i:i + batch]), np.float64)
                            - y[i:i + batch])[:, valid] ** 2))
              for i in range(0, x.shape[0], batch))
    return sse / (x.shape[0] * int(valid.sum()) * y.shape[2])


def _one_row(seconds: float, loss: float, val_mse: float, y_var: float) -> dict[str, list]:
    row = dict(step=1, seconds=seconds, lr=float("nan"), loss=loss, val_mse=val_mse,
               val_r2=1.0 - val_mse / y_var if y_var > 0 else float("nan"))
    return {k: [row[k]] for k in HISTORY_COLUMNS}


def fit_closed_form(cfg: RunConfig, task: Task, callbacks: Iterable[Callback] = ()) -> FitResult:
    """Fit ``cfg.model.kind`` (``esn`` or ``narx``) in one pass over a fixed training sample.

    esn: draw the reservoir from the run's init key, normalise inputs and targets with the
    scalings ``fit`` would use, fit the ridge read-out. narx: FROLS on the raw data (identity
    scalings: the fitted polynomial is in the user's units). The history is one row: training
    MSE (``loss``, from the fit's own sums) and validation MSE."""
    t0 = time.perf_counter()
    m = cfg.model
    held_out = host(pilot_sample(cfg, task))
    check_target_finite(cfg, held_out)
    x, y, valid = host(training_sample(cfg, task))
    if m.kind == "esn":
        scales = fit_scales(task, cfg, held_out)
        x_mean, x_std, y_mean, y_std = (np.asarray(s) for s in scales)
        net = draw_reservoir(m, task.c_in, task.c_out, run_keys(cfg.seed)[0])
        net, details = fit_readout(net, (x - x_mean) / x_std, (y - y_mean) / y_std, valid,
                                   ridge=m.ridge, washout=m.washout, chunk=cfg.train.batch)
        model = Normalised(net, *scales)
        details.update(ridge=m.ridge, washout=m.washout)
        loss = details.pop("train_mse") * float(np.mean(np.asarray(y_std) ** 2))  # user's units
    elif m.kind == "narx":
        window = default_window(m, task.memory_hint)
        net, details = fit_narx(x, y, valid, window=window, degree=m.narx_degree,
                                max_terms=m.narx_terms, tol=m.narx_tol)
        model = Normalised(net, *identity_scaling(task.c_in), *identity_scaling(task.c_out))
        details.update(window=window, formula=net.formula(task.inputs))
        loss = details.pop("train_mse")
    else:  # pragma: no cover — training.fit dispatches only closed-form kinds here
        raise ValueError(f"model.kind: {m.kind!r} is not fitted in closed form")

    val_set = validation_set(cfg, task, held_out)
    val = validation_mse(model, val_set)
    y_var = float(np.var(val_set[1][:, val_set[2]]))
    seconds = time.perf_counter() - t0
    history = _one_row(seconds, loss, val, y_var)
    for cb in callbacks:
        cb(dict({k: v[0] for k, v in history.items()}, planned=1, steps_per_s=0.0))
    info = dict(kind=m.kind, steps=0, seconds=seconds, sequences=int(x.shape[0]),
                stopped="closed form", ms_per_step=None, best_step=None, best_val_mse=val,
                divergences=0, **details)
    return FitResult(model=model, history=history, info=info)


def fit_auto(cfg: RunConfig, task: Task, callbacks: Iterable[Callback] = ()) -> FitResult:
    """Fit narx and esn (seconds), then a GRU with what is left of ``train.max_seconds``
    (``AUTO_SECONDS`` when unset); keep the best on the validation set.

    Every candidate is recorded in ``info["candidates"]`` (kind, validation MSE, seconds, and
    why it was skipped or failed, if it was). A candidate that cannot run on this task (a
    washout longer than the paths, too many NARX terms) is recorded and passed over. The GRU is
    skipped when a closed-form fit is already exact to float32 rounding, or no time is left."""
    from lagnet.training import fit

    t0 = time.perf_counter()
    budget = cfg.train.max_seconds or AUTO_SECONDS
    held_out = host(pilot_sample(cfg, task))
    check_target_finite(cfg, held_out)
    val_set = validation_set(cfg, task, held_out)
    y_var = float(np.var(val_set[1][:, val_set[2]]))

    def variant(kind: str, **train) -> RunConfig:
        return cfg.model_copy(update=dict(model=cfg.model.model_copy(update=dict(kind=kind)),
                                          train=cfg.train.model_copy(update=train)))

    candidates: list[dict] = []
    best: FitResult | None = None

    def consider(kind: str, run) -> None:
        nonlocal best
        start = time.perf_counter()
        try:
            result = run()
        except LagnetError as e:
            candidates.append(dict(kind=kind, val_mse=None, seconds=time.perf_counter() - start,
                                   note=f"failed: {e}"))
            return
        result.info.setdefault("kind", kind)
        val = validation_mse(result.model, val_set)
        candidates.append(dict(kind=kind, val_mse=val, seconds=time.perf_counter() - start))
        if best is None or val < best.info["best_val_mse"]:
            result.info["best_val_mse"] = val
            best = result

    for kind in ("narx", "esn"):
        consider(kind, lambda kind=kind: fit_closed_form(variant(kind), task))
    left = budget - (time.perf_counter() - t0)
    exact = best is not None and best.info["best_val_mse"] <= AUTO_EXACT * y_var
    if exact:
        candidates.append(dict(kind="gru", val_mse=None, seconds=0.0,
                               note=f"skipped: {best.info['kind']} is exact to float32 rounding"))
    elif left < AUTO_MIN_GRU_SECONDS:
        candidates.append(dict(kind="gru", val_mse=None, seconds=0.0,
                               note=f"skipped: {left:.1f} s of the {budget:g} s budget left"))
    else:
        consider("gru", lambda: fit(variant("gru", max_seconds=left), task, callbacks))
    if best is None:
        raise LagnetError("model.kind", "auto", "no candidate could be fitted: "
                          + "; ".join(f"{c['kind']} {c.get('note', '')}" for c in candidates))
    winner = best.info["kind"]
    for c in candidates:
        c["kept"] = c["kind"] == winner and c["val_mse"] is not None
    info = dict(best.info, kind=winner, selected_by="auto", candidates=candidates,
                seconds=time.perf_counter() - t0)
    return FitResult(model=best.model, history=best.history, info=info)

