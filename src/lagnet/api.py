"""The Python entry point: ``lagnet.train(process=…, target=…, model=…, **options) -> Run``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from lagnet.config import EvalConfig, RunConfig, TrainConfig, merge
from lagnet.errors import LagnetError
from lagnet.models.family import all_settings
from lagnet.processes import Process, build_process
from lagnet.runs import Run
from lagnet.tracking import make_tracker, tracked_run

_TOP = ("seed", "device", "name")


def build_config(
    process: Any = None,
    target: Any = None,
    model: Any = None,
    config: RunConfig | str | Path | None = None,
    **options: Any,
) -> RunConfig:
    """Merge keyword arguments into a run config (:func:`lagnet.config.merge`). ``options``
    may name any field of the training config (steps, batch, length, lr, max_seconds, …), of
    a model family's config (hidden, layers, head, window, reservoir, …), ``inputs``,
    ``params`` (the formula's parameters, ``{"w": 0.1}``),
    ``seed``, ``device``, ``name`` or ``eval`` (a dict). Switching ``model`` to another family
    keeps only the settings that family has. Each setting is checked on its own here; how
    they fit together (the formula's series, latent ``inputs``) when the task is built
    (:func:`lagnet.tasks.build_task`, which ``train`` calls first)."""
    return resolve(process, target, model, config, **options)[0]


def resolve(
    process: Any = None,
    target: Any = None,
    model: Any = None,
    config: RunConfig | str | Path | None = None,
    **options: Any,
) -> tuple[RunConfig, list[str]]:
    """:func:`build_config` and the notes :func:`lagnet.config.merge` made on the way."""
    values: dict[str, Any] = {}
    if isinstance(process, Process):  # a ready process: record its config
        values["process"] = process.config.model_dump()
    elif process is not None:
        values["process"] = (
            process
            if isinstance(process, str)
            else _as_dict(process, "process", "a spec string, a process config or its dict")
        )
    values["target.formula"] = target
    if isinstance(model, str):
        values["model.kind"] = model
    elif model is not None:
        for k, v in _as_dict(model, "model", "a family's name, a model config or its dict").items():
            values[f"model.{k}"] = v
    for key, value in options.items():
        if key in _TOP:
            values[key] = value
        elif key == "inputs":
            values["target.inputs"] = value
        elif key == "params":  # formula parameters, merged name by name like --set
            if not isinstance(value, dict):
                raise LagnetError("target.params", value, "must map names to numbers")
            values.update({f"target.params.{k}": v for k, v in value.items()})
        elif key == "eval":
            table = _as_dict(value, "eval", "a dict of eval settings")
            values.update({f"eval.{k}": v for k, v in table.items()})
        elif key in TrainConfig.model_fields:
            values[f"train.{key}"] = value
        elif key in all_settings():
            values[f"model.{key}"] = value
        elif key in EvalConfig.model_fields:
            values[f"eval.{key}"] = value
        else:
            raise LagnetError(key, value, "unknown option")
    cfg, notes = merge(config, values)
    if not isinstance(process, Process) and cfg.process.kind not in _BUILT_LATER:
        build_process(cfg.process)  # checked now, as train would (an AR that is not stationary)
    return cfg, notes


# processes not built here: a data file is read when the run starts; a user's simulator
# cannot be rebuilt from its config
_BUILT_LATER = ("data", "custom")


def _as_dict(obj: Any, field: str, what: str) -> dict:
    if hasattr(obj, "model_dump"):
        return obj.model_dump()
    if isinstance(obj, dict):
        return dict(obj)
    raise LagnetError(field, obj, f"must be {what}")


def train(
    process: Any = None,
    target: str | None = None,
    model: Any = None,
    *,
    config: RunConfig | str | Path | None = None,
    out: str | Path | None = None,
    progress: bool = False,
    track: str | None = None,
    **options: Any,
) -> Run:
    """Train a model to learn ``target`` on paths of ``process`` and evaluate it honestly.

    Left out, ``process``, ``target`` and ``model`` come from ``config`` when one is given,
    else from the defaults, which are the forum's question: ``process="ar1(rho=0.1)"``,
    ``target="x[t]**2 + 0.1*x[t-1]**2"``, ``model="gru"``.

    ``process``: a spec string, a process config (or its dict), or a ready :class:`Process`
    such as ``CallableProcess(fn, series=[...])`` — the run uses that object, and its config
    records it (``kind = "custom"`` for a user's simulator, which cannot be rebuilt from the
    file).

    ``track="mlflow"``: log the run to MLflow (parameters, metrics at each validation, final
    metrics, report and plots; see :mod:`lagnet.tracking`).

    >>> run = lagnet.train(process="ar1(rho=0.1)", target="x[t]**2 + 0.1*x[t-1]**2",
    ...                    model="gru", max_seconds=30)
    >>> run.metrics["test"]["memory_r2"]
    """
    cfg, notes = resolve(process, target, model, config, **options)
    ready = process if isinstance(process, Process) else None
    tracker = make_tracker(track)
    if not progress:

        def said() -> None:  # the input accepted: say what was picked
            for note in notes:
                print(note, file=sys.stderr)

        return tracked_run(tracker, cfg, out, process=ready, started=said)
    from rich.markup import escape

    from lagnet.progress import ProgressBar

    with ProgressBar(cfg.train) as bar:  # the notes drawn with it, and taken away with it
        drawn = [escape(note) for note in notes]  # if the fit refuses the input
        return tracked_run(tracker, cfg, out, [bar], ready, started=lambda: bar.start(drawn))
