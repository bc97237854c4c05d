"""Figures of a run: results in, ``matplotlib.figure.Figure`` out; nothing here computes a metric.

Five drawing functions take arrays and numbers that evaluation already produced, and
:func:`save_plots` reads a run directory (``metrics.json``, ``history.csv``,
``predictions.npz``) and writes them as ``plots/*.png``. Figures are built with
``Figure`` directly — no pyplot, so no global figure registry to leak or to close.

Shape legend: ``N`` sample paths, ``L`` time steps, ``C`` input channels, ``O`` outputs.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import numpy as np
from numpy.typing import ArrayLike

from lagnet.errors import LagnetError
from lagnet.figure_base import (
    DPI,
    MEMORYLESS,
    MODEL,
    TRUTH,
    as3d,
    emptiest_corner,
    fixed_figure,
    log_y_if_positive,
    new_figure,
    no_data,
)
from lagnet.files import atomic_write
from lagnet.plots_inputs import (
    MAX_DRAWN_INPUTS,
    channel_names,
    draw_inputs,
    first_input_line,
    join_lines,
    undrawn_line,
)

PLOT_NAMES = ("vs_input", "pred_vs_truth", "per_step_mse", "learning_curve", "sample_paths")

if TYPE_CHECKING:
    from matplotlib.figure import Figure


# ----------------------------------------------------------------------------- figures
def plot_vs_input(
    x_t: ArrayLike,
    y: ArrayLike,
    y_hat: ArrayLike,
    y_memoryless: Optional[ArrayLike] = None,
    input_name: str = "x",
    note: Optional[str] = None,
    input_names: Optional[Sequence[str]] = None,
) -> Figure:
    """Truth and prediction scattered against the current input x_t (``note``: a further title
    line, e.g. which output of several is drawn). ``input_names``, every input of a model that
    has several, adds a title line saying x_t is the first of them.

    All arrays have one shape (any, e.g. valid steps of ``(N, L)``) and are flattened. When the
    target depends on the past, the truth is a cloud around the memoryless curve E[y | x_t]; a
    model that learned the past reproduces the cloud, one that did not collapses onto the curve.
    """
    x_t = np.ravel(np.asarray(x_t, dtype=float))
    y = np.ravel(np.asarray(y, dtype=float))
    y_hat = np.ravel(np.asarray(y_hat, dtype=float))
    if not (x_t.shape == y.shape == y_hat.shape):
        raise LagnetError("y_hat", f"{y_hat.size} values", f"x_t has {x_t.size}, y {y.size}")
    if input_names is not None and len(input_names):
        input_name = str(input_names[0])
        note = join_lines(first_input_line([str(n) for n in input_names]), note)
    fig = fixed_figure(6.4, 4.8, top=0.45 + 0.22 * (note.count("\n") + 1 if note else 0))
    ax = fig.add_subplot()
    # The model's cloud underneath, the truth's smaller and on top, so a spread the model
    # failed to reproduce shows as blue points outside the orange.
    ax.scatter(x_t, y_hat, s=9, alpha=0.35, color=MODEL, linewidths=0, label="model")
    ax.scatter(x_t, y, s=3, alpha=0.6, color=TRUTH, linewidths=0, label="truth")
    if y_memoryless is not None:
        y_m = np.ravel(np.asarray(y_memoryless, dtype=float))
        if y_m.shape != x_t.shape:
            raise LagnetError("y_memoryless", f"{y_m.size} values", f"x_t has {x_t.size}")
        order = np.argsort(x_t, kind="stable")
        ax.plot(
            x_t[order],
            y_m[order],
            color=MEMORYLESS,
            lw=1.2,
            alpha=0.9,
            label="memoryless baseline",
        )
    if x_t.size == 0:
        no_data(ax, "no valid steps")
    ax.set_xlabel(f"current input {input_name}[t]")
    ax.set_ylabel("target y[t]")
    ax.set_title(
        f"Target and prediction against {input_name}[t]" + (f"\n{note}" if note else ""), y=1.0
    )
    corner = emptiest_corner(np.concatenate([x_t, x_t]), np.concatenate([y, y_hat]))
    ax.legend(loc=corner, markerscale=3)
    return fig


def plot_pred_vs_truth(y: ArrayLike, y_hat: ArrayLike, r2: Optional[float] = None) -> Figure:
    """Prediction against truth, with the y = x diagonal; ``r2`` goes in the title.

    Arrays of any one shape are flattened, except that a last axis of O > 1 outputs
    (``(…, O)`` of three or more dimensions) draws each output in its own colour."""
    y, y_hat = np.asarray(y, dtype=float), np.asarray(y_hat, dtype=float)
    if y.size != y_hat.size:
        raise LagnetError("y_hat", f"{y_hat.size} values", f"y has {y.size}")
    outputs = y.shape[-1] if y.ndim >= 3 and y.shape == y_hat.shape else 1
    y, y_hat = y.reshape(-1, outputs), y_hat.reshape(-1, outputs)  # (values, O)
    fig = fixed_figure(5.5, 5.5)
    ax = fig.add_subplot()
    for o in range(outputs):
        ax.scatter(
            y[:, o],
            y_hat[:, o],
            s=5,
            alpha=0.35,
            linewidths=0,
            color=MODEL if outputs == 1 else f"C{(o + 1) % 10}",
            label=f"output {o + 1}" if outputs > 1 else None,
        )
    y, y_hat = y.ravel(), y_hat.ravel()
    both = np.concatenate([y, y_hat])
    both = both[np.isfinite(both)]
    lo, hi = (float(both.min()), float(both.max())) if both.size else (0.0, 1.0)
    pad = 0.03 * (hi - lo) if hi > lo else 0.5
    lo, hi = lo - pad, hi + pad
    ax.plot([lo, hi], [lo, hi], color="0.3", lw=1, ls="--", label="y = x")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_aspect("equal")
    ax.set_xlabel("truth y")
    ax.set_ylabel("prediction ŷ")
    title = "Prediction vs truth"
    if r2 is not None:
        title += f" ({'mean ' if outputs > 1 else ''}test R² = {r2:.4g})"
    ax.set_title(title, y=1.0)
    ax.legend(loc="upper left")
    return fig


def _defined(values: Sequence[Optional[float]]) -> tuple[np.ndarray, np.ndarray]:
    """Steps and values where the entry is not None (None: target undefined at that step)."""
    pairs = [(t, float(v)) for t, v in enumerate(values) if v is not None]
    t = np.array([p[0] for p in pairs], dtype=int)
    v = np.array([p[1] for p in pairs], dtype=float)
    return t, v


def plot_per_step_mse(
    per_step_mse: Sequence[Optional[float]],
    per_step_mse_memoryless: Optional[Sequence[Optional[float]]] = None,
) -> Figure:
    """MSE at each time step t (None entries, where the target is undefined, are skipped)."""
    fig = fixed_figure(7.0, 4.0, left=0.95)
    ax = fig.add_subplot()
    t, v = _defined(per_step_mse)
    ax.plot(t, v, color=MODEL, lw=1.5, marker="." if t.size < 50 else None, label="model")
    drawn = [v]
    if per_step_mse_memoryless is not None:
        tm, vm = _defined(per_step_mse_memoryless)
        ax.plot(tm, vm, color=MEMORYLESS, lw=1.2, ls="--", label="memoryless baseline")
        drawn.append(vm)
    if t.size == 0:
        no_data(ax, "no time step has a defined target")
    log_y_if_positive(ax, *drawn)
    ax.set_xlabel("time step t")
    ax.set_ylabel("MSE over test paths")
    ax.set_title("Error per time step", y=1.0)
    ax.legend(loc="best")
    return fig


def plot_learning_curve(history: Mapping[str, ArrayLike]) -> Figure:
    """Train loss and validation MSE against step (log y); validation 1 − R² (log y) in a
    second panel.

    ``history`` maps column names of ``history.csv`` (``step``, ``loss``, ``val_mse``,
    ``val_r2``, …) to equal-length arrays; zero rows give labelled, empty panels.
    """
    col = {
        k: np.asarray(history.get(k, ()), dtype=float)
        for k in ("step", "loss", "val_mse", "val_r2")
    }
    steps = col["step"]
    fig = fixed_figure(7.0, 5.5, left=0.95)
    ax_loss, ax_r2 = fig.subplots(
        2, 1, sharex=True, height_ratios=(2, 1), gridspec_kw=dict(hspace=0.08)
    )
    # One row is a single point: markers keep it visible where a line would be invisible.
    marker = "o" if steps.size <= 20 else None
    drawn = []
    for key, label, color in (("loss", "train loss", TRUTH), ("val_mse", "val MSE", MODEL)):
        if col[key].size == steps.size and steps.size:
            ax_loss.plot(steps, col[key], color=color, marker=marker, label=label)
            drawn.append(col[key])
    gap = 1.0 - col["val_r2"]  # 1 − R² on a log axis: 0.999 and 0.9999 look different
    if gap.size == steps.size and steps.size:
        ax_r2.plot(steps, gap, color="tab:green", marker=marker, label="val 1 − R²")
        log_y_if_positive(ax_r2, gap)
    if steps.size == 0:
        no_data(ax_loss, "no validation rows recorded")
        no_data(ax_r2, "no validation rows recorded")
    log_y_if_positive(ax_loss, *drawn)
    ax_loss.set_ylabel("loss / MSE")
    ax_loss.set_title("Learning curve", y=1.0)
    ax_r2.set_ylabel("val 1 − R²")
    ax_r2.set_xlabel("training step")
    if drawn:
        ax_loss.legend(loc="best")
    return fig


def plot_sample_paths(
    x: ArrayLike,
    y: ArrayLike,
    y_hat: ArrayLike,
    valid: ArrayLike,
    n: int = 3,
    input_name: str = "x",
    note: Optional[str] = None,
    input_names: Optional[Sequence[str]] = None,
) -> Figure:
    """The first ``n`` paths over t: the input channels (right axis; the first four, each in its
    own colour, named by ``input_names``), truth and prediction of output 0 (``note``: a further
    title line, e.g. saying so when there are several outputs; a line naming the inputs not
    drawn is added).

    x (N, L, C), y and y_hat (N, L, O) or (N, L); valid (L,) bool. Truth and prediction are drawn
    only where the target is defined; the undefined steps are shaded.
    """
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise LagnetError("n", n, "must be an integer ≥ 1")
    x, y, y_hat = as3d(x, "x"), as3d(y, "y"), as3d(y_hat, "y_hat")
    valid = np.asarray(valid, dtype=bool)
    n_paths, length = y.shape[:2]
    if valid.shape != (length,):
        raise LagnetError("valid", f"shape {valid.shape}", f"expected ({length},)")
    n = min(int(n), n_paths)
    t = np.arange(length)
    names = channel_names(x.shape[2], input_names, input_name)
    note = join_lines(note, undrawn_line(names))
    # Undefined steps as runs [start, stop) so each is one shaded band, not one per step.
    edges = np.flatnonzero(np.diff(np.concatenate([[0], (~valid).astype(int), [0]])))
    undefined = list(zip(edges[::2], edges[1::2]))
    # Fixed margins in inches (see fixed_figure): the title (a line more per note line) on top,
    # the time axis and the legend (a row per four entries) below, the input's label on the right.
    rows = -(-(2 + bool(undefined) + min(len(names), MAX_DRAWN_INPUTS)) // 4)
    width, height = 8.0, 1.2 + 2.2 * max(n, 1) + 0.2 * (rows - 1)
    top = 0.6 + 0.25 * (note.count("\n") + 1 if note else 0)
    fig = new_figure(figsize=(width, height))
    fig.subplots_adjust(
        left=0.85 / width,
        right=1 - 0.85 / width,
        bottom=(0.95 + 0.2 * (rows - 1)) / height,
        top=1 - top / height,
        hspace=0.45 * max(n, 1) / height,
    )
    axes = fig.subplots(max(n, 1), 1, sharex=True, squeeze=False)[:, 0]
    for i, ax in enumerate(axes[:n]):
        twin = ax.twinx()
        draw_inputs(twin, t, x[i], names)
        # The target axis on top of the input's, so truth and prediction are not hidden.
        ax.set_zorder(twin.get_zorder() + 1)
        ax.patch.set_visible(False)
        ax.plot(t, np.where(valid, y[i, :, 0], np.nan), color=TRUTH, lw=1.4, label="truth")
        ax.plot(
            t, np.where(valid, y_hat[i, :, 0], np.nan), color=MODEL, lw=1.2, ls="--", label="model"
        )
        for j, (start, stop) in enumerate(undefined):
            ax.axvspan(
                start - 0.5,
                stop - 0.5,
                color="0.85",
                alpha=0.6,
                lw=0,
                label="target undefined" if j == 0 else None,
            )
        ax.set_ylabel("target y")
        ax.set_title(f"path {i}", fontsize="medium", loc="left", y=1.0)
        if i == 0:
            handles, labels = ax.get_legend_handles_labels()
            twin_handles, twin_labels = twin.get_legend_handles_labels()
            fig.legend(
                handles + twin_handles,
                labels + twin_labels,
                loc="lower center",
                bbox_to_anchor=(0.5, 0.02),
                ncol=4,
                fontsize="small",
                frameon=False,
            )
    axes[-1].set_xlabel("time step t")
    if n == 0:
        no_data(axes[0], "no sample paths")
    fig.suptitle("Sample test paths" + (f"\n{note}" if note else ""))
    return fig


# ----------------------------------------------------------------------------- run directory
def read_history(path: Path) -> dict[str, np.ndarray]:
    """``history.csv`` as column name -> float array; no file or no rows gives empty columns."""
    path = Path(path)
    if not path.exists():
        return {}
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
        names = reader.fieldnames or []
    # Empty cells (a metric not recorded at that row) become NaN rather than failing.
    return {
        name: np.array([float(r[name]) if r.get(name) not in (None, "") else np.nan for r in rows])
        for name in names
    }


def write_figures(
    figures: dict[str, Figure], names, directory: Path, prefix: str = ""
) -> dict[str, Path]:
    """Save the figures named in ``names`` (in that order, those present) as
    ``directory/<prefix><name>.png``; returns name -> path."""
    directory.mkdir(exist_ok=True)
    paths = {}
    for name in names:
        if name in figures:
            paths[name] = directory / f"{prefix}{name}.png"
            _save(figures.pop(name), paths[name])
    return paths


def _save(fig: Figure, path: Path) -> None:
    # Written to a temporary name, then renamed: a crash never leaves a half-written PNG.
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=DPI))


def save_plots(run_dir: str | os.PathLike) -> dict[str, Path]:
    """Draw the figures of a run directory into ``run_dir/plots/<name>.png``; name -> path.

    Needs ``metrics.json``. ``history.csv`` is optional (no rows: an empty learning curve);
    without ``predictions.npz`` the three figures drawn from predictions are skipped and
    left out of the returned dict.
    """
    run_dir = Path(run_dir)
    if not (run_dir / "metrics.json").is_file():
        raise LagnetError("run_dir", str(run_dir), "has no metrics.json")
    metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    test = metrics.get("test") or {}
    figures = {
        "per_step_mse": plot_per_step_mse(
            metrics.get("per_step_mse") or [], metrics.get("per_step_mse_memoryless")
        ),
        "learning_curve": plot_learning_curve(read_history(run_dir / "history.csv")),
    }
    if (run_dir / "predictions.npz").is_file():
        with np.load(run_dir / "predictions.npz", allow_pickle=False) as npz:
            pred = {k: npz[k] for k in npz.files}
        x, y, y_hat = as3d(pred["x"], "x"), as3d(pred["y"], "y"), as3d(pred["y_hat"], "y_hat")
        y_mem = as3d(pred["y_memoryless"], "y_memoryless") if "y_memoryless" in pred else None
        valid = np.asarray(pred["valid"], dtype=bool)  # (L,)
        names = pred.get("input_names")
        names = [str(name) for name in names] if names is not None and len(names) else None
        # With several outputs, the per-path figures draw the first and say so; the metrics
        # of every output are in metrics.json and the report's table.
        formula = (metrics.get("target") or {}).get("formula")
        note = None
        if y.shape[2] > 1:
            first = formula[0] if isinstance(formula, list) and formula else "output 1"
            note = f"output 1 of {y.shape[2]}: {first}"
        # The memoryless baseline is a function of all current inputs; only with one input
        # channel is it a curve over x[t] rather than a zigzag.
        mem_curve = y_mem[:, valid, 0] if y_mem is not None and x.shape[2] == 1 else None
        figures["vs_input"] = plot_vs_input(
            x[:, valid, 0],
            y[:, valid, 0],
            y_hat[:, valid, 0],
            mem_curve,
            note=note,
            input_names=names,
        )
        figures["pred_vs_truth"] = plot_pred_vs_truth(
            y[:, valid, :], y_hat[:, valid, :], r2=test.get("r2")
        )
        figures["sample_paths"] = plot_sample_paths(
            x, y, y_hat, valid, n=3, note=note, input_names=names
        )
    return write_figures(figures, PLOT_NAMES, run_dir / "plots")
