"""``lagnet.sweeps(spec, …)``: every point of a spec, run on an executor, packed where that
pays, recorded as it finishes, summarised at the end. ``lagnet sweep`` is this from the shell.

A sweep folder::

    spec.toml      the spec as given, with its --set values (a resume must give the same)
    points/<id>/   one ordinary run directory per point (config, metrics, report, …)
    sweep.csv      one row per run: swept fields, seed, test metrics, seconds (the point's
                   wall time, kept by a resume), status, error
    summary.md     per configuration: mean ± 95% interval over seeds (one seed: its value,
                   marked so), best in bold
    plots/         the metric against each numeric swept field, a curve per configuration of
                   the others; a heat map for two fields
    sweep.html     every point's report, linked
"""

from __future__ import annotations

import math
import os
import signal
from collections.abc import Callable, Sequence
from pathlib import Path

import jax

from lagnet.errors import LagnetError, Preempted
from lagnet.evaluation import baseline_lags
from lagnet.files import DirectoryLock
from lagnet.processes import Process
from lagnet.rundir import interrupt_on_sigterm
from lagnet.sweeps.executors import RayCluster, join_ray, make_executor
from lagnet.sweeps.folder import check_folder, finished_row, prepare_folder
from lagnet.sweeps.outputs import write_all, write_csv
from lagnet.sweeps.result import SweepResult
from lagnet.sweeps.search import tpe
from lagnet.sweeps.spec import Point, load, point
from lagnet.sweeps.tracked import track_row, tracked
from lagnet.sweeps.units import Job, make_units, stop_if_interrupted
from lagnet.tasks import build_task
from lagnet.tracking import TRACKERS, make_tracker

STATUSES = ("complete", "failed", "diverged", "killed", "interrupted")


def default_pack() -> bool:
    """Pack same-shape points by default only on an accelerator: on the CPU, K models in one
    program measured slower than K one after another at the forum's size (benchmarks/
    sweep_packing.py), because XLA's CPU batched matmuls of tiny matrices cost more than they
    save."""
    return jax.default_backend() != "cpu"


def step_seconds(batch: int, length: int, hidden: int) -> float:
    """A training step's seconds on one CPU core, roughly: fitted to the GRU's ms_per_step on 2
    cores (`lagnet train --process "ar1(rho=0.1)" --target "x[t]**2 + 0.1*x[t-1]**2"
    --hidden H --batch B --steps 300`, length 101): 3.3/7.6 ms (H = 8, B = 32/128), 7.1/20.5
    (H = 32), 13.2/37.2 (H = 64). At these sizes a step grows with the width, not its square:
    small matrices cost their memory traffic, not their arithmetic."""
    return 1.5e-3 + 8e-7 * hidden**2 + batch * length * (1.5e-7 + 3.7e-8 * hidden)


def estimate(points: Sequence[Point], workers: int) -> float:
    """Seconds for the sweep, roughly: each point's budget (its wall-clock limit, or its steps
    at :func:`step_seconds`) plus 3 s of start-up, compilation and evaluation, over the
    workers, plus the driver's 8 s. The issue's spec of 2 shapes × 2 seeds (300 steps, batch
    128): estimated 20 s, measured 17 s with a warm compilation cache and 24 s with none."""
    total = 0.0
    for p in points:
        tc, m = p.config.train, p.config.model
        per_step = step_seconds(tc.batch, tc.length, getattr(m, "hidden", 32))
        total += min(tc.max_seconds or math.inf, tc.steps * per_step) + 3.0
    return total / max(workers, 1) + 8.0


