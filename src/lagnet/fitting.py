"""``fit(config, task)``: the one entry point that fits any model family.

A gradient-trained family goes to the gradient loop (:mod:`lagnet.training`); a closed-form
family (an echo state network's ridge read-out, a sparse polynomial NARX) is fitted here in one
pass over a fixed training sample; a chooser (``auto``) fits each of its candidates — the
closed-form ones first, then the gradient-trained ones with the rest of the time budget — and
keeps whichever does best on the run's validation set. All return the same ``FitResult``, so
evaluation, saving and reports need not know how a model was fitted.

Legend: N paths, L time steps, C input channels, O outputs.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable

import numpy as np

from lagnet.config import RunConfig
from lagnet.errors import LagnetError
from lagnet.models import Normalised, family, identity_scaling, model_config
from lagnet.models.family import FitData, switch_kind
from lagnet.samples import (
    HISTORY_COLUMNS,
    Callback,
    FitResult,
    check_target_finite,
    choice_score,
    drop_nonfinite,
    error_share,
    fit_scales,
    host,
    output_vars,
    pilot_sample,
    run_keys,
    share_r2,
    training_sample,
    validation_mses,
    validation_set,
)
from lagnet.tasks import Task
from lagnet.training import train

AUTO_SECONDS = 60.0  # a chooser's whole budget when train.max_seconds is unset
AUTO_CLOSED_SHARE = 0.25  # of the budget, for each closed-form candidate's search and fit
AUTO_MIN_GRU_SECONDS = 2.0  # less than this left: a network would not get past compiling
# A closed-form candidate whose validation MSE is below this share of the target's variance
# fits to float32 rounding: no network can do better, so ``auto`` trains none.
AUTO_EXACT = 1e-9


def fit(
    cfg: RunConfig, task: Task, callbacks: Iterable[Callback] = (), checkpoint=None
) -> FitResult:
    """Fit the model ``cfg.model`` describes on ``task``, whichever way its family is fitted.
    ``checkpoint`` (a :class:`lagnet.training.Checkpoint`): where a gradient-trained run keeps
    what it needs to resume; a closed-form fit takes seconds and keeps none."""
    fam = family(cfg.model.kind)
    if fam.trained:
        return train(cfg, task, callbacks, checkpoint)
    if fam.closed_form:
        return fit_closed_form(cfg, task, callbacks)
    return fit_chooser(cfg, task, callbacks)


def _one_row(seconds: float, loss: float, val_mse: float, share: float) -> dict[str, list]:
    row = dict(
        step=1,
        seconds=seconds,
        lr=float("nan"),
        loss=loss,
        val_mse=val_mse,
        val_r2=1.0 - share,  # NaN when no output varies
    )
    return {k: [row[k]] for k in HISTORY_COLUMNS}


def fit_closed_form(cfg: RunConfig, task: Task, callbacks: Iterable[Callback] = ()) -> FitResult:
    """Fit a closed-form family in one pass over a fixed training sample, normalised with the
    scalings the gradient loop would use (identity for a family that works in the user's units,
    such as NARX, whose fitted polynomial then reads in them). The history is one row: training
    MSE (``loss``, from the fit's own sums) and validation MSE."""
    t0 = time.perf_counter()
    m = cfg.model
    fam = family(m.kind)
    held_out = host(pilot_sample(cfg, task))
    check_target_finite(cfg, held_out)
    held_out = drop_nonfinite(held_out)
    x, y, valid = drop_nonfinite(host(training_sample(cfg, task)))
    if fam.raw_units:
        scales = (*identity_scaling(task.c_in), *identity_scaling(task.c_out))
    else:
        scales = fit_scales(task, cfg, held_out)
    x_mean, x_std, y_mean, y_std = (np.asarray(s) for s in scales)
    val_set = validation_set(cfg, task, held_out)
    data = FitData(
        x=(x - x_mean) / x_std,
        y=(y - y_mean) / y_std,
        valid=valid,
        key=run_keys(cfg.seed)[0],
        memory_hint=task.memory_hint,
        inputs=task.inputs,
        batch=cfg.train.batch,
        val=((val_set[0] - x_mean) / x_std, (val_set[1] - y_mean) / y_std),
        seconds=cfg.train.max_seconds,
    )
    net, details = fam.fit(m, data)
    model = Normalised(net, *scales)
    loss = details.pop("train_mse") * float(np.mean(y_std**2))  # in the user's units
    mses = validation_mses(model, val_set)
    val = float(np.mean(mses))
    seconds = time.perf_counter() - t0
    share = error_share(mses, output_vars(val_set))
    history = _one_row(seconds, loss, val, share)
    for cb in callbacks:
        cb(dict({k: v[0] for k, v in history.items()}, planned=1, steps_per_s=0.0))
    info = dict(
        kind=m.kind,
        steps=0,
        seconds=seconds,
        sequences=int(details.pop("paths", x.shape[0])),  # a budget may fit fewer
        stopped="closed form",
        ms_per_step=None,
        best_step=None,
        best_val_mse=val,
        best_val_r2=share_r2(share),
        divergences=0,
        **details,
    )
    return FitResult(model=model, history=history, info=info)


def fit_chooser(cfg: RunConfig, task: Task, callbacks: Iterable[Callback] = ()) -> FitResult:
    """Fit each of the chooser's candidate families: the closed-form ones (seconds), then the
    gradient-trained ones with what is left of ``train.max_seconds`` (``AUTO_SECONDS`` when
    unset); keep the best on the validation set.

    Every candidate is recorded in ``info["candidates"]`` (kind, validation MSE, seconds, and
    why it was skipped or failed, if it was). A candidate that cannot run on this task (a
    washout longer than the paths, too many NARX terms) is recorded and passed over. Networks
    are skipped when a closed-form fit is already exact to float32 rounding, or no time is
    left. Each candidate keeps the settings of the chooser's config that it has."""
    t0 = time.perf_counter()
    budget = cfg.train.max_seconds or AUTO_SECONDS
    held_out = host(pilot_sample(cfg, task))
    check_target_finite(cfg, held_out)
    held_out = drop_nonfinite(held_out)
    val_set = validation_set(cfg, task, held_out)
    variances = output_vars(val_set)

    def variant(kind: str, **train_settings) -> RunConfig:
        model = model_config(switch_kind(cfg.model.model_dump(), kind)[0])
        return cfg.model_copy(
            update=dict(model=model, train=cfg.train.model_copy(update=train_settings))
        )

    candidates: list[dict] = []
    best: FitResult | None = None
    best_share = math.inf  # the kept candidate's error as a share of each output's variance

    def consider(kind: str, run) -> None:
        nonlocal best, best_share
        start = time.perf_counter()
        try:
            result = run()
        except LagnetError as e:
            candidates.append(
                dict(
                    kind=kind,
                    val_mse=None,
                    seconds=time.perf_counter() - start,
                    note=f"failed: {e}",
                )
            )
            return
        result.info.setdefault("kind", kind)
        mses = validation_mses(result.model, val_set)
        val = float(np.mean(mses))
        share = choice_score(val, error_share(mses, variances))
        candidates.append(dict(kind=kind, val_mse=val, seconds=time.perf_counter() - start))
        if best is None or share < best_share:  # outputs weighted alike, as training weighs them
            result.info["best_val_mse"], best_share = val, share
            result.info["best_val_r2"] = share_r2(error_share(mses, variances))
            best = result

    kinds = family(cfg.model.kind).candidates
    closed = [k for k in kinds if family(k).closed_form]
    trained = [k for k in kinds if not family(k).closed_form]
    share = AUTO_CLOSED_SHARE * budget  # each closed-form candidate's: a search keeps to it
    for kind in closed:
        consider(kind, lambda kind=kind: fit_closed_form(variant(kind, max_seconds=share), task))
    for i, kind in enumerate(trained):
        left = (budget - (time.perf_counter() - t0)) / (len(trained) - i)
        if best is not None and best_share <= AUTO_EXACT:
            candidates.append(
                dict(
                    kind=kind,
                    val_mse=None,
                    seconds=0.0,
                    note=(f"skipped: {best.info['kind']} is exact to float32 rounding"),
                )
            )
        elif left < AUTO_MIN_GRU_SECONDS:
            candidates.append(
                dict(
                    kind=kind,
                    val_mse=None,
                    seconds=0.0,
                    note=f"skipped: {left:.1f} s of the {budget:g} s budget left",
                )
            )
        else:
            consider(
                kind,
                lambda kind=kind, left=left: fit(variant(kind, max_seconds=left), task, callbacks),
            )
    if best is None:
        raise LagnetError(
            "model.kind",
            cfg.model.kind,
            "no candidate could be fitted: "
            + "; ".join(f"{c['kind']} {c.get('note', '')}" for c in candidates),
        )
    winner = best.info["kind"]
    for c in candidates:
        c["kept"] = c["kind"] == winner and c["val_mse"] is not None
    info = dict(
        best.info,
        kind=winner,
        selected_by=cfg.model.kind,
        candidates=candidates,
        seconds=time.perf_counter() - t0,
    )
    return FitResult(model=best.model, history=best.history, info=info)
