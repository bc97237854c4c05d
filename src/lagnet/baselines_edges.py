"""How the memoryless baseline goes on past the range of the sample it was fitted on.

Past the range there are no rows to fit, and any rule is a guess; the baseline's is one that
is checked on the fit itself. Every prediction is first clipped to the values the fit took on
the sample: a row within each input's range can still lie in an empty corner of a pair's
grid, where the fit can take any value (clipped only in a batch that held a row past the
range, a row's prediction depended on what else was asked). A row past the range starts
from the fit at the nearest point of the range and goes on along each input that is past by
one of two rules, per input, end and output:

- **secant**: the line through that point and the fit a span further in (the span of the
  input's outermost 0.1% of rows, so that it averages the wiggles of a noisy edge);
- **trend**: the change of an additive cubic in the inputs, fitted by least squares on every
  row (x² and x³ go on exactly, as they must for a target that is one).

The rule is the one that better predicts the fit's own values on the outermost 1% of rows
from where that tail begins. On a series whose test part is 1.5× as volatile as its
training part, a target needing the past only read R² -39 and -137 when the baseline's
polynomials and splines each went on their own way (collinear, they no longer cancelled);
a step's fit stays flat past its range where a cubic would swing.

Legend: M rows, C inputs, O outputs.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from lagnet.baselines_splines import ROWS_AT_ONCE

Fit = Callable[[np.ndarray], np.ndarray]  # (M, C) inputs within the range -> (M, O)


def powers(z: np.ndarray) -> np.ndarray:
    """(M, C) -> (M, 1 + 3C): 1, z, z², z³."""
    return np.concatenate([np.ones((len(z), 1)), z, z**2, z**3], axis=1)


def additive_cubic(z: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """(1 + 3C, O): weighted least squares of y on a cubic in each column of z (in chunks of
    rows: the design is not held whole)."""
    p = 1 + 3 * z.shape[1]
    gram, rhs = np.zeros((p, p)), np.zeros((p, y.shape[1]))
    for a in range(0, len(z), ROWS_AT_ONCE):
        rows = slice(a, a + ROWS_AT_ONCE)
        d = powers(z[rows])
        dw = d * w[rows, None]
        gram += dw.T @ d
        rhs += dw.T @ y[rows]
    return np.linalg.lstsq(gram, rhs, rcond=None)[0]


class Edges:
    """Fitted with the baseline (``fit``: the baseline within its range; ``fitted``: its
    values on the sample's rows x), then :meth:`extend` carries predictions past it."""

    def __init__(self, fit: Fit, x, fitted, w, centre, scale):
        m, c = x.shape
        self.centre, self.scale = centre, scale
        self.low, self.high = x.min(axis=0), x.max(axis=0)
        self.bounds = fitted.min(axis=0), fitted.max(axis=0)
        self.trend = additive_cubic((x - centre) / scale, fitted, w)
        order = np.argsort(x, axis=0, kind="stable")
        few = min(m - 1, max(50, m // 1000))
        floor = 1e-3 * np.maximum(self.high - self.low, 1e-300)
        lo, hi = x[order[few], range(c)], x[order[-1 - few], range(c)]
        self.spans = np.maximum(lo - self.low, floor), np.maximum(self.high - hi, floor)
        self.use_trend = np.zeros((2, c, fitted.shape[1]), bool)  # (low/high end, C, O)
        tail = min(m - 1, max(50, m // 100))
        for k in range(c):
            for end, rows in ((0, order[:tail, k]), (1, order[-tail:, k])):
                start = x[order[tail, k] if end == 0 else order[-1 - tail, k], k]
                past = x[rows, k] - start
                edge = np.where(past[:, None] == 0, 0.0, 1.0)  # rows at the start: no rule
                at = x[rows].copy()
                at[:, k] = start
                here = np.clip(fit(at), *self.bounds)
                secant = self._secant(fit, k, end, at, here, past)
                err_s = np.sum(edge * (fitted[rows] - here - secant) ** 2, 0)
                err_t = np.sum(
                    edge * (fitted[rows] - here - self._trend(k, start, x[rows, k])) ** 2, 0
                )
                self.use_trend[end, k] = err_t < err_s

    def _secant(self, fit: Fit, k: int, end: int, at, here, past) -> np.ndarray:
        """(M, O): the change along input k over ``past``, on the line through the fit at
        ``at`` (``here``) and the fit a span further in."""
        span = self.spans[end][k] * (1 if end == 1 else -1)  # inward from the end
        back = at.copy()
        back[:, k] -= span
        return (here - np.clip(fit(back), *self.bounds)) / span * past[:, None]

    def _trend(self, k: int, start: float, v: np.ndarray) -> np.ndarray:
        """(M, O): the change of input k's part of the additive cubic from ``start`` to v."""
        return self._cubic(k, v) - self._cubic(k, np.full_like(v, start))

    def _cubic(self, k: int, v: np.ndarray) -> np.ndarray:
        """(M, O): input k's part of the additive cubic at its values v."""
        c = len(self.centre)
        z = ((v - self.centre[k]) / self.scale[k])[:, None]
        return (
            z * self.trend[1 + k] + z**2 * self.trend[1 + c + k] + z**3 * self.trend[1 + 2 * c + k]
        )

    def extend(self, fit: Fit, x: np.ndarray) -> np.ndarray:
        """Predictions at x: the fit within the range, carried on past it (see the module)."""
        inside = np.clip(x, self.low, self.high)
        start = np.clip(fit(inside), *self.bounds)  # every row alike, whatever else is asked
        out = start.copy()
        past = np.flatnonzero(np.any(inside != x, axis=1))
        for k in range(x.shape[1]):
            for end, ends in ((0, self.low), (1, self.high)):
                d = x[past, k] - ends[k]
                rows = past[d < 0] if end == 0 else past[d > 0]
                if rows.size:
                    s = self._secant(fit, k, end, inside[rows], start[rows], x[rows, k] - ends[k])
                    t = self._trend(k, ends[k], x[rows, k])
                    out[rows] += np.where(self.use_trend[end, k], t, s)
        return out
