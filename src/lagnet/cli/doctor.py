"""``lagnet doctor RUN_DIR | CONFIG.toml [--quick] [--fix [--max-seconds S]]``. Bad input is refused before any work (one line, exit 2); the diagnosis is
computed in full before anything is written."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from lagnet.cli._app import app, command, err, notes, out
from lagnet.config import load_config
from lagnet.doctor import core
from lagnet.doctor.html import target_note
from lagnet.doctor.verdict import lines
from lagnet.errors import LagnetError
from lagnet.progress import ProgressBar
from lagnet.rundir import interrupted_note
from lagnet.runs import check_out_dir, default_run_dir, load, run
from lagnet.tasks import build_task


def _fix_table(fix: dict) -> Table:
    t = Table(title=escape(f"before / after --fix ({fix['dir']})"))
    for col in ("", "before", "after"):
        t.add_column(col, justify="right" if col else "left")
    for label, key in (
        ("test MSE", "mse"),
        ("test R²", "r2"),
        ("memory_r2", "memory_r2"),
        ("long-horizon / test MSE", "long_ratio"),
        ("effective memory", "effective_memory"),
    ):
        t.add_row(label, *(_cell(fix[side][key]) for side in ("before", "after")))
    caption = "changed: " + ", ".join(f"{k} = {v}" for k, v in fix["overrides"].items())
    note = target_note(fix)
    t.caption = escape(caption + (f"\n{note}" if note else ""))
    return t


def _cell(value) -> str:
    if value is None:
        return "n/a"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


@app.command()
@command
def doctor(
    path: Path = typer.Argument(
        ..., metavar="RUN_DIR|CONFIG.toml", help="A run directory, or a run config to train first."
    ),
    quick: bool = typer.Option(
        False, "--quick", help="Cheaper diagnostics: fewer paths, a smaller lag oracle."
    ),
    fix: bool = typer.Option(
        False,
        "--fix",
        help="Train once more with the suggested changes into <run>-fixed and compare.",
    ),
    out_dir: Optional[Path] = typer.Option(
        None, "--out", help="Where to write the run trained from a config."
    ),
    seed: int = typer.Option(0, help="Seed of the doctor's own samples."),
    max_seconds: Optional[float] = typer.Option(
        None,
        help="With --fix: the most seconds the fix trains (instead of the run's budget or a "
        "remedy's).",
    ),
) -> None:
    """Say why a model did (not) learn the past and what to change: lag oracle, memory probe,
    gradient flow through time, long-horizon error and configuration checks."""
    if not 0 <= seed < 2**32:
        raise LagnetError("seed", seed, "must be in [0, 2**32)")
    if max_seconds is not None and not (fix and math.isfinite(max_seconds) and max_seconds > 0):
        why = "must be a finite number above 0" if fix else "applies with --fix only"
        raise LagnetError("max-seconds", max_seconds, why)
    cfg = None
    if path.is_dir():
        if out_dir is not None:
            raise LagnetError(
                "out",
                str(out_dir),
                "applies to a config only; a run directory is diagnosed in place",
            )
        load(path)  # refuses a directory that is not a run (or unfinished) before any work
        notes([interrupted_note(path)])
        run_dir = path
    elif path.is_file() and path.suffix.lower() == ".toml":
        cfg = load_config(path)
        build_task(cfg)
        run_dir = check_out_dir(out_dir or default_run_dir(cfg))
    else:
        raise LagnetError("run_dir", str(path), "neither a run directory nor a config file (.toml)")
    fixed = check_out_dir(core.fixed_dir(run_dir)) if fix else None
    if cfg is not None:
        with ProgressBar(cfg.train, err) as bar:
            said = f"training {escape(str(run_dir))} first"  # once the run accepts its input
            run(cfg, run_dir, callbacks=[bar], started=lambda: bar.start([said]))
    d = core.diagnose(run_dir, quick=quick, seed=seed)
    if fixed is not None:
        if not d.doc["overrides"]:
            err.print("nothing to fix: the doctor suggests no change", highlight=False)
        else:
            said = f"training {escape(str(fixed))} with the suggested changes"
            with ProgressBar(core.fix_config(d, max_seconds).train, err) as bar:
                core.fix(d, fixed, [bar], max_seconds, started=lambda: bar.start([said]))
    core.write(d)
    text = lines(d.doc["verdict"])
    out.print(f"[bold]{escape(text[0])}[/]", highlight=False, soft_wrap=True)
    for line in text[1:]:
        out.print(escape(line), highlight=False, soft_wrap=True)
    if d.doc["fix"]:
        out.print(_fix_table(d.doc["fix"]))
        if max_seconds is not None:
            out.print(f"the fix trained within {max_seconds:g} s (--max-seconds)", highlight=False)
    out.print(
        f"wrote {escape(str(run_dir))}/doctor.json and {escape(str(run_dir))}/report.html",
        highlight=False,
        soft_wrap=True,
    )
