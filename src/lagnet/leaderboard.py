"""``lagnet bench``: every model family on every named task under the same wall-clock budget.

Each (task, model, seed) cell trains from the task's recommended config with the family's
default settings, stops at ``max_seconds`` of training (closed-form learners take what they
take), and is scored on the task's fixed test paths. Writes into the output directory:

    leaderboard.csv   one row per (task, model, seed): test NRMSE, R², memory_r2, time to best…
    leaderboard.md    tasks × models, mean test NRMSE over seeds (± its 95% interval), the best
                      per task in bold;
                      below, a baseline row per filtering task: its optimal filter on the same
                      test paths and the best family's gap to it
    leaderboard.png   heat maps: the same mean test NRMSE, and the median training time at
                      which each cell reached it

One statistic ranks every view: the table's bold cell, the heat map and the optimum's "best
family" are the lowest mean NRMSE over seeds.

A cell that fails (a model that cannot represent a task's inputs, a divergence) is recorded
with its error and the bench goes on; ``lagnet bench`` then exits 1, naming each failed cell.
The cells themselves (configs, the checks on what is asked, one cell's run):
:mod:`lagnet.leaderboard_cells`.
"""

from __future__ import annotations

import csv
import math
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from pathlib import Path

import numpy as np

from lagnet.errors import LagnetError
from lagnet.files import check_parents
from lagnet.leaderboard_cells import Cell, cell_config, check_unique, model_set_notes, run_cell
from lagnet.leaderboard_cells import standard_models as standard_models
from lagnet.shown import percent
from lagnet.sweeps.executors import make_executor
from lagnet.sweeps.outputs import interval

STANDARD_TASKS = (
    "ar1-square-lag",
    "narma10",
    "memory-k",
    "adding",
    "delayed-xor",
    "garch-vol",
    "noisy-ar-filter",
    "regime-filter",
)
COLUMNS = (
    "task",
    "model",
    "seed",
    "test_nrmse",
    "test_r2",
    "memory_r2",
    "test_mse",
    "time_to_best_s",
    "train_s",
    "total_s",
    "steps",
    "parameters",
    "optimal",
    "optimal_mse",
    "optimal_nrmse",
    "optimal_r2",
    "reachable_share",
    "error",
)


def bench(
    tasks: Sequence[str] = STANDARD_TASKS,
    models: Sequence[str] | None = None,
    seeds: int = 1,
    max_seconds: float = 15.0,
    out: str | Path = "bench",
    overrides: Sequence[str] = (),
    on_row: Callable[[dict], None] | None = None,
    workers: int = 1,
    ray: str | None = None,
    on_note: Callable[[str], None] | None = None,
) -> list[dict]:
    """Run every (task, model, seed) cell and write the leaderboard files into ``out``.
    ``models``: None = :func:`standard_models`; a task or model named twice is refused.
    ``overrides`` (``a.b=value``) apply to every cell, e.g. ``train.batch=64``; a model
    setting (``model.reservoir=20``) to the families that have it, with a note naming those
    run without it (to ``on_note``, else stderr), and one that no family here has is refused.
    ``workers``: cells at once on a local process pool (the sweep's executors,
    :mod:`lagnet.sweeps.executors`); ``ray``: a Ray cluster's address. Cells running side by
    side share the machine: give each its cores, or compare times with care. A failed cell
    is a row with its ``error``; the CLI then exits 1."""
    known = standard_models()
    tasks, models = list(tasks), known if models is None else list(models)
    for m in models:
        if m not in known:
            raise LagnetError("models", m, f"unknown model (known: {', '.join(known)})")
    check_unique(tasks, models)
    said = model_set_notes(models, overrides)
    for t in tasks:  # fail on a bad name or override before any training
        for m in models:
            cell_config(t, m, 0, max_seconds, overrides)
    if seeds < 1:
        raise LagnetError("seeds", seeds, "must be at least 1")
    if not max_seconds > 0:
        raise LagnetError("max_seconds", max_seconds, "must be positive")
    if workers < 1:
        raise LagnetError("workers", workers, "must be at least 1")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise LagnetError("out", str(out), "exists and is not a directory")
    check_parents(out)  # d.csv/x: one line, before anything is made
    for note in said:
        if on_note is not None:
            on_note(note)
        else:
            print(f"note: {note}", file=sys.stderr)
    out.mkdir(parents=True, exist_ok=True)
    cells = [Cell(t, m, s) for t in tasks for m in models for s in range(seeds)]
    executor = make_executor(None, workers, ray, None, len(cells))
    rows: list[dict] = []
    try:
        for _, row in executor.map(
            partial(run_cell, max_seconds=max_seconds, overrides=overrides), cells
        ):
            rows.append(row)
            write_csv(rows, out / "leaderboard.csv")  # after every cell: read a long bench early
            if on_row is not None:
                on_row(row)
    finally:
        if ray is not None:
            executor.close()
    order = {c: i for i, c in enumerate(cells)}
    rows.sort(key=lambda r: order[Cell(r["task"], r["model"], r["seed"])])
    write_csv(rows, out / "leaderboard.csv")
    (out / "leaderboard.md").write_text(markdown(rows, max_seconds))
    plot(rows, out / "leaderboard.png", max_seconds)
    return rows