def sweep(
    spec: str | Path | dict,
    out: str | Path | None = None,
    *,
    workers: int | None = None,
    ray: str | None = None,
    resume: bool = False,
    pack: bool | None = None,
    dry_run: bool = False,
    process: Process | None = None,
    on_row: Callable[[dict, int, int], None] | None = None,
    track: str | None = None,
    sets: Sequence[str] = (),
) -> SweepResult:
    """Run a sweep (see :mod:`lagnet.sweeps`). ``spec``: a TOML file or its dict; ``workers``:
    local processes (default: one per core; 1 runs here); ``ray``: a Ray cluster's address or
    ``"auto"``; ``resume``: skip finished points of ``out``; ``pack``: train same-shape points
    as one program (default: on an accelerator only); ``process``: a ready process
    (``CallableProcess``) for every point; ``on_row(row, done, total)``: called as runs finish;
    ``sets``: ``a.b=value`` settings applied to the base of every point (the grid's win)."""
    spec_obj, base, points = load(spec, sets)
    if process is not None:
        base = base.model_copy(update=dict(process=process.config))
        points = [point(base, p.values, p.seed) for p in points]
    check_options(workers, track, store=not dry_run)
    if spec_obj.mode == "tpe":
        if not dry_run:
            _join(ray, out, spec, resume, sets)
        return tpe(
            spec_obj, base, spec, out, workers, ray, resume, dry_run, process, on_row, sets, track
        )
    for p in points:  # every point must be able to start: refuse before anything runs
        task = build_task(p.config, process=process)
        baseline_lags(task, p.config.eval, p.config.train.length)  # as lagnet.run checks
    fields = list(spec_obj.grid) + list(spec_obj.random)
    workers = workers or os.cpu_count() or 1
    pack = default_pack() if pack is None else pack
    jobs = [Job(p.id, p.values, p.seed, p.config) for p in points]
    units = make_units(jobs, pack)
    if dry_run:
        return SweepResult(None, [], spec_obj, fields, [[j.id for j in u] for u in units],
                           estimate(points, workers))  # fmt: skip
    _join(ray, out, spec, resume, sets)
    out = prepare_folder(out, spec, resume, sets)
    with DirectoryLock(out, "out"):
        return execute(out, spec_obj, fields, jobs, pack, workers, ray, process, on_row, track)


def check_options(workers: int | None, track: str | None, store: bool = True) -> None:
    """Refuse, in one line, a worker count or a tracker no sweep can use (a dry run too);
    with ``store``, a tracker's store that cannot take runs (checked, writing nothing)."""
    if workers is not None and workers < 1:
        raise LagnetError("workers", workers, "must be at least 1")
    if track is not None and track not in (*TRACKERS, "none"):
        raise LagnetError("track", track, f"unknown tracker; one of: {', '.join(TRACKERS)}, none")
    if store:
        make_tracker(track)  # an MLflow server that does not answer: seconds, not minutes


def _join(ray: str | None, out, spec, resume: bool, sets: Sequence[str]) -> None:
    """With ``ray``: join the cluster before the sweep's folder is made (a cluster that
    cannot be reached is refused in seconds, and leaves no folder behind)."""
    if ray is not None:
        check_folder(out, spec, resume, sets)
        join_ray(ray)


def execute(out, spec, fields, jobs, pack, workers, ray, process, on_row, track) -> SweepResult:
    root = out / "points"
    rows: dict[str, dict] = {}
    todo = []
    for j in jobs:
        done = finished_row(j, root)
        if done is not None:
            rows[j.id] = done
        else:
            todo.append(j)
    units = make_units(todo, pack)
    executor = make_executor(root, workers, ray, process, len(units))
    with tracked(track, out) as tracker:
        for r in rows.values():  # finished before this resume: logged if not yet
            track_row(tracker, r, root)
        running = executor.run(units)
        try:
            with interrupt_on_sigterm():  # SIGTERM: Preempted, with the workers stopped first
                for _, unit_rows in running:
                    for r in unit_rows:
                        rows[r["id"]] = r
                        track_row(tracker, r, root)
                        if on_row is not None:
                            on_row(r, len(rows), len(jobs))
                    write_csv(list(rows.values()), fields, out / "sweep.csv")
                    stop_if_interrupted(unit_rows)
        except BaseException as e:  # Ctrl-C, SIGTERM, a lost cluster: the points so far, written
            if isinstance(e, KeyboardInterrupt) and hasattr(executor, "stop_with"):
                executor.stop_with(signal.SIGTERM if isinstance(e, Preempted) else signal.SIGINT)
                running.close()  # the busy workers checkpoint their points now
            if rows:
                so_far = [rows[j.id] for j in jobs if j.id in rows]
                write_csv(so_far, fields, out / "sweep.csv")
                write_all(out, so_far, fields, spec.metric, spec.maximize)
            raise
        finally:
            if isinstance(executor, RayCluster):
                executor.close()
        result_rows = [rows[j.id] for j in jobs]
        write_csv(result_rows, fields, out / "sweep.csv")
        write_all(out, result_rows, fields, spec.metric, spec.maximize)
    return SweepResult(out, result_rows, spec, fields, [[j.id for j in u] for u in units])
