"""What a sweep returns."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from lagnet.notebook import card, fmt
from lagnet.sweeps.outputs import configurations, mean_text, problem_fields, problem_of
from lagnet.sweeps.spec import SweepSpec


@dataclass
class SweepResult:
    """A finished (or dry-run) sweep: its folder, one row per run, the spec."""

    out: Path | None
    rows: list[dict]
    spec: SweepSpec
    fields: list[str]
    units: list[list[str]] = field(default_factory=list)
    estimate_seconds: float | None = None

    @property
    def failed(self) -> list[dict]:
        return [r for r in self.rows if r["status"] != "complete"]

    @property
    def best(self) -> dict | None:
        """The best complete run over the whole sweep (see :attr:`best_per_problem` when the
        sweep varies the target or the process)."""
        ok = [
            r for r in self.rows if r["status"] == "complete" and _finite(r.get(self.spec.metric))
        ]
        if not ok:
            return None
        pick = max if self.spec.maximize else min
        return pick(ok, key=lambda r: r[self.spec.metric])

    @property
    def best_per_problem(self) -> list[dict]:
        """The best complete run per value of the swept target and process fields (one
        problem each: memory_r2 at w = 0.1 and at w = 0.5 are not comparable); the best run
        alone when the sweep varies neither."""
        if not problem_fields(self.fields):
            return [self.best] if self.best is not None else []
        pick = max if self.spec.maximize else min
        groups: dict[tuple, list[dict]] = {}
        for r in self.rows:
            if r["status"] == "complete" and _finite(r.get(self.spec.metric)):
                groups.setdefault(problem_of(r, self.fields), []).append(r)
        per = problem_fields(self.fields)

        def order(group: list[dict]) -> tuple:  # numbers by value (10 after 2), then the rest
            values = [group[0]["values"].get(f) for f in per]
            return tuple((0, v, "") if _finite(v) else (1, 0, str(v)) for v in values)

        return [
            pick(g, key=lambda r: r[self.spec.metric]) for g in sorted(groups.values(), key=order)
        ]

    @property
    def undefined_problems(self) -> list[str]:
        """The problems (``target.params.w=0``) whose complete runs all leave the metric
        undefined — memory_r2 is null where the target needs no memory — so no best is named
        for them (the printout said nothing of them)."""
        per = problem_fields(self.fields)
        if not per:
            return []
        seen: dict[tuple, bool] = {}
        for r in self.rows:
            if r["status"] == "complete":
                key = problem_of(r, self.fields)
                seen[key] = seen.get(key, False) or _finite(r.get(self.spec.metric))
        return [
            ", ".join(f"{k}={v}" for k, v in zip(per, key)) for key, ok in seen.items() if not ok
        ]

    def _repr_html_(self) -> str:  # a notebook's view: per configuration, then the plots
        return sweep_html(self)


def best_line(result: SweepResult, best: dict) -> str:
    """``best <metric> = <value>: <its values>, seed <seed>``, per problem where the sweep has
    several (``best for target.params.w=0.5 …``)."""
    per = problem_fields(result.fields)
    values = (
        ", ".join(f"{k}={v}" for k, v in best["values"].items() if k not in per)
        or "the base settings"
    )
    where = ", ".join(f"{k}={best['values'][k]}" for k in per)
    metric = result.spec.metric
    return f"best {metric}{f' for {where}' if where else ''} = {best[metric]:.4g}: {values}, " + (
        f"seed {best['seed']}"
    )


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


def sweep_html(result: SweepResult) -> str:
    """The sweep in a notebook: the best run, a row per configuration (mean ± 95% interval
    over seeds of complete runs; one run's value is marked ``(1 seed)``) and the sweep's plots
    inline."""
    metric = result.spec.metric
    shown = [metric] + [m for m in ("test.r2", "test.memory_r2") if m != metric]
    rows = []
    for key, members in configurations(result.rows, result.fields):
        ok = [r for r in members if r["status"] == "complete"]
        cells = [mean_text([r.get(m) for r in ok], fmt) for m in shown]
        rows.append([", ".join(key) or "base", *cells, f"{len(ok)}/{len(members)}"])
    verdict = "; ".join(best_line(result, r) for r in result.best_per_problem) or None
    images = []
    if result.out is not None:
        images = sorted((Path(result.out) / "plots").glob("sweep_*.png"))
    title = f"lagnet sweep: {len(result.rows)} runs, {len(result.failed)} not complete"
    header = [" , ".join(result.fields) or "configuration", *shown, "complete"]
    return card(title, rows, images, header=header, verdict=verdict, learned=None)
