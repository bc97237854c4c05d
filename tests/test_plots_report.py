"""Plots and the HTML report, drawn from a synthetic run directory (no training involved)."""

from __future__ import annotations

import base64
import json
import re
import shutil

import numpy as np
import pytest
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure
from matplotlib.image import imread

from lagnet.plots import (
    PLOT_NAMES,
    plot_learning_curve,
    plot_per_step_mse,
    plot_pred_vs_truth,
    plot_sample_paths,
    plot_vs_input,
    save_plots,
)
from lagnet.report import write_report

N, L = 40, 31  # sample paths, time steps
HEADLINE = "The model learned the past: memory_r2 = 0.8731."
CONFIG = """name = "forum-ar1"
seed = 0
device = "cpu"

[process]
kind = "arma"
ar = [0.5]

[target]
formula = "x[t]**2 + 0.1*x[t-1]**2"
inputs = ["x"]

[model]
kind = "gru"
hidden = 32
"""


def _metrics(formula: str, memory_r2) -> dict:
    per_step = [None] + [0.01 + 0.001 * t for t in range(1, L)]
    return {
        "test": {
            "mse": 0.0123,
            "rmse": 0.1109,
            "nrmse": 0.078,
            "r2": 0.9939,
            "memory_r2": memory_r2,
            "paths": 1000,
            "length": L,
        },
        "baselines": {
            "memoryless": {"mse": 0.0967, "r2": 0.952},
            "linear_lags": {"mse": 1.9, "r2": 0.05, "lags": 2},
        },
        "per_step_mse": per_step,
        "per_step_mse_memoryless": [None] + [0.09] * (L - 1),
        "long_horizon": {"length": 10 * L, "mse": 0.0131, "r2": 0.993, "ratio": 1.065},
        "train": {
            "steps": 1500,
            "seconds": 17.2,
            "sequences": 192000,
            "stopped": "plateau",
            "ms_per_step": 11.5,
            "best_step": 1400,
        },
        "target": {"formula": formula, "max_lag": 1, "variance": 2.02, "memory_share": 0.048},
        "model": {"kind": "gru", "parameters": 3457},
        "verdict": {
            "learned_past": True,
            "headline": HEADLINE,
            "details": [
                "Test MSE is 7.9× below the memoryless baseline.",
                "No drift over 10× the training length.",
            ],
        },
    }


def _make_run(path, rng, formula="x[t]**2 + 0.1*x[t-1]**2", memory_r2=0.8731, history_rows=12):
    path.mkdir(parents=True, exist_ok=True)
    x = rng.standard_normal((N, L, 1))  # (N, L, C)
    prev = np.concatenate([np.zeros((N, 1, 1)), x[:, :-1]], axis=1)
    y = x**2 + 0.1 * prev**2  # (N, L, O)
    y_hat = y + 0.1 * rng.standard_normal(y.shape)
    y_mem = x**2 + 0.1
    valid = np.arange(L) >= 1
    np.savez(
        path / "predictions.npz",
        x=x,
        y=y,
        y_hat=y_hat,
        y_memoryless=y_mem,
        valid=valid,
        input_names=np.array(["x"]),
    )
    (path / "metrics.json").write_text(json.dumps(_metrics(formula, memory_r2)))
    lines = ["step,seconds,lr,loss,val_mse,val_r2"]
    for i in range(history_rows):
        step = 100 * (i + 1)
        lines.append(f"{step},{0.1 * step},0.001,{1 / step},{1.2 / step},{1 - 1 / step}")
    (path / "history.csv").write_text("\n".join(lines) + "\n")
    (path / "config.toml").write_text(CONFIG.replace("x[t]**2 + 0.1*x[t-1]**2", formula))
    return path


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def run_dir(tmp_path, rng):
    return _make_run(tmp_path / "run", rng)


@pytest.fixture(scope="module")
def _plotted_once(tmp_path_factory):
    run = _make_run(tmp_path_factory.mktemp("plotted") / "run", np.random.default_rng(0))
    paths = save_plots(run)
    return run, paths


@pytest.fixture
def plotted_run(_plotted_once, tmp_path):
    """A run directory with its plots drawn (drawn once per module, copied per test)."""
    return shutil.copytree(_plotted_once[0], tmp_path / "run")


def _labelled(fig: Figure) -> None:
    assert isinstance(fig, Figure)
    for ax in fig.axes:
        assert ax.get_ylabel()
    # Panels sharing x (and twin axes) leave the x label to the bottom panel.
    hosts = [ax for ax in fig.axes if ax.get_xlabel()]
    assert hosts


