"""``lagnet eval`` and ``lagnet report`` — look at a trained run again, without retraining."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from lagnet.cli._app import app, command, formula_option, metrics_table, notes, out
from lagnet.config import load_config
from lagnet.errors import LagnetError
from lagnet.evaluate_again import evaluate_run
from lagnet.report import held_out_words
from lagnet.resources import evaluating
from lagnet.rundir import interrupted_note, unfinished
from lagnet.runs import render
from lagnet.targets import formula_text


@app.command("eval")
@command
def eval_(
    run_dir: Path = typer.Argument(..., help="A run directory."),
    paths: Optional[int] = typer.Option(None, help="Test paths (default: the run's)."),
    length: Optional[int] = typer.Option(None, help="Steps per test path (default: the run's)."),
    target: Optional[List[str]] = typer.Option(
        None, help="Evaluate against another formula; give it again for more outputs."
    ),
    seed: Optional[int] = typer.Option(None, help="Seed of the test set (default: the run's)."),
) -> None:
    """Evaluate a trained run again, on a test set of any size and length."""
    with evaluating():  # nothing is trained: a refusal names paths or length, as given
        cfg, ev = evaluate_run(
            run_dir, formula_option(target), paths=paths, length=length, seed=seed
        )
    notes([other_target(run_dir, cfg.target.formula), interrupted_note(run_dir)])
    out.print(
        metrics_table(
            ev.metrics,
            f"{formula_text(cfg.target.formula)} — "
            f"{cfg.eval.test_paths} paths × "
            f"{cfg.train.length} steps"
            + (f": {data}" if (data := held_out_words(ev.metrics)) else ""),
        )
    )


def other_target(run_dir: Path, formula) -> str | None:
    """A line when ``formula`` is not the one the run was trained on (a sign written the other
    way round is easy to miss in the table's title). ``lagnet eval`` takes no process: the
    run's is always the one evaluated on."""
    trained = load_config(run_dir / "config.toml").target.formula
    if _plain(formula) == _plain(trained):
        return None
    return f"evaluating against {formula_text(formula)}; trained on {formula_text(trained)}"


def _plain(formula) -> list[str]:
    """The formulas without their spaces: ``x[t]**2+0.1*x[t-1]**2`` is the same formula."""
    formulas = [formula] if isinstance(formula, str) else list(formula)
    return ["".join(f.split()) for f in formulas]


@app.command()
@command
def report(run_dir: Path = typer.Argument(..., help="A run directory.")) -> None:
    """Re-make the plots and report.html of a run directory (no retraining)."""
    unfinished(run_dir)
    if not (run_dir / "metrics.json").is_file():
        raise LagnetError("run_dir", str(run_dir), "not a run directory (no metrics.json)")
    notes([interrupted_note(run_dir)])
    render(run_dir)
    out.print(f"wrote {run_dir}/report.html", markup=False, highlight=False, soft_wrap=True)
