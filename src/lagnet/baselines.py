"""The baselines every evaluation scores a model against, fitted by least squares: the
memoryless one (the best prediction from the inputs at t alone: its error is what needs the
past) and a linear model of the last few inputs (what linear memory gets).

Legend: M rows (path × step), C input channels, O outputs, N paths, L time steps.
"""

from __future__ import annotations

import numpy as np


class MemorylessBaseline:
    """E[y_t | inputs at t], fitted by least squares on a large sample: per input channel a cubic
    B-spline on up to 64 quantile knots plus a cubic polynomial (which carries the fit past the sample's
    range), and pairwise products when there are several channels. Flexible enough that what
    it misses is what needs the past."""

    def __init__(self, knots: int = 64):
        self.knots = knots  # at most; fewer on small samples (≥ 200 points between knots)

    def _features(self, x: np.ndarray) -> list:
        """The design matrix as column blocks: a dense one (constant, cubic polynomials,
        products) and one sparse B-spline block per channel (4 non-zeros of up to 64 per row:
        the Gram matrix of 400 000 rows is then a few bincounts, not a dense product)."""
        from scipy.interpolate import BSpline  # 0.2 s to import: only once a model is evaluated

        dense = [np.ones((x.shape[0], 1))]
        splines = []
        for c in range(x.shape[1]):
            v = x[:, c]
            z = (v - self.centre[c]) / self.scale[c]
            dense.append(np.stack([z, z**2, z**3], axis=1))
            if self.splines[c] is not None:
                t, lo, hi = self.splines[c]
                splines.append(BSpline.design_matrix(np.clip(v, lo, hi), t, 3).tocsr())
        for a in range(x.shape[1]):
            for b in range(a + 1, x.shape[1]):
                za = (x[:, a] - self.centre[a]) / self.scale[a]
                zb = (x[:, b] - self.centre[b]) / self.scale[b]
                dense.append(np.stack([za * zb, za**2 * zb, za * zb**2], axis=1))
        return [np.concatenate(dense, axis=1), *splines]

    def fit(self, x: np.ndarray, y: np.ndarray) -> MemorylessBaseline:
        """x: (M, C) inputs at t, y: (M, O) targets at t."""
        x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
        self.centre, self.scale = x.mean(axis=0), np.where(x.std(axis=0) > 0, x.std(axis=0), 1.0)
        self.splines = []
        for c in range(x.shape[1]):
            knots = max(3, min(self.knots, x.shape[0] // 200))
            inner = np.unique(np.quantile(x[:, c], np.linspace(0, 1, knots + 1)))
            if inner.size < 4:  # a (nearly) discrete input: the polynomial part is enough
                self.splines.append(None)
                continue
            t = np.r_[[inner[0]] * 3, inner, [inner[-1]] * 3]
            self.splines.append((t, inner[0], inner[-1]))
        blocks = self._features(x)
        gram = np.block([[_cross(p, q) for q in blocks] for p in blocks])
        rhs = np.concatenate([np.asarray(p.T @ y) for p in blocks])
        reg = 1e-8 * np.eye(gram.shape[0])
        self.coef = np.linalg.solve(gram + reg * x.shape[0], rhs)
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        out, start = 0.0, 0
        for p in self._features(np.asarray(x, np.float64)):
            out = out + np.asarray(p @ self.coef[start : start + p.shape[1]])
            start += p.shape[1]
        return out


def _cross(p, q) -> np.ndarray:
    """pᵀq for blocks of one design matrix, dense (M, a) or CSR (M, b). A B-spline block with
    itself (4 consecutive non-zeros a row) is summed by bincount over the 16 pairs of a row."""
    import scipy.sparse  # imported with the B-splines (see _features), not with lagnet

    if p is q and scipy.sparse.issparse(p) and np.all(np.diff(p.indptr) == 4):
        k = p.shape[1]
        idx, val = p.indices.reshape(-1, 4), p.data.reshape(-1, 4)
        out = np.zeros(k * k)
        for i in range(4):
            for j in range(4):
                out += np.bincount(
                    idx[:, i] * k + idx[:, j], weights=val[:, i] * val[:, j], minlength=k * k
                )
        return out.reshape(k, k)
    prod = p.T @ q
    return prod.toarray() if scipy.sparse.issparse(prod) else np.asarray(prod)


def lag_features(x: np.ndarray, lags: int) -> np.ndarray:
    """(N, L, C) -> (N, L, C·lags + 1): the inputs at t, t-1, …, t-lags+1 (zero before the
    start) and a constant."""
    n, length, c = x.shape
    cols = [np.ones((n, length, 1))]
    for k in range(lags):
        cols.append(np.pad(x, ((0, 0), (k, 0), (0, 0)))[:, :length])
    return np.concatenate(cols, axis=2)


class LinearLagsBaseline:
    """Ordinary least squares on the last ``lags`` inputs: what a linear model with memory gets."""

    def __init__(self, lags: int):
        self.lags = lags

    def fit(self, x: np.ndarray, y: np.ndarray, valid: np.ndarray) -> LinearLagsBaseline:
        valid = np.asarray(valid, bool) & (np.arange(x.shape[1]) >= self.lags - 1)
        f = lag_features(np.asarray(x, np.float64), self.lags)[:, valid].reshape(
            -1, 1 + x.shape[2] * self.lags
        )
        t = np.asarray(y, np.float64)[:, valid].reshape(-1, y.shape[2])
        self.coef = np.linalg.lstsq(f, t, rcond=None)[0]
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        return lag_features(np.asarray(x, np.float64), self.lags) @ self.coef  # (N, L, O)
