"""What a sweep writes beside its ``points/``: ``sweep.csv`` (a row a run), ``summary.md`` (per
configuration: mean and 95% interval over seeds, the best in bold, the failures named), plots
(the metric against each numeric swept field, a curve per configuration of the other fields
with a band over seeds; a heat map for two fields) and ``sweep.html``, a page linking every
point's report. Each file is written atomically, after every finished point for the CSV, so a
killed driver leaves a true record."""

from __future__ import annotations

import csv
import html
import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lagnet.figure_base import new_figure
from lagnet.files import atomic_write, write_text
from lagnet.plots import write_figures

FIXED = ("seed", "status", "seconds", "error")

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def figure_grid(rows: int, cols: int, size: tuple[float, float]):
    fig = new_figure(figsize=size, layout="constrained")
    return fig, fig.subplots(rows, cols, squeeze=False) if rows * cols > 1 else fig.subplots()


def save_figure(fig: Figure, path: Path) -> None:
    write_figures({path.stem: fig}, [path.stem], path.parent)


def columns(rows: Sequence[dict], fields: Sequence[str]) -> list[str]:
    metrics = sorted({k for r in rows for k in r if k.startswith(("test.", "val."))})
    first = ["test.mse", "test.r2", "test.memory_r2"]
    return [*fields, "seed", *first, *[m for m in metrics if m not in first], *FIXED[1:], "id"]


def flat(row: dict) -> dict:
    return {**row.get("values", {}), **{k: v for k, v in row.items() if k != "values"}}


def write_csv(rows: Sequence[dict], fields: Sequence[str], path: Path) -> None:
    cols = columns(rows, fields)

    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
            w.writeheader()
            for r in sorted(rows, key=lambda r: r["id"]):
                w.writerow({k: ("" if v is None else v) for k, v in flat(r).items()})

    atomic_write(path, write)


def read_csv(path: Path) -> list[dict]:
    """Rows of a ``sweep.csv`` as written (numbers as floats where they parse)."""
    with open(path, newline="") as f:
        return [{k: _num(v) for k, v in r.items()} for r in csv.DictReader(f)]


def _num(v: str):
    if v == "":
        return None
    try:
        return float(v) if any(c in v for c in ".eEn") else int(v)
    except ValueError:
        return v


def configurations(rows: Sequence[dict], fields: Sequence[str]) -> list[tuple[tuple, list[dict]]]:
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault(tuple(str(r["values"].get(f)) for f in fields), []).append(r)
    return sorted(groups.items())


def interval(values: Sequence[float]) -> tuple[float, float]:
    """Mean and the half-width of its 95% t-interval (0 for one value)."""
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], float)
    if v.size == 0:
        return math.nan, math.nan
    if v.size == 1:
        return float(v[0]), 0.0
    from scipy.special import stdtrit  # SciPy when first used, not with lagnet

    return float(v.mean()), float(stdtrit(v.size - 1, 0.975) * v.std(ddof=1) / math.sqrt(v.size))


def mean_text(values: Sequence[float], number=lambda v: f"{v:.4g}") -> str:
    """The finite ``values`` as a cell: ``mean ± half-width`` of the 95% interval; one value
    alone with ``(1 seed)``, as one run gives no interval (``± 0`` would read as certainty);
    ``—`` for none."""
    v = [x for x in values if x is not None and math.isfinite(x)]
    mean, half = interval(v)
    if not v:
        return "—"
    return f"{number(mean)} (1 seed)" if len(v) == 1 else f"{number(mean)} ± {half:.2g}"


PROBLEM = ("target.", "process.")  # fields that change the problem, not how it is solved


def problem_fields(fields: Sequence[str]) -> list[str]:
    """The swept fields that make each point another problem (a formula's parameter, the
    process): the best is chosen per value of them, as memory_r2 at w = 0.1 and at w = 0.5
    measure different things."""
    return [f for f in fields if f in ("target", "process") or f.startswith(PROBLEM)]


def problem_of(row: dict, fields: Sequence[str]) -> tuple:
    return tuple(str(row["values"].get(f)) for f in problem_fields(fields))


def seed_count(rows: Sequence[dict]) -> int:
    return len({r["seed"] for r in rows})


