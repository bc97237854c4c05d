"""The evaluations of a run, recorded in its directory as ``evaluations.json``.

``lagnet eval`` appends one record per evaluation — the formula it scored the model against
and the metrics it got — so that the doctor can later see that a model was trained on one
target and judged on another (the forum's bug: a sign that differs between the loss and the
test). The file is a JSON list, rewritten whole under a temporary name and renamed, so a
reader never sees half a record.

Example::

    >>> record_evaluation(run_dir, "x[t]**2 + 0.5*x[t-1]**2", metrics, paths=1000, length=101)
    >>> [e["formula"] for e in read_evaluations(run_dir)]
    ['x[t]**2 + 0.5*x[t-1]**2']
"""

from __future__ import annotations

import json
import math
import numbers
import os
import time
from pathlib import Path

from lagnet.files import write_json

EVALUATIONS = "evaluations.json"


def read_evaluations(run_dir: str | os.PathLike) -> list[dict]:
    """The recorded evaluations, oldest first; [] when there are none (or the file is not a
    list, which only a hand edit can make)."""
    path = Path(run_dir) / EVALUATIONS
    if not path.is_file():
        return []
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return []
    return [r for r in records if isinstance(r, dict)] if isinstance(records, list) else []


def record_evaluation(
    run_dir: str | os.PathLike,
    formula,
    metrics: dict,
    *,
    paths: int,
    length: int,
    seed: int | None = None,
) -> Path:
    """Append one evaluation (formula, test metrics, baselines) to ``evaluations.json``."""
    run_dir = Path(run_dir)
    test, base = metrics.get("test", {}), metrics.get("baselines", {})
    record = dict(
        formula=formula if isinstance(formula, str) else list(formula),
        time=time.strftime("%Y-%m-%dT%H:%M:%S"),
        paths=paths,
        length=length,
        seed=seed,
        test={k: test.get(k) for k in ("mse", "r2", "memory_r2")},
        memoryless_r2=(base.get("memoryless") or {}).get("r2"),
    )
    records = read_evaluations(run_dir) + [record]
    return write_json(run_dir / EVALUATIONS, finite_json(records))


def finite_json(obj):
    """Strict JSON: NumPy scalars as plain numbers, NaN and ±inf (an undefined R²) as null."""
    if isinstance(obj, dict):
        return {k: finite_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_json(v) for v in obj]
    if isinstance(obj, (bool, str)) or obj is None:
        return obj
    if isinstance(obj, numbers.Integral):
        return int(obj)
    if isinstance(obj, numbers.Real):
        return float(obj) if math.isfinite(obj) else None
    return obj
