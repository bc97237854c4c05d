"""What every lagnet figure shares: resolution, colours, fixed margins, and the few helpers
that keep drawing cheap (a figure's layout is fixed rather than measured; see ``fixed_figure``).

Matplotlib is imported when the first figure is made, not with lagnet: a command that draws
nothing (``lagnet tasks``, ``simulate``, any bad input) starts sooner (``lagnet tasks``: a
median of 2.15 s → 1.78 s over 10 alternating runs on 2 cores)."""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from lagnet.errors import LagnetError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DPI = 110
# lagnet's axes titles are set with y=1.0: left to place one, matplotlib measures every tick
# label at each draw to decide whether the title must rise above them (a third of the time a
# run's five figures took to draw, profiled).

TRUTH = "tab:blue"
MODEL = "tab:orange"
MEMORYLESS = "tab:red"
INPUT = "0.55"


def emptiest_corner(x: np.ndarray, y: np.ndarray) -> str:
    """The legend's corner: the one of four with the fewest points in its quarter-by-third
    box. Matplotlib's ``loc="best"`` tests every candidate place against every point, which
    took a third of a second on a 40 000-point scatter."""
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if x.size == 0:
        return "upper left"
    (x0, x1), (y0, y1) = np.quantile(x, [0.0, 1.0]), np.quantile(y, [0.0, 1.0])
    left, right = x <= x0 + 0.35 * (x1 - x0), x >= x1 - 0.35 * (x1 - x0)
    low, high = y <= y0 + 0.3 * (y1 - y0), y >= y1 - 0.3 * (y1 - y0)
    counts = {
        "upper left": np.sum(left & high),
        "upper right": np.sum(right & high),
        "lower left": np.sum(left & low),
        "lower right": np.sum(right & low),
    }
    return min(counts, key=counts.get)


def no_data(ax, message: str) -> None:
    ax.text(0.5, 0.5, message, transform=ax.transAxes, ha="center", va="center", color="0.4")


def new_figure(**kw) -> Figure:
    """``matplotlib.figure.Figure(**kw)``: no pyplot, so no global registry to leak."""
    from matplotlib.figure import Figure

    return Figure(**kw)


def fixed_figure(width: float, height: float, top: float = 0.45, left: float = 0.85) -> Figure:
    """A figure with fixed margins, in inches (title ``top``, tick labels and label ``left``).
    Matplotlib's constrained layout measures every label at each save: it took half of the
    time a run spends drawing its plots; these figures' layouts never change."""
    fig = new_figure(figsize=(width, height))
    fig.subplots_adjust(
        left=left / width, right=1 - 0.2 / width, bottom=0.55 / height, top=1 - top / height
    )
    return fig


def log_y_if_positive(ax, *arrays: np.ndarray) -> None:
    # A log axis with no positive value makes matplotlib warn (an error under our test
    # settings) and draws nothing useful; stay linear then.
    values = np.concatenate([np.ravel(a) for a in arrays]) if arrays else np.empty(0)
    positive = values[np.isfinite(values) & (values > 0)]
    if positive.size:
        if positive.min() == positive.max():  # one value: give the log axis a decade around it
            ax.set_ylim(positive[0] / 3, positive[0] * 3)
        ax.set_yscale("log")
        plain = plain_log_formatter()
        ax.yaxis.set_major_formatter(plain())
        ax.yaxis.set_minor_formatter(plain(labelOnlyBase=False))


_SUPERSCRIPT = str.maketrans("-−0123456789", "⁻⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


@functools.cache
def plain_log_formatter() -> type:
    """A formatter class: matplotlib's log-axis labels (the same ticks labelled, the same
    numbers) written as plain text, 10⁻³ and 2×10⁻³, rather than as mathtext: the mathtext
    parser took a tenth of a second to build and 8 ms a label (about a tenth of a run's
    drawing time, profiled). Made on first use, when matplotlib is imported."""
    from matplotlib.ticker import LogFormatterSciNotation

    class PlainLogFormatter(LogFormatterSciNotation):
        def __call__(self, x, pos=None) -> str:
            return plain_math(super().__call__(x, pos))

    return PlainLogFormatter


def plain_math(label: str) -> str:
    """``$\\mathdefault{2\\times10^{-3}}$`` -> ``2×10⁻³``; any other label unchanged."""
    if not (label.startswith("$") and label.endswith("$")):
        return label
    body = label[1:-1].replace("\\times", "×").replace("\\cdot", "·")
    body = re.sub(r"\\mathdefault\{(.*)\}$", r"\1", body)
    body = re.sub(r"\^\{([^}]*)\}", lambda m: m.group(1).translate(_SUPERSCRIPT), body)
    body = re.sub(r"\^(\S)", lambda m: m.group(1).translate(_SUPERSCRIPT), body)
    return body.replace("{", "").replace("}", "")


def as3d(a: ArrayLike, name: str) -> np.ndarray:
    """(N, L) or (N, L, C) -> (N, L, C)."""
    a = np.asarray(a, dtype=float)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3:
        raise LagnetError(name, f"shape {a.shape}", "expected (N, L) or (N, L, C)")
    return a