def summary(rows: Sequence[dict], fields: Sequence[str], metric: str, maximize: bool) -> str:
    shown = [metric] + [m for m in ("test.mse", "test.r2", "test.memory_r2") if m != metric]
    groups = configurations(rows, fields)
    stats_ = []
    for _, members in groups:
        ok = [r for r in members if r["status"] == "complete"]
        stats_.append({m: [r.get(m) for r in ok] for m in shown})
    means = [interval(s[metric])[0] for s in stats_]
    problems = [problem_of(members[0], fields) for _, members in groups]
    best = {}  # per problem, the best configuration's mean
    for p, m in zip(problems, means):
        if math.isfinite(m) and (p not in best or (m > best[p] if maximize else m < best[p])):
            best[p] = m
    per = problem_fields(fields)
    seeds = seed_count(rows)
    over = (
        "One seed: each value is its configuration's one run (no interval: that needs two seeds)"
        if seeds == 1
        else f"Mean ± 95% interval over the {seeds} seeds' complete runs (one complete run: its "
        "value, marked (1 seed))"
    )
    lines = [
        f"# Sweep: {len(rows)} runs, {len(groups)} configurations",
        "",
        f"{over}; best {metric} ({'highest' if maximize else 'lowest'}) in bold"
        + (f", per {', '.join(per)} (each value another problem)" if per else "")
        + (
            " — chosen on the test paths, so the best row's test numbers flatter it "
            '(metric = "val.r2" or "val.mse" chooses on the validation paths).'
            if metric.startswith("test.")
            else " — chosen on the validation paths; the test numbers are untouched by it."
        ),
        "",
        "| " + " | ".join([*fields, *shown, "runs"]) + " |",
        "|" + "---|" * (len(fields) + len(shown) + 1),
    ]
    for (key, members), s, mean, p in zip(groups, stats_, means, problems):
        cells = list(key)
        for m in shown:
            text = mean_text(s[m])
            cells.append(f"**{text}**" if m == metric and mean == best.get(p) else text)
        done = sum(r["status"] == "complete" for r in members)
        cells.append(f"{done}/{len(members)}")
        lines.append("| " + " | ".join(cells) + " |")
    bad = [r for r in rows if r["status"] != "complete"]
    if bad:
        lines += ["", f"## Not complete ({len(bad)})", ""]
        lines += [f"- `{r['id']}` ({r['status']}): {r.get('error') or ''}" for r in bad]
    return "\n".join(lines) + "\n"


def numeric(rows: Sequence[dict], name: str) -> bool:
    vals = [r["values"].get(name) for r in rows]
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals)


MAX_CURVES = 6  # configurations of the other fields drawn one by one; more are pooled, and said so


def plot_curves(rows, fields, metrics, baseline: str | None, path: Path) -> bool:
    """Each metric against each numeric swept field: a curve per configuration of the other
    swept fields, the mean over its seeds with a 95% band where a point has two runs or more.
    Past ``MAX_CURVES`` configurations one curve pools them, and its label names what it
    pooled: its band is then their spread, not the seeds' alone."""
    xs = [f for f in fields if numeric(rows, f)]
    if not xs:
        return False
    done = [r for r in rows if r["status"] == "complete"]
    fig, axes = figure_grid(len(xs), len(metrics), (4.2 * len(metrics), 3.2 * len(xs)))
    axes = np.atleast_2d(axes)
    pooled = False
    for i, f in enumerate(xs):
        curves = curve_groups(done, fields, f)
        pooled = pooled or any(n > 1 for _, n, _ in curves)
        for j, m in enumerate(metrics):
            ax = axes[i, j]
            with_baseline = m == "test.r2" and bool(baseline)
            for name, style in ((m, "-o"), *((baseline, "--s"),) * with_baseline):
                for c, (label, _, members) in enumerate(curves):
                    pts = _curve(members, f, name)
                    if not pts:
                        continue
                    x, mean, half, n = (np.asarray(a, float) for a in zip(*pts))
                    shown = label
                    if name == baseline:  # one legend entry for every configuration's baseline
                        shown = "memoryless baseline (dashed)" if c == 0 else None
                    ax.plot(x, mean, style, color=f"C{c % 10}", label=shown, ms=4)
                    # an R² is at most 1: a band from 2 seeds ran to 1.97
                    top = mean + half if "r2" not in name else np.minimum(mean + half, 1.0)
                    if (n >= 2).any():  # one run has no interval: no band
                        ax.fill_between(x, mean - half, top, where=n >= 2,
                                        color=f"C{c % 10}", alpha=0.2)  # fmt: skip
            values = np.array([float(r["values"][f]) for r in done])
            if values.size and values.min() > 0 and values.max() >= 100 * values.min():
                ax.set_xscale("log")  # a rate from 0.005 to 1e6, or drawn log-uniform
            ax.set_xlabel(f)
            ax.set_ylabel(m)
            ax.grid(alpha=0.3)
            labelled = ax.get_legend_handles_labels()[0]
            if labelled and (with_baseline or any(label != "model" for label, _, _ in curves)):
                ax.legend(fontsize=7)
    fig.suptitle(curves_title(rows, pooled), fontsize=10)
    save_figure(fig, path)
    return True


def curve_groups(done, fields, field) -> list[tuple[str, int, list[dict]]]:
    """The complete runs ``done`` as curves against ``field``: (label, configurations pooled,
    runs), one per configuration of the other swept fields, or one pooling them all past
    ``MAX_CURVES``."""
    others = [g for g in fields if g != field]
    if not others:
        return [("model", 1, done)]
    groups = configurations(done, others)
    if len(groups) <= MAX_CURVES:
        return [(", ".join(f"{g}={v}" for g, v in zip(others, key)), 1, m) for key, m in groups]
    seeds = seed_count(done)
    label = (
        f"pooled: mean over {len(groups)} configurations of {', '.join(others)}"
        f" × {seeds} seed{'s' * (seeds != 1)}"
    )
    return [(label, len(groups), done)]


