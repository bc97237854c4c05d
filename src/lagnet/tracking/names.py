"""What a tracker logs, whichever it is: the resolved config as parameters with dotted names,
and the numbers of a run's metrics.json, flattened."""

from __future__ import annotations

import json
import math
from typing import Any

from lagnet.config import RunConfig


def flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts (and lists of dicts) as one level with dotted names:
    ``{"model": {"hidden": 32}}`` -> ``{"model.hidden": 32}``; lists of plain values stay."""
    flat: dict[str, Any] = {}
    items = obj.items() if isinstance(obj, dict) else enumerate(obj)
    for key, value in items:
        name = f"{prefix}{key}"
        if isinstance(value, dict) or (
            isinstance(value, (list, tuple)) and value and all(isinstance(v, dict) for v in value)
        ):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def config_params(cfg: RunConfig) -> dict[str, str]:
    """The resolved config as MLflow parameters: dotted names, values as text (lists as
    JSON, as in config.toml); unset optional settings are left out, as config.toml does, and
    so is ``name``: the tracked run has its own name (the run directory's), which a
    parameter ``name = run`` contradicted."""
    return {
        k: json.dumps(v) if isinstance(v, (list, tuple)) else str(v)
        for k, v in flatten(cfg.model_dump(mode="json")).items()
        if v is not None and k != "name"
    }


def final_metrics(metrics: dict) -> dict[str, float]:
    """The numbers of a run's metrics.json, flattened (``test.mse``,
    ``baselines.memoryless.r2``, ``train.steps``, …); lists of numbers (per-step errors) and
    text are left to the metrics.json artefact."""
    return {
        k: float(v)
        for k, v in flatten(metrics).items()
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    }


def run_status(result) -> str:
    """How a finished lagnet run closes its tracked run: KILLED when Ctrl-C or SIGTERM stopped
    it (``metrics.json``'s ``train.stopped`` is ``interrupted``), else FINISHED."""
    stopped = (result.metrics.get("train") or {}).get("stopped")
    return "KILLED" if stopped == "interrupted" else "FINISHED"
