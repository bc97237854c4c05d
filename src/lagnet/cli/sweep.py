"""``lagnet sweep SPEC.toml`` — many configurations and seeds in one command."""

from __future__ import annotations

import time
from pathlib import Path
from typing import List, Optional

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from lagnet.cli._app import app, command, err, out
from lagnet.errors import Preempted
from lagnet.sweeps import sweep as run_sweep
from lagnet.sweeps.core import check_options
from lagnet.sweeps.executors import join_ray
from lagnet.sweeps.folder import check_folder
from lagnet.sweeps.result import best_line
from lagnet.sweeps.spec import Point, load


class SweepBar:
    """Points done and failed, the best so far, elapsed time and ETA."""

    def __init__(self, metric: str, maximize: bool):
        self.metric, self.maximize = metric, maximize
        self.failed, self.best = 0, None
        self.progress = Progress(
            TextColumn("[bold]sweep"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} done"),
            TextColumn("{task.fields[failed]} failed"),
            TextColumn("best {task.fields[best]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=err,
        )
        self.task = self.progress.add_task("sweep", total=None, failed=0, best="-")

    def __call__(self, row: dict, done: int, total: int) -> None:
        if row["status"] not in ("complete", "interrupted"):  # interrupted: --resume goes on
            self.failed += 1
        if row["status"] == "interrupted":
            done -= 1  # not done: the sweep stops here
        v = row.get(self.metric)
        if row["status"] == "complete" and isinstance(v, (int, float)):
            better = self.best is None or (v > self.best if self.maximize else v < self.best)
            self.best = v if better else self.best
        best = "-" if self.best is None else f"{self.metric.split('.')[-1]} {self.best:.4g}"
        self.progress.update(self.task, completed=done, total=total, failed=self.failed, best=best)


def point_values(p: Point) -> str:
    """A point's swept values and seed, as a dry run lists them beside its id."""
    return ", ".join([*(f"{k}={v}" for k, v in p.values.items()), f"seed={p.seed}"])


@app.command()
@command
def sweep(
    spec: Path = typer.Argument(..., help="The sweep's spec (TOML): a base and what varies."),
    workers: Optional[int] = typer.Option(
        None, help="Local worker processes (default: one per core; 1 runs in this process)."
    ),
    ray: Optional[str] = typer.Option(
        None, help='Run on a Ray cluster: its address, or "auto" (pip install lagnet[ray]).'
    ),
    resume: bool = typer.Option(False, "--resume", help="Skip points already finished in --out."),
    out_dir: Optional[Path] = typer.Option(None, "--out", help="The sweep folder to write."),
    pack: Optional[bool] = typer.Option(
        None,
        "--pack/--no-pack",
        help="Train same-shape points as one compiled program (default: on a GPU only).",
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="List the points, the packs and a time estimate; run nothing."
    ),
    track: Optional[str] = typer.Option(
        None,
        help="Log to an experiment tracker: mlflow (a parent run for the sweep, a child run "
        "per point) or tensorboard (a directory per sweep); --resume goes on in the same one.",
    ),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
    set_: List[str] = typer.Option(
        [], "--set", help="Override a setting of the base of every point: a.b=value."
    ),
) -> None:
    """Run every point of a sweep spec (grid, random or Optuna search, over seeds); write
    sweep.csv, summary.md, plots and sweep.html. Exits 1 if some point did not complete."""
    t0 = time.perf_counter()
    kwargs = dict(workers=workers, ray=ray, resume=resume, pack=pack, track=track, sets=set_)
    if dry_run:
        result = run_sweep(spec, out_dir, dry_run=True, **kwargs)
        if result.spec.mode == "tpe":  # Optuna picks each trial from the ones before it
            out.print(
                f"search = tpe: {result.spec.trials} trials × {len(result.spec.seed_list)} "
                "seed(s), each chosen by Optuna from the ones before it: none can be listed "
                "beforehand",
                highlight=False,
            )
            return
        packs = [u for u in result.units if len(u) > 1]
        n, units = sum(len(u) for u in result.units), len(result.units)
        out.print(
            f"{n} point{'s' * (n != 1)} in {units} unit{'s' * (units != 1)} "
            f"({len(packs)} pack{'s' * (len(packs) != 1)} of same-shape points)",
            highlight=False,
        )
        points = {p.id: p for p in load(spec, set_)[2]}
        for u in result.units:
            if len(u) > 1:
                out.print(f"pack of {len(u)}:", highlight=False)
            for pid in u:
                out.print(f"  {pid}  {point_values(points[pid])}", markup=False, highlight=False)
        if result.estimate_seconds is not None:
            out.print(f"estimated time: about {result.estimate_seconds:.0f} s", highlight=False)
        return
    # a bad spec, --workers, --track, --out or --ray is one line before the bar appears
    s = load(spec, set_)[0]
    check_options(workers, track)
    check_folder(out_dir, spec, resume, set_)
    if ray is not None:
        join_ray(ray)
    bar = None if quiet else SweepBar(s.metric, s.maximize)
    try:
        if bar is None:
            result = run_sweep(spec, out_dir, **kwargs)
        else:
            with bar.progress:
                result = run_sweep(spec, out_dir, on_row=bar, **kwargs)
    except KeyboardInterrupt as e:  # the point it stopped is recorded as interrupted
        where = f"--out {out_dir}" if out_dir else "--out SWEEP_FOLDER"
        err.print(
            f"interrupted: go on with `lagnet sweep {spec} {where} --resume`",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(143 if isinstance(e, Preempted) else 130) from None
    n, bad = len(result.rows), result.failed
    out.print(
        f"{n - len(bad)}/{n} runs complete in {time.perf_counter() - t0:.0f} s", highlight=False
    )
    for best in result.best_per_problem:
        out.print(escape(best_line(result, best)), highlight=False)
    for where in result.undefined_problems:
        out.print(
            escape(f"no best {result.spec.metric} for {where}: undefined on every complete run")
            + (" (the target needs no memory)" if result.spec.metric.endswith("memory_r2") else ""),
            highlight=False,
        )
    for r in bad:
        out.print(
            f"{r['status']}: {r['id']} — {escape(str(r.get('error') or ''))}", highlight=False
        )
    out.print(f"wrote {result.out}/sweep.html", markup=False, highlight=False, soft_wrap=True)
    if bad:
        raise typer.Exit(1)