def curves_title(rows, pooled: bool) -> str:
    """The figure's title: the true number of seeds, and what a pooled curve's band spans."""
    seeds = seed_count(rows)
    text = (
        "1 seed: a point is one run, no band"
        if seeds == 1
        else f"mean over {seeds} seeds; band: 95% interval"
    )
    return text + "\npooled curve: mean, 95% interval over its runs" * pooled


def _curve(rows, field, metric):
    """(x, mean, half-width, runs) at each value of ``field``."""
    groups: dict[float, list] = {}
    for r in rows:
        v = r.get(metric)
        if r["status"] == "complete" and v is not None and math.isfinite(v):
            groups.setdefault(float(r["values"][field]), []).append(v)
    return [(x, *interval(v), len(v)) for x, v in sorted(groups.items())]


def plot_heatmap(rows, fields, metric, path: Path) -> bool:
    if len(fields) != 2:
        return False
    a, b = fields
    av = sorted({str(r["values"][a]) for r in rows}, key=_sort_key)
    bv = sorted({str(r["values"][b]) for r in rows}, key=_sort_key)
    grid = np.full((len(av), len(bv)), np.nan)
    for (ka, kb), members in configurations(rows, [a, b]):
        mean, _ = interval([r.get(metric) for r in members if r["status"] == "complete"])
        grid[av.index(ka), bv.index(kb)] = mean
    fig, ax = figure_grid(1, 1, (1.2 * len(bv) + 3, 0.8 * len(av) + 2))
    im = ax.imshow(grid, cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(bv)), bv)
    ax.set_yticks(range(len(av)), av)
    ax.set_xlabel(b)
    ax.set_ylabel(a)
    for i in range(len(av)):
        for j in range(len(bv)):
            if math.isfinite(grid[i, j]):
                ax.text(j, i, f"{grid[i, j]:.3g}", ha="center", va="center", color="w", fontsize=8)
    fig.colorbar(im, ax=ax, label=metric)
    save_figure(fig, path)
    return True


def _sort_key(v: str):
    try:
        return (0, float(v), v)
    except ValueError:
        return (1, 0.0, v)


def page(rows: Sequence[dict], fields: Sequence[str], summary_md: str, plots: Sequence[str]) -> str:
    """``sweep.html``: the plots, the summary table and a link to every point's report."""
    buf = io.StringIO()
    buf.write("<!doctype html><meta charset='utf-8'><title>lagnet sweep</title>")
    buf.write("<style>body{font-family:sans-serif;margin:2em}td,th{padding:2px 8px}"
              "tr:nth-child(even){background:#f4f4f4}</style>")  # fmt: skip
    buf.write(f"<h1>Sweep: {len(rows)} runs</h1>")
    for p in plots:
        buf.write(f"<p><img src='{html.escape(p)}' style='max-width:100%'></p>")
    buf.write(f"<pre>{html.escape(summary_md)}</pre><h2>Runs</h2><table><tr>")
    cols = [*fields, "seed", "status", "test.mse", "test.r2", "test.memory_r2", "report"]
    buf.write("".join(f"<th>{html.escape(c)}</th>" for c in cols) + "</tr>")
    for r in sorted(rows, key=lambda r: r["id"]):
        f = flat(r)
        cells = [html.escape(_fmt(f.get(c))) for c in cols[:-1]]
        link = f"points/{r['id']}/report.html"
        cells.append(f"<a href='{html.escape(link)}'>{html.escape(r['id'])}</a>")
        buf.write("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    buf.write("</table>")
    return buf.getvalue()


def _fmt(v) -> str:
    if v is None:
        return ""
    return f"{v:.5g}" if isinstance(v, float) else str(v)


def write_all(out: Path, rows, fields, metric: str, maximize: bool) -> list[str]:
    """summary.md, plots/*.png and sweep.html from the rows; returns the plot paths written."""
    text = summary(rows, fields, metric, maximize)
    write_text(out / "summary.md", text)
    (out / "plots").mkdir(exist_ok=True)
    metrics = [metric] + [m for m in ("test.r2", "test.memory_r2") if m != metric]
    metrics = [m for m in metrics if any(r.get(m) is not None for r in rows)]
    plots = []
    baseline = (
        "test.memoryless_r2" if any(r.get("test.memoryless_r2") is not None for r in rows) else None
    )
    if metrics and plot_curves(rows, fields, metrics, baseline, out / "plots" / "sweep_curves.png"):
        plots.append("plots/sweep_curves.png")
    if plot_heatmap(rows, list(fields), metric, out / "plots" / "sweep_heatmap.png"):
        plots.append("plots/sweep_heatmap.png")
    write_text(out / "sweep.html", page(rows, fields, text, plots))
    return plots
