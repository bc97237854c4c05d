"""A sweep with a tracker: one parent run for the sweep, a child run for each finished point
(its history, metrics and report, tagged with the point's values). Used by the grid and
random sweeps and the tpe search.

The parent run is recorded in the sweep's folder (``tracking.json``: per tracker, its store,
the parent run and the points logged), so ``--resume`` goes on in the same parent run and
logs each point once. The parent run carries the spec (as parameters, and ``spec.toml``) and,
once the sweep ends, ``sweep.csv``, ``summary.md``, ``sweep.html`` and the plots."""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path

from lagnet.config import read_toml
from lagnet.errors import LagnetError
from lagnet.files import read_json, write_json
from lagnet.runs import load as load_run
from lagnet.tracking import make_tracker
from lagnet.tracking.names import flatten

RECORD = "tracking.json"
OUTPUTS = ("spec.toml", "sweep.csv", "summary.md", "sweep.html", "plots")


class SweepTracking:
    """The tracker with the sweep's parent run open, and the points logged under it."""

    def __init__(self, tracker, kind: str, out: Path, parent: str, logged: set[str]):
        self.tracker, self.kind, self.out = tracker, kind, out
        self.parent, self.logged = parent, logged

    def save(self) -> None:
        record = read_json(self.out / RECORD) or {}
        record[self.kind] = dict(
            uri=self.tracker.uri, parent=self.parent, logged=sorted(self.logged)
        )
        write_json(self.out / RECORD, record)


@contextmanager
def tracked(track: str | None, out: Path):
    """The tracker named ``track`` (None: none) with the sweep's parent run open: the one
    recorded in ``out`` when the store still holds it (a resumed sweep), else a new one."""
    tracker = make_tracker(track) if track else None
    if tracker is None:
        yield None
        return
    held = (read_json(out / RECORD) or {}).get(track) or {}
    reopen = held.get("parent") if held.get("uri") == tracker.uri else None
    name = f"sweep-{out.name}"
    with tracker.parent_run(name, reopen=reopen, params=spec_params(out)) as parent:
        logged = set(held.get("logged", [])) if parent == reopen else set()
        state = SweepTracking(tracker, track, out, parent, logged)
        state.save()
        yield state
        tracker.log_files(parent, [out / f for f in OUTPUTS])


def spec_params(out: Path) -> dict[str, str]:
    """The sweep's spec.toml as parameters: dotted names, lists as JSON."""
    try:
        spec = read_toml(out / "spec.toml", "spec")
    except LagnetError:  # the folder's own file, checked when the sweep began
        return {}
    return {
        f"spec.{k}": json.dumps(v) if isinstance(v, (list, tuple)) else str(v)
        for k, v in flatten(spec).items()
    }


def track_row(tracking: SweepTracking | None, row: dict, root: Path) -> None:
    """Log a finished point as a child run of the sweep's (history, metrics, report), tagged
    with its id, seed and swept values (``lagnet.sweep.model.hidden``, …); once only."""
    if tracking is None or row["status"] not in ("complete", "diverged"):
        return
    if row["id"] in tracking.logged:
        return
    r = load_run(root / row["id"])
    tags = {"lagnet.sweep.point": row["id"], "lagnet.sweep.seed": row.get("seed")}
    tags.update({f"lagnet.sweep.{k}": v for k, v in (row.get("values") or {}).items()})
    child = tracking.tracker.child()
    child.start(r.config, row["id"], tags=tags)
    for i in range(len(r.history.get("step", []))):
        child({k: v[i] for k, v in r.history.items()})
    child.finish(r)
    tracking.logged.add(row["id"])
    tracking.save()