def write_csv(rows: Iterable[dict], path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        for row in rows:
            w.writerow({k: _fmt(row.get(k)) for k in COLUMNS})
    os.replace(tmp, path)


def _fmt(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def _grid(rows: Sequence[dict], key: str, how: str = "median"):
    """``how`` (median or mean) of ``key`` over seeds: (tasks, models, array (T, M), NaN where
    missing); with ``how="mean"`` also the half-widths of the 95% intervals, (T, M)."""
    tasks = list(dict.fromkeys(r["task"] for r in rows))
    models = list(dict.fromkeys(r["model"] for r in rows))
    grid = np.full((len(tasks), len(models)), np.nan)
    half = np.full_like(grid, np.nan)
    for i, t in enumerate(tasks):
        for j, m in enumerate(models):
            vals = [r.get(key) for r in rows if r["task"] == t and r["model"] == m]
            vals = [v for v in vals if v is not None and math.isfinite(v)]
            if vals and how == "median":
                grid[i, j] = float(np.median(vals))
            elif vals:
                grid[i, j], half[i, j] = interval(vals)
    return (tasks, models, grid, half) if how == "mean" else (tasks, models, grid)


def markdown(rows: Sequence[dict], max_seconds: float) -> str:
    """Tasks × models table of mean test NRMSE over seeds (lower is better; the best in
    bold), then the training time at which each reached its best validation error."""
    seeds = len({r["seed"] for r in rows})
    tasks, models, nrmse, half = _grid(rows, "test_nrmse", "mean")
    _, _, tbest = _grid(rows, "time_to_best_s")
    over = f"mean ± 95% interval over {seeds} seeds" if seeds > 1 else "one seed"
    lines = [
        f"Test NRMSE ({over}; budget {max_seconds:g} s of training per cell; "
        "lower is better, best per task in bold)",
        "",
        "| task | " + " | ".join(models) + " | best |",
        "|---|" + "---:|" * len(models) + "---|",
    ]
    for i, t in enumerate(tasks):
        row = nrmse[i]
        best = int(np.nanargmin(row)) if np.isfinite(row).any() else None
        cells = []
        for j in range(len(models)):
            v = row[j]
            s = "—" if not np.isfinite(v) else f"{v:.3g}"
            runs = [r.get("test_nrmse") for r in rows if (r["task"], r["model"]) == (t, models[j])]
            if np.isfinite(v) and seeds > 1:  # one finite run gives no interval ("± 0" read
                one = sum(x is not None and math.isfinite(x) for x in runs) == 1  # as certain)
                s += " (1 seed)" if one else f" ± {half[i, j]:.2g}"
            cells.append(f"**{s}**" if j == best else s)
        lines.append(
            f"| {t} | " + " | ".join(cells) + f" | {models[best] if best is not None else '—'} |"
        )
    lines += [
        "",
        "Seconds of training until the best validation error (closed-form: fit time)",
        "",
        "| task | " + " | ".join(models) + " |",
        "|---|" + "---:|" * len(models),
    ]
    for i, t in enumerate(tasks):
        lines.append(
            f"| {t} | "
            + " | ".join("—" if not np.isfinite(v) else f"{v:.1f}" for v in tbest[i])
            + " |"
        )
    lines += optimal_rows(rows, tasks, models, nrmse)
    errors = [r for r in rows if r.get("error")]
    if errors:
        lines += ["", "Failed cells:", ""]
        lines += [f"- {r['task']} × {r['model']} (seed {r['seed']}): {r['error']}" for r in errors]
    return "\n".join(lines) + "\n"


def _mean(rows: Sequence[dict], key: str) -> float:
    vals = [r[key] for r in rows if r.get(key) is not None and math.isfinite(r[key])]
    return float(np.mean(vals)) if vals else float("nan")


def optimal_rows(rows: Sequence[dict], tasks: list[str], models: list[str], nrmse) -> list[str]:
    """Markdown: one baseline row per task whose optimal filter is known (the filter, its test
    MSE and NRMSE on the same paths as the models), beside the best family's (mean over
    seeds, as it is ranked) R² gap to it and share of the reachable error removed."""
    lines = []
    for i, t in enumerate(tasks):
        opt = next((r for r in rows if r["task"] == t and r.get("optimal")), None)
        if opt is None or not np.isfinite(nrmse[i]).any():
            continue
        best = models[int(np.nanargmin(nrmse[i]))]
        mine = [r for r in rows if r["task"] == t and r["model"] == best and not r.get("error")]
        share = _mean(mine, "reachable_share")
        lines.append(
            f"| {t} | {opt['optimal']} | {opt['optimal_mse']:.4g} | {opt['optimal_nrmse']:.3g} | "
            f"{best} | {_mean(mine, 'test_nrmse'):.3g} | "
            f"{opt['optimal_r2'] - _mean(mine, 'test_r2'):.4f} | "
            + ("—" if not np.isfinite(share) else percent(share))
            + " |"
        )
    if not lines:
        return []
    return [
        "",
        "The optimum on the same test paths (filtering tasks): the optimal filter, and the "
        "best family's gap to it — R² below the optimum, and the share of the reachable error "
        "(memoryless MSE − optimal MSE) it removed",
        "",
        "| task | optimal filter | MSE | NRMSE | best family | its NRMSE | R² gap | reachable share |",
        "|---|---|---:|---:|---|---:|---:|---:|",
        *lines,
    ]


def plot(rows: Sequence[dict], path: Path, max_seconds: float) -> None:
    """Two heat maps side by side: test NRMSE (log colour) and time to best."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    tasks, models, nrmse = _grid(rows, "test_nrmse", "mean")[:3]  # ranked as in the table
    _, _, tbest = _grid(rows, "time_to_best_s")
    fig, axes = plt.subplots(
        1, 2, figsize=(2.2 + 1.1 * len(models) * 2, 1.2 + 0.5 * len(tasks)), constrained_layout=True
    )
    finite = nrmse[np.isfinite(nrmse) & (nrmse > 0)]
    lo, hi = (finite.min(), finite.max()) if finite.size else (1e-3, 1.0)
    panels = [
        (
            nrmse,
            "test NRMSE (lower is better)",
            LogNorm(vmin=max(lo, 1e-6), vmax=max(hi, lo * 10)),
            "viridis_r",
            "{:.2g}",
        ),
        (tbest, f"seconds to best (budget {max_seconds:g} s)", None, "magma_r", "{:.0f}"),
    ]
    for ax, (grid, title, norm, cmap, fmt) in zip(axes, panels):
        shown = np.where(np.isfinite(grid), grid, np.nan)
        if norm is not None:  # an exact 0 (NARX recovering the formula) in the best colour
            shown = np.where(np.isfinite(grid) & (grid <= 0), norm.vmin, shown)
        im = ax.imshow(np.ma.masked_invalid(shown), cmap=cmap, norm=norm, aspect="auto")
        ax.set_xticks(range(len(models)), models, rotation=45, ha="right")
        ax.set_yticks(range(len(tasks)), tasks)
        ax.set_title(title, y=1.0)
        for i in range(len(tasks)):
            for j in range(len(models)):
                v = grid[i, j]
                ax.text(
                    j,
                    i,
                    "—" if not np.isfinite(v) else fmt.format(v),
                    ha="center",
                    va="center",
                    fontsize=8,
                    color=_ink(im, shown[i, j]),
                )
        fig.colorbar(im, ax=ax, shrink=0.8)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _ink(im, value: float) -> str:
    """Black on a light cell, white on a dark one, grey where there is no value."""
    if not np.isfinite(value):
        return "grey"
    r, g, b, _ = im.cmap(im.norm(value))
    return "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "white"
