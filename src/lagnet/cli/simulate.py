"""``lagnet simulate`` — paths of a process or a named task, written to a data file."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from lagnet.cli._app import app, command, err, out
from lagnet.errors import LagnetError
from lagnet.files import check_parents
from lagnet.processes.datawrite import WRITES, write_series
from lagnet.tasks import simulate as simulate_series


@app.command()
@command
def simulate(
    process: Optional[str] = typer.Option(None, help='Process spec, e.g. "ar1(rho=0.1)".'),
    task: Optional[str] = typer.Option(
        None,
        help="A named task: its process, and its target "
        "as the column(s) `target` (see `lagnet tasks`).",
    ),
    paths: int = typer.Option(..., help="Number of paths."),
    length: int = typer.Option(..., help="Time steps per path."),
    out_file: Path = typer.Option(..., "--out", help="Output file: .csv, .parquet or .npz"),
    seed: int = typer.Option(0, help="Seed."),
) -> None:
    """Simulate paths of a process (or a named task) and write them to CSV or Parquet (long
    format: path, t, one column per series) or NPZ (one (paths, length) array per series).
    With --task the target is written too, NaN where it is undefined (before its lags)."""
    if out_file.suffix.lower() not in WRITES:
        raise LagnetError("out", str(out_file), f"must end in {', '.join(WRITES)}")
    check_parents(out_file)  # d.csv/s.csv: refused before anything is simulated
    # refused before anything is simulated when it cannot fit in memory
    series, proc, key = simulate_series(process, task, paths, length, seed, out_file.suffix.lower())
    names = "process.names" if hasattr(getattr(proc, "config", None), "names") else "process.name"
    write_series(out_file, series, field=names)
    out.print(
        f"wrote {paths} paths × {length} steps of {', '.join(series)} to {out_file}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    if hasattr(proc, "diverged_count"):  # NARMA: say how often the divergence guard acted
        d = proc.diverged_count(key, paths, length)
        if d.resampled:
            err.print(
                f"{d.resampled} of {paths} paths diverged and were redrawn with fresh "
                f"input; {d.unresolved} still diverged after every redraw",
                highlight=False,
            )