# ----------------------------------------------------------------------------- figures
def test_plot_vs_input(rng):
    x = rng.standard_normal((N, L))
    y = x**2
    fig = plot_vs_input(x, y, y + 0.1, y_memoryless=x**2, input_name="u")
    _labelled(fig)
    ax = fig.axes[0]
    assert "u" in ax.get_xlabel()
    assert sum(isinstance(c, PathCollection) for c in ax.collections) == 2
    assert len(ax.lines) == 1  # the memoryless curve
    assert len(plot_vs_input(x, y, y).axes[0].lines) == 0


def test_plot_pred_vs_truth(rng):
    y = rng.standard_normal((N, L, 1))
    fig = plot_pred_vs_truth(y, y + 0.05, r2=0.9876)
    _labelled(fig)
    ax = fig.axes[0]
    assert len(ax.collections) == 1 and len(ax.lines) == 1  # scatter + diagonal
    assert "0.9876" in ax.get_title()


def test_plot_per_step_mse_skips_undefined_steps():
    fig = plot_per_step_mse([None, None, 0.1, 0.2, 0.3], [None, None, 1.0, 1.0, 1.0])
    _labelled(fig)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "time step t"
    assert ax.get_yscale() == "log"
    assert len(ax.lines) == 2
    assert list(ax.lines[0].get_xdata()) == [2, 3, 4]
    assert len(plot_per_step_mse([None, 0.5]).axes[0].lines) == 1


@pytest.mark.parametrize("rows", [0, 1, 15])
def test_plot_learning_curve(rows):
    step = np.arange(1, rows + 1) * 10.0
    history = {"step": step, "loss": 1 / step, "val_mse": 2 / step, "val_r2": 1 - 1 / step}
    fig = plot_learning_curve(history)
    _labelled(fig)
    ax_loss, ax_r2 = fig.axes
    assert len(ax_loss.lines) == (2 if rows else 0)
    assert len(ax_r2.lines) == (1 if rows else 0)
    if rows:
        assert ax_loss.get_yscale() == "log" and ax_r2.get_yscale() == "log"
        np.testing.assert_allclose(ax_r2.lines[0].get_ydata(), 1 / step)  # 1 − R² is drawn


def test_plot_learning_curve_without_columns():
    _labelled(plot_learning_curve({}))


def test_plot_sample_paths(rng):
    x = rng.standard_normal((N, L, 2))
    y = rng.standard_normal((N, L, 1))
    valid = np.arange(L) >= 3
    fig = plot_sample_paths(x, y, y, valid, n=2)
    _labelled(fig)
    hosts = [ax for ax in fig.axes if ax.get_ylabel() == "target y"]
    assert len(hosts) == 2
    assert hosts[-1].get_xlabel() == "time step t"  # shared x: the bottom panel names it
    for ax in hosts:
        assert len(ax.lines) == 2  # truth, prediction (the input is on the twin axis)
        assert np.isnan(ax.lines[0].get_ydata()[:3]).all()
    assert len(plot_sample_paths(x[:4], y[:4], y[:4], valid, n=99).axes) == 2 * 4  # n clipped to N


def test_plot_sample_paths_rejects_bad_n(rng):
    y = rng.standard_normal((N, L))
    with pytest.raises(ValueError, match="^n: 0"):
        plot_sample_paths(y, y, y, np.ones(L, bool), n=0)


# ----------------------------------------------------------------------------- run directory
def _check_pngs(paths):
    assert set(paths) == set(PLOT_NAMES)
    for path in paths.values():
        assert path.stat().st_size > 0
        img = imread(path)
        assert img.ndim == 3 and img.shape[2] in (3, 4)
        assert img.shape[0] > 100 and img.shape[1] > 100


def test_save_plots(_plotted_once):
    run, paths = _plotted_once
    _check_pngs(paths)
    assert all(p.parent == run / "plots" for p in paths.values())
    assert not list((run / "plots").glob("*.tmp"))


@pytest.mark.slow
@pytest.mark.parametrize("history_rows", [0, 1, None])
def test_save_plots_with_short_history(tmp_path, rng, history_rows):
    run = _make_run(tmp_path / "run", rng, history_rows=history_rows or 0)
    if history_rows is None:
        (run / "history.csv").unlink()
    _check_pngs(save_plots(run))


