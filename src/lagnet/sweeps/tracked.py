"""A sweep with a tracker: one parent run for the sweep, a child run for each finished point
(its history, metrics and report). Used by the grid and random sweeps and the tpe search."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from lagnet.runs import load as load_run
from lagnet.tracking import make_tracker


@contextmanager
def tracked(track: str | None, out: Path):
    """The tracker named ``track`` (None: none) with the sweep's parent run open."""
    tracker = make_tracker(track) if track else None
    if tracker is None:
        yield None
        return
    with tracker.parent_run(f"sweep {out.name}"):
        yield tracker


def track_row(tracker, row: dict, root: Path) -> None:
    """Log a finished point as a child run of the sweep's (history, metrics, report)."""
    if tracker is None or row["status"] not in ("complete", "diverged"):
        return
    r = load_run(root / row["id"])
    child = tracker.child()
    child.start(r.config, row["id"])
    for i in range(len(r.history.get("step", []))):
        child({k: v[i] for k, v in r.history.items()})
    child.finish(r)
