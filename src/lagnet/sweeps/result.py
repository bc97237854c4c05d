"""What a sweep returns."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

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
        ok = [
            r for r in self.rows if r["status"] == "complete" and _finite(r.get(self.spec.metric))
        ]
        if not ok:
            return None
        pick = max if self.spec.maximize else min
        return pick(ok, key=lambda r: r[self.spec.metric])


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)
