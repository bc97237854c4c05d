"""Evaluate a saved run again: on another test set or against another formula
(``lagnet eval RUN_DIR``), recorded in the run directory."""

from __future__ import annotations

import re
from contextlib import contextmanager
from pathlib import Path

from lagnet.config import merge
from lagnet.errors import LagnetError
from lagnet.evaluation import evaluate
from lagnet.records import record_evaluation
from lagnet.runs import load
from lagnet.tasks import build_task

# evaluate_run's arguments, by the config field they set
_ARGUMENTS = {"eval.seed": "seed", "eval.test_paths": "paths", "train.length": "length"}


@contextmanager
def named_as_given(values: dict):
    """Bad input in ``values`` (config field -> value, None where not given) is named as the
    caller gave it: ``paths: -1``, not ``eval.test_paths: -1``."""
    try:
        yield
    except LagnetError as e:
        if e.field in _ARGUMENTS and values.get(e.field) is not None:
            raise LagnetError(_ARGUMENTS[e.field], e.value, e.reason) from None
        if e.field in _ARGUMENTS:  # the run's own value: the option that changes it is named
            name = _ARGUMENTS[e.field]
            raise LagnetError(
                name, e.value, f"{e.reason} (the run's {name}: give another)"
            ) from None
        raise


def evaluate_run(
    run_dir: str | Path,
    formula=None,
    *,
    paths: int | None = None,
    length: int | None = None,
    seed: int | None = None,
):
    """Evaluate a saved run again — on another test set (``paths``, ``length``, ``seed``;
    default the run's) or against another ``formula`` — and record it in the run directory
    (``evaluations.json``), so that the doctor can tell when training and evaluation targets
    differ. Returns (the config evaluated, the :class:`~lagnet.evaluation.Evaluation`)."""
    r = load(run_dir)
    params = r.config.target.params
    if formula is not None and params:  # keep the parameters the other formula reads
        text = " ".join([formula] if isinstance(formula, str) else list(formula))
        used = {k: v for k, v in params.items() if re.search(rf"\b{re.escape(k)}\b", text)}
        r.config = r.config.model_copy(
            update=dict(target=r.config.target.model_copy(update=dict(params=used)))
        )
    values = {
        "target.formula": formula,
        "eval.seed": seed,
        "eval.test_paths": paths,
        "train.length": length,
    }
    with named_as_given(values):
        cfg, _ = merge(r.config, values)
        task, cfg = _task_fitting_the_data(cfg)
        c_out = int(r.model.y_mean.shape[0])
        if task.c_out != c_out:
            raise LagnetError(
                "target.formula",
                cfg.target.formula,
                f"has {task.c_out} output(s); the model has {c_out}",
            )
        ev = evaluate(r.model, task, cfg.eval, cfg.train.length)
    record_evaluation(
        run_dir,
        cfg.target.formula,
        ev.metrics,
        paths=cfg.eval.test_paths,
        length=cfg.train.length,
        seed=cfg.eval.seed,
    )
    return cfg, ev


def _task_fitting_the_data(cfg):
    """The task to evaluate on, and its config. Observed data whose test part cannot hold a
    long-horizon window of ``eval.long_factor`` test lengths (a longer ``--length``) gets the
    largest factor it holds (at least 2): ``lagnet eval`` has no ``--set`` to lower it by
    hand, and it refused, naming eval.long_factor."""
    try:  # the model is fitted: its washout is spent
        return build_task(cfg, fitting=False), cfg
    except LagnetError as e:
        limit = getattr(e, "limit", None)
        if e.field != "eval.long_factor" or limit is None:
            raise
    length = cfg.train.length
    if limit // length < 2:
        raise LagnetError(
            "train.length",  # named `length`, as eval's option, by named_as_given
            length,
            f"leaves no room for the long-horizon check: the data's test part holds {limit} "
            f"steps without a gap, twice the length ({2 * length}) are needed",
        )
    cfg, _ = merge(cfg, {"eval.long_factor": limit // length})
    return build_task(cfg, fitting=False), cfg
