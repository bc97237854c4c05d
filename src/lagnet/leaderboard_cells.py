"""The cells of ``lagnet bench``: what it is asked to run, checked before any training, and
one (task, model, seed) cell's config and run.

A ``--set model.<name>=value`` applies to the benched families that have that setting and
is left out for the others (one note says which); a setting no benched family has is
refused, as is a task or model named twice.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

from lagnet.config import RunConfig, merge, parse_sets
from lagnet.errors import LagnetError
from lagnet.models import FAMILIES, family
from lagnet.models.family import all_settings
from lagnet.registry import family_settings, parse_task

# A lighter test than a single run's default: the bench compares families, it does not
# certify one model, and 8 tasks × 8 families must fit in half an hour on 2 cores.
BENCH_EVAL = dict(test_paths=500, long_paths=50, baseline_paths=2000)


@dataclass(frozen=True)
class Cell:
    task: str
    model: str
    seed: int


def standard_models() -> list[str]:
    """Every family that declares itself fit for the leaderboard (choosers excluded)."""
    return [f.kind for f in FAMILIES if f.in_bench and not f.candidates]


def check_unique(tasks: Sequence[str], models: Sequence[str]) -> None:
    """Refuse a task or a model named twice (its runs would be averaged as one seed's). Two
    spellings of one task (``memory-k`` and ``memory-k(k=5)``, its default) are the same."""
    seen: dict[tuple, str] = {}
    for t in tasks:
        spec, params = parse_task(t)
        key = (spec.name, tuple(sorted({**spec.params, **params}.items())))
        if key in seen:
            same = "" if seen[key] == t else f" (as {seen[key]})"
            raise LagnetError("tasks", t, f"given twice{same}: name each task once")
        seen[key] = t
    for i, m in enumerate(models):
        if m in models[:i]:
            raise LagnetError("models", m, "given twice: name each model once")


def _model_setting(item: str) -> tuple[str, object, str] | None:
    """``model.<name>…=value`` → (dotted field, value, name); None for any other override
    and for ``model.kind``."""
    dotted, value = parse_sets([item])[0]
    section, _, rest = dotted.partition(".")
    name = rest.split(".")[0]
    if section != "model" or not name or name == "kind":
        return None
    return dotted, value, name


def _joined(names: Sequence[str], word: str = "and") -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} {word} {names[-1]}"


def model_set_notes(models: Sequence[str], overrides: Sequence[str]) -> list[str]:
    """One note per model setting that some of ``models`` lack (it is left out for them);
    a setting none of them has is refused, naming the setting and the families."""
    notes = []
    for item in overrides:
        found = _model_setting(item)
        if found is None:
            continue
        dotted, value, name = found
        have = [m for m in models if name in family(m).config.model_fields]
        lack = [m for m in models if m not in have]
        shown = str(list(value)) if isinstance(value, tuple) else str(value)
        if not have:
            raise LagnetError(dotted, value, f"not a setting of {_joined(models, 'or')}")
        if lack:
            runs = "runs" if len(lack) == 1 else "run"
            notes.append(
                f"{dotted} = {shown} applies to {_joined(have)} only; {_joined(lack)} {runs} without it"
            )
    return notes


def family_overrides(model: str, overrides: Sequence[str]) -> list[str]:
    """``overrides`` less the model settings that family ``model`` does not have but another
    family does (an unknown name is kept, and refused by the config)."""
    own, known = family(model).config.model_fields, all_settings()
    kept = []
    for item in overrides:
        found = _model_setting(item)
        if found is None or found[2] in own or found[2] not in known:
            kept.append(item)
    return kept


def cell_config(
    task: str, model: str, seed: int, max_seconds: float, overrides: Sequence[str] = ()
) -> tuple[RunConfig, list[str]]:
    """The run config of one cell and the notes on it: the task's config moved to the family
    (keeping the task's model settings that the family has, such as a window), the budget,
    then the user's ``a.b=value`` overrides (applied to every cell; a model setting only to
    the families that have it, see :func:`family_overrides`)."""
    spec, params = parse_task(task)
    values = {
        **family_settings(task, model),
        "model.kind": model,
        "seed": seed,
        "name": f"{task}-{model}-{seed}",
        "train.max_seconds": max_seconds,
        "train.steps": 1_000_000,
        **{f"eval.{k}": v for k, v in BENCH_EVAL.items()},
    }
    return merge(spec.config(**params), values, family_overrides(model, overrides))


def _time_to_best(history: dict) -> float | None:
    val, secs = history.get("val_mse") or [], history.get("seconds") or []
    pairs = [(v, s) for v, s in zip(val, secs) if v is not None and math.isfinite(v)]
    return min(pairs)[1] if pairs else None


def _first_not_none(*values):
    return next((v for v in values if v is not None), None)


def run_cell(cell: Cell, max_seconds: float, overrides: Sequence[str] = ()) -> dict:
    """Train and test one cell; never raises for a failing model (the error is recorded)."""
    from lagnet.models import count_parameters
    from lagnet.runs import run

    row = dict(task=cell.task, model=cell.model, seed=cell.seed, error="")
    t0 = time.perf_counter()
    try:
        cfg, notes = cell_config(cell.task, cell.model, cell.seed, max_seconds, overrides)
        row["notes"] = notes
        r = run(cfg)
    except Exception as err:  # noqa: BLE001 — any failure of one cell is recorded, the bench goes on
        text = (str(err).splitlines() or [""])[0][:200]
        row.update(error=f"{type(err).__name__}: {text}", total_s=time.perf_counter() - t0)
        return row
    test, info = r.metrics["test"], r.metrics.get("train", {})
    opt = r.metrics["baselines"].get("optimal") or {}
    row.update(
        test_nrmse=test.get("nrmse"),
        test_r2=test.get("r2"),
        memory_r2=test.get("memory_r2"),
        test_mse=test.get("mse"),
        time_to_best_s=_first_not_none(_time_to_best(r.history), info.get("seconds")),
        train_s=info.get("seconds"),
        total_s=time.perf_counter() - t0,
        steps=info.get("steps"),
        parameters=count_parameters(r.model.net),
        optimal=opt.get("name"),
        optimal_mse=opt.get("mse"),
        optimal_nrmse=opt.get("nrmse"),
        optimal_r2=opt.get("r2"),
        reachable_share=test.get("reachable_share"),
    )
    return row
