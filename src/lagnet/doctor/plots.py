"""The doctor's figures: numbers from ``doctor.json`` in, ``matplotlib.figure.Figure`` out;
nothing here computes a diagnostic. :func:`save_doctor_plots` writes them as
``plots/doctor_<name>.png`` beside the run's standard plots.

Example::

    >>> fig = plot_oracle([0, 1, 2], [1.0, 0.1, 0.1], model_mse=0.5, true_lag=1, effective=1)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import numpy as np

from lagnet.figure_base import new_figure
from lagnet.plots import write_figures

DOCTOR_PLOTS = ("oracle", "probe", "gradients", "long_horizon")
_MODEL, _ORACLE, _INIT = "tab:orange", "tab:blue", "0.5"

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _positive(values) -> np.ndarray:
    v = np.asarray([np.nan if x is None else x for x in values], np.float64)
    return np.where(v > 0, v, np.nan)


def _log_if_wide(ax, values) -> None:
    """A log y axis when the positive values span more than a decade (a narrower range reads
    better, and is labelled better, on a linear one)."""
    v = _positive(values)
    v = v[np.isfinite(v)]
    if v.size and v.max() > 10 * v.min():
        ax.set_yscale("log")


def plot_oracle(
    ks: Sequence[int],
    oracle_mse: Sequence[float],
    model_mse: float,
    true_lag: Optional[int],
    effective: Optional[int],
) -> Figure:
    """The lag oracle's MSE against k, the model's MSE as a level, the target's
    memory and the model's effective memory as vertical lines."""
    fig = new_figure(figsize=(7.0, 4.0), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(
        ks,
        _positive(oracle_mse),
        color=_ORACLE,
        marker="o",
        ms=4,
        label="lag oracle: best MSE from the last k inputs",
    )
    ax.axhline(model_mse, color=_MODEL, lw=1.5, label=f"model MSE {model_mse:.3g}")
    if true_lag is not None:
        ax.axvline(true_lag, color="0.3", ls="--", lw=1, label=f"target's memory {true_lag}")
    if effective is not None:
        ax.axvline(
            effective, color=_MODEL, ls=":", lw=1.5, label=f"model's effective memory {effective}"
        )
    _log_if_wide(ax, [*oracle_mse, model_mse])
    ax.set_xlabel("k: inputs x[t], …, x[t−k] seen")
    ax.set_ylabel("test MSE")
    ax.set_title("How much of the past the target needs", y=1.0)
    ax.legend(loc="best", fontsize="small")
    return fig


def plot_probe(ks: Sequence[int], r2: Sequence[float]) -> Figure:
    """Held-out R² of reading x[t−k] out of the hidden state at t, against k."""
    fig = new_figure(figsize=(7.0, 3.6), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(ks, [np.nan if v is None else v for v in r2], color=_MODEL, marker="o", ms=4)
    ax.axhline(0.0, color="0.6", lw=0.8)
    ax.set_ylim(min(-0.05, np.nanmin([v for v in r2 if v is not None] or [0.0])), 1.05)
    ax.set_xlabel("k")
    ax.set_ylabel("R² of x[t−k] from the state")
    ax.set_title("Memory probe: what the hidden state still holds", y=1.0)
    return fig


def plot_gradients(
    k: Sequence[int], trained: Sequence[float], init: Optional[Sequence[float]]
) -> Figure:
    """‖∂y_t/∂x_(t−k)‖ against k, after training and at initialisation; lags where it
    is exactly 0 after training (beyond a receptive field) are marked along the bottom."""
    fig = new_figure(figsize=(7.0, 4.0), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(k, _positive(trained), color=_MODEL, marker=".", label="after training")
    if init is not None:
        ax.plot(k, _positive(init), color=_INIT, ls="--", marker=".", label="at initialisation")
    zero = [kk for kk, v in zip(k, trained) if v == 0]
    if zero:  # exactly 0: no path from those inputs; marked along the bottom edge
        ax.plot(
            zero,
            [0.03] * len(zero),
            "x",
            color=_MODEL,
            transform=ax.get_xaxis_transform(),
            label="after training: exactly 0",
        )
    _log_if_wide(ax, [*trained, *(init or [])])
    if len(k):
        ax.set_xlim(min(k) - 0.5, max(k) + 0.5)
    ax.set_xlabel("k (steps back)")
    ax.set_ylabel("‖∂y_t / ∂x_(t−k)‖")
    ax.set_title("Gradient flow through time", y=1.0)
    ax.legend(loc="best")
    return fig


def plot_long_horizon(
    t: Sequence[int], mse: Sequence[Optional[float]], train_length: int, level: Optional[float]
) -> Figure:
    """Block-median MSE against t on long paths; the training length and the settled level."""
    fig = new_figure(figsize=(7.0, 3.6), layout="constrained")
    ax = fig.add_subplot()
    values = _positive(mse)
    ax.plot(t, values, color=_MODEL, lw=1.4, label="model, median over blocks of steps")
    ax.axvline(train_length, color="0.3", ls="--", lw=1, label="training length")
    if level is not None and level > 0:
        ax.axhline(level, color="0.6", lw=0.8, label="settled level")
    _log_if_wide(ax, values)
    ax.set_xlabel("time step t")
    ax.set_ylabel("MSE")
    ax.set_title("Error per step over a long horizon", y=1.0)
    ax.legend(loc="best", fontsize="small")
    return fig


def save_doctor_plots(run_dir: str | os.PathLike, doc: dict) -> dict[str, Path]:
    """Draw the doctor's figures from ``doc`` (doctor.json's content) into
    ``run_dir/plots/doctor_<name>.png``; name -> path. The probe is skipped when the model
    has no hidden state."""
    o, g, lh = doc["oracle"], doc["gradients"], doc["long_horizon"]
    figures = {
        "oracle": plot_oracle(
            o["k"], o["mse"], o["model_mse"], doc["memory"]["true"], doc["memory"]["effective"]
        ),
        "gradients": plot_gradients(g["k"], g["trained"], g["init"]),
        "long_horizon": plot_long_horizon(
            lh.get("t", []), lh.get("mse", []), lh["train_length"], lh.get("level")
        ),
    }
    if doc["probe"]["r2"] is not None:
        figures["probe"] = plot_probe(doc["probe"]["k"], doc["probe"]["r2"])
    return write_figures(figures, DOCTOR_PLOTS, Path(run_dir) / "plots", prefix="doctor_")
