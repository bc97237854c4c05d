"""``lagnet tasks``, ``lagnet processes`` and ``lagnet bench`` — the named tasks, the process
kinds a spec may name, and the leaderboard over the tasks."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.markup import escape
from rich.table import Table

from lagnet import leaderboard
from lagnet.cli._app import app, command, notes, out, split_list
from lagnet.processes.family import PROCESSES
from lagnet.registry import TASKS
from lagnet.shown import below


@app.command()
@command
def tasks() -> None:
    """List the named tasks (use one with `lagnet train --task NAME`)."""
    t = Table(title="lagnet tasks — lagnet train --task NAME  (parameters: NAME(p=value))")
    t.add_column("task", no_wrap=True)
    for col in ("parameters", "description", "process → target", "reference"):
        t.add_column(col, overflow="fold")
    for spec in TASKS.values():
        cfg = spec.config()
        params = ", ".join(f"{k}={v:g}" for k, v in spec.params.items()) or "—"
        formula = cfg.target.formula
        formula = "; ".join(formula) if isinstance(formula, (list, tuple)) else formula
        t.add_row(
            spec.name,
            params,
            spec.description,
            escape(
                f"{_process_text(cfg)} → {formula}  (sees {', '.join(cfg.target.inputs or ('x',))})"
            ),
            spec.reference,
        )
    out.print(t)


def _process_text(cfg) -> str:
    p = cfg.process.model_dump(exclude_defaults=True)
    p.pop("kind", None)
    return f"{cfg.process.kind}(" + ", ".join(f"{k}={_value(v)}" for k, v in p.items()) + ")"


def _value(v) -> str:
    """A setting as the spec language writes it: tuples as [lists], strings quoted."""
    if isinstance(v, str):
        return f'"{v}"'
    return str(list(v)).replace("(", "[").replace(")", "]") if isinstance(v, tuple) else str(v)


@app.command()
@command
def processes() -> None:
    """List the process kinds a --process spec may name, with their parameters' defaults."""
    t = Table(title='lagnet processes — lagnet train --process "NAME(p=value, …)"')
    t.add_column("spec", no_wrap=True)
    for col in ("parameters (default)", "what", "optimal filter"):
        t.add_column(col, overflow="fold")
    for p in sorted(PROCESSES, key=lambda p: p.kind):
        for name, form in sorted(p.forms.items()):
            field_of = {spec: field for field, spec in form.renamed.items()}
            fields = p.config.model_fields
            params = []
            for param in form.params:
                f = fields.get(field_of.get(param, param))
                default = None if f is None else f.get_default(call_default_factory=True)
                if param in form.required:
                    params.append(f"{param} (required)")
                elif default is None:
                    params.append(param)
                else:
                    params.append(f"{param}={_value(default)}")
            known = "known" if p.optimal is not None else ""
            t.add_row(name, escape(", ".join(params)), p.summary, known)
    out.print(t)


_MODELS_HELP = (
    "Model families, comma-separated (default: " + ", ".join(leaderboard.standard_models()) + ")."
)


@app.command()
@command
def bench(
    tasks: Optional[List[str]] = typer.Option(
        None, "--tasks", help="Tasks, comma-separated (default: the standard set)."
    ),
    models: Optional[List[str]] = typer.Option(None, "--models", help=_MODELS_HELP),
    seeds: int = typer.Option(1, help="Seeds per cell."),
    max_seconds: float = typer.Option(15.0, help="Training budget per cell, seconds."),
    out_dir: Path = typer.Option(Path("bench"), "--out", help="Directory for the leaderboard."),
    set_: List[str] = typer.Option(
        [],
        "--set",
        help="Override a setting in every cell: a.b=value (a model.X setting in the cells "
        "whose family has it; a note names the others).",
    ),
    workers: int = typer.Option(
        1, help="Cells at once on a local process pool (each cell then shares the cores)."
    ),
    ray: Optional[str] = typer.Option(
        None, help='Run the cells on a Ray cluster: its address, or "auto".'
    ),
) -> None:
    """Train every model family on every task under the same budget; write a leaderboard.
    Exits 1 if some cell failed (the files are still written; each failure is named)."""
    task_list = split_list(tasks) or list(leaderboard.STANDARD_TASKS)
    model_list = split_list(models) or None
    total = len(task_list) * len(model_list or leaderboard.standard_models()) * seeds
    done = [0]
    said: set[str] = set()

    def on_row(row: dict) -> None:
        done[0] += 1
        notes([n for n in row.get("notes", []) if n not in said])
        said.update(row.get("notes", []))
        if row.get("error"):
            status = f"failed: {row['error']}"  # printed as is (markup=False)
        else:
            mr2 = row.get("memory_r2")
            status = (
                f"NRMSE {row['test_nrmse']:.4g}  R² {row['test_r2']:.4f}  memory_r2 "
                f"{'n/a' if mr2 is None else below(mr2, 3)}  best at {row['time_to_best_s']:.1f} s"
            )
        out.print(
            f"[{done[0]}/{total}] {row['task']} × {row['model']} (seed {row['seed']}): {status}",
            markup=False,
        )

    def on_note(note: str) -> None:
        notes([note])
        said.add(note)

    rows = leaderboard.bench(
        task_list,
        model_list,
        seeds,
        max_seconds,
        out_dir,
        overrides=set_,
        on_row=on_row,
        workers=workers,
        ray=ray,
        on_note=on_note,
    )
    out.print((out_dir / "leaderboard.md").read_text(), markup=False, highlight=False)
    out.print(
        f"wrote {out_dir / 'leaderboard.csv'}, leaderboard.md, leaderboard.png",
        markup=False,
        soft_wrap=True,
    )
    bad = [r for r in rows if r.get("error")]
    if bad:
        out.print(f"{len(rows) - len(bad)}/{len(rows)} cells complete", highlight=False)
        for r in bad:
            out.print(
                f"failed: {r['task']} × {r['model']} (seed {r['seed']}) — {r['error']}",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
        raise typer.Exit(1)