def test_save_plots_without_predictions(run_dir):
    (run_dir / "predictions.npz").unlink()
    paths = save_plots(run_dir)
    assert set(paths) == {"per_step_mse", "learning_curve"}
    assert sorted(p.name for p in (run_dir / "plots").iterdir()) == [
        "learning_curve.png",
        "per_step_mse.png",
    ]


def test_save_plots_needs_metrics(tmp_path):
    with pytest.raises(ValueError, match="metrics.json"):
        save_plots(tmp_path)


def _images(page: str) -> list[bytes]:
    return [
        base64.b64decode(b)
        for b in re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    ]


def test_write_report(plotted_run):
    run_dir = plotted_run
    path = write_report(run_dir)
    assert path == run_dir / "report.html"
    assert not (run_dir / "report.html.tmp").exists()
    page = path.read_text(encoding="utf-8")
    assert HEADLINE in page
    assert "x[t]**2 + 0.1*x[t-1]**2" in page
    assert "forum-ar1" in page
    assert "0.8731" in page
    assert "class='verdict good'" in page
    assert page.count('<img src="data:image/png;base64,') == 5
    assert all(img.startswith(b"\x89PNG") for img in _images(page))
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*https?://""", page, re.IGNORECASE)
    assert "hidden = 32" in page  # the config, verbatim


def test_write_report_escapes_and_handles_null_memory_r2(plotted_run, rng):
    run = _make_run(
        plotted_run, rng, formula="x[t] if x[t-1] < 0 & 1 else 0", memory_r2=None, history_rows=0
    )
    page = write_report(run).read_text(encoding="utf-8")
    assert "x[t] if x[t-1] &lt; 0 &amp; 1 else 0" in page
    assert "x[t-1] < 0" not in page
    assert "n/a — the target needs no memory" in page
    assert len(_images(page)) == 5


def test_write_report_verdict_colours(run_dir):
    for learned, cls in ((False, "bad"), (None, "neutral")):
        metrics = json.loads((run_dir / "metrics.json").read_text())
        metrics["verdict"]["learned_past"] = learned
        (run_dir / "metrics.json").write_text(json.dumps(metrics))
        assert f"class='verdict {cls}'" in write_report(run_dir).read_text(encoding="utf-8")


def test_write_report_notes_missing_plots(plotted_run):
    run_dir = plotted_run
    (run_dir / "plots" / "learning_curve.png").unlink()
    (run_dir / "config.toml").unlink()
    page = write_report(run_dir).read_text(encoding="utf-8")
    assert len(_images(page)) == 4
    assert "learning_curve.png was not found" in page
    assert "config.toml is missing" in page


def test_write_report_needs_metrics(tmp_path):
    with pytest.raises(ValueError, match="metrics.json"):
        write_report(tmp_path)


def test_the_legend_goes_to_the_emptiest_corner():
    from lagnet.figure_base import emptiest_corner

    x = np.random.default_rng(0).normal(size=5000)
    assert emptiest_corner(x, x) == "upper left"  # a rising cloud leaves that corner empty
    assert emptiest_corner(x, -x) == "upper right"
    assert emptiest_corner(x, 0.01 * x + 5) in ("upper left", "lower right")  # flat: either
    assert emptiest_corner(np.array([np.nan]), np.array([1.0])) == "upper left"


def test_log_axes_label_in_plain_text_what_matplotlib_labels_in_mathtext():
    """The log-axis labels are matplotlib's own (same ticks, same numbers), without mathtext."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from lagnet.figure_base import log_y_if_positive, plain_math

    assert plain_math(r"$\mathdefault{10^{-4}}$") == "10⁻⁴"
    assert plain_math(r"$\mathdefault{2\times10^{-3}}$") == "2×10⁻³"
    assert plain_math(r"$\mathdefault{10^{2}}$") == "10²"
    assert plain_math("0.5") == "0.5" and plain_math("") == ""
    labels = {}
    for plain in (False, True):
        fig = Figure()
        ax = fig.subplots()
        ax.plot([1, 2, 3], [2e-4, 1e-3, 5e-3])
        if plain:
            log_y_if_positive(ax, np.array([2e-4, 5e-3]))
        else:
            ax.set_yscale("log")
        FigureCanvasAgg(fig).draw()
        labels[plain] = [[t.get_text() for t in ax.get_yticklabels(minor=m)] for m in (False, True)]
    assert labels[True] == [[plain_math(s) for s in ls] for ls in labels[False]]
    assert any("×" in s for s in labels[True][1]) and not any(
        "$" in s for ls in labels[True] for s in ls
    )
