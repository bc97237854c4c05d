"""The Python entry point: ``lagnet.train(process=…, target=…, model=…, **options) -> Run``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lagnet.config import (EvalConfig, ModelConfig, RunConfig, TrainConfig, load_config,
                           make_config)
from lagnet.errors import LagnetError
from lagnet.processes import Process
from lagnet.runs import Run, run


def build_config(process: Any = None, target: Any = None, model: Any = None,
                 config: RunConfig | str | Path | None = None, **options: Any) -> RunConfig:
    """Merge keyword arguments into a run config. ``options`` may name any field of the
    training config (steps, batch, length, lr, max_seconds, …), of the model config (hidden,
    layers, head, head_activation, …), ``inputs``, ``seed``, ``device``, ``name`` or ``eval``."""
    if isinstance(config, (str, Path)):
        config = load_config(config)
    data = (config or RunConfig()).model_dump()
    if isinstance(process, Process):  # a ready process: record its config
        data["process"] = process.config.model_dump()
    elif process is not None:
        data["process"] = process if isinstance(process, str) else _as_dict(process)
    if target is not None:
        data["target"]["formula"] = target
    if model is not None:
        if isinstance(model, str):
            data["model"]["kind"] = model
        else:
            data["model"].update(_as_dict(model))
    for key, value in options.items():
        if key in ("seed", "device", "name"):
            data[key] = value
        elif key == "inputs":
            data["target"]["inputs"] = value
        elif key == "eval":
            data["eval"].update(_as_dict(value))
        elif key in TrainConfig.model_fields:
            data["train"][key] = value
        elif key in ModelConfig.model_fields:
            data["model"][key] = value
        elif key in EvalConfig.model_fields:
            data["eval"][key] = value
        else:
            raise LagnetError(key, value, "unknown option")
    return make_config(data)


def _as_dict(obj: Any) -> dict:
    return obj.model_dump() if hasattr(obj, "model_dump") else dict(obj)


def train(process: Any = None, target: str | None = None, model: Any = None, *,
          config: RunConfig | str | Path | None = None, out: str | Path | None = None,
          progress: bool = False, **options: Any) -> Run:
    """Train a model to learn ``target`` on paths of ``process`` and evaluate it honestly.

    ``process``: a spec string, a process config (or its dict), or a ready :class:`Process`
    such as ``CallableProcess(fn, series=[...])`` — the run uses that object, and its config
    records it (``kind = "custom"`` for a user's simulator, which cannot be rebuilt from the
    file).

    >>> run = lagnet.train(process="ar1(rho=0.1)", target="x[t]**2 + 0.1*x[t-1]**2",
    ...                    model="gru", max_seconds=30)
    >>> run.metrics["test"]["memory_r2"]
    """
    cfg = build_config(process, target, model, config, **options)
    ready = process if isinstance(process, Process) else None
    if progress:
        from lagnet.progress import ProgressBar

        with ProgressBar(cfg.train) as bar:
            return run(cfg, out, callbacks=[bar], process=ready)
    return run(cfg, out, process=ready)
