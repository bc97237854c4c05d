"""The baselines every evaluation scores a model against, fitted by least squares: the
memoryless one (the best prediction from the inputs at t alone: its error is what needs the
past) and a linear model of the last few inputs (what linear memory gets).

Legend: M rows (path × step), C input channels, O outputs, N paths, L time steps.
"""

from __future__ import annotations

import numpy as np

from lagnet import baselines_splines as sp
from lagnet.baselines_edges import Edges

KNOTS, KNOTS_SEVERAL = 512, 128  # knot intervals per input, at most: one input, several
PAIR_KNOTS = 8  # knot intervals per input of a pair's tensor product, at most


class MemorylessBaseline:
    """E[y_t | inputs at t], fitted by least squares on a large sample, its flexibility chosen
    on held-out rows (every fifth), so that what it misses is what needs the past:

    - a cubic polynomial in each input;
    - per input a cubic B-spline on 16 … 512 knots (at most 128 with several inputs; fewer on
      small samples), half at the sample's quantiles and half evenly over its range;
    - for every pair of inputs the tensor product of their cubic B-splines on 1 … 8 knot
      intervals each (this holds every product of cubics, x1²·x2² among them);
    - then, per input in turn, the mean of what is left in each of 16 … 4096 quantile bins
      (or none), which follows jumps and fast oscillations a spline smooths over.

    The knot counts are chosen per output, each by its error on the held-out rows of a fit to
    the others, then refitted on all rows. It is a consistent estimate of E[y_t | x_t] for one
    or two inputs; with three or more it misses what is not a sum of functions of pairs of
    inputs (x1·x2·x3 and the like), which is then booked as needing the past. With several
    inputs the pairs are fitted on a subsample of the rows when the sample is large (about
    400 000 rows with 2 inputs, 80 000 with 3, 50 000 with 4 or more). With more than 4
    inputs only the MAX_PAIRS pairs that :func:`screen_pairs` ranks first get a tensor
    product: the fit's cost grows with the square of the number of pairs (with all 15 pairs
    of 6 inputs it took 36 s on 400 000 rows; with the 6 screened, 10.5 s).

    Past the sample's range it goes on by a rule checked on its own fit
    (:mod:`lagnet.baselines_edges`)."""

    def __init__(self, knots: int = KNOTS):
        self.knots = knots  # at most, per input; fewer on small samples (≥ 50 rows a knot)

    def fit(self, x: np.ndarray, y: np.ndarray) -> MemorylessBaseline:
        """x: (M, C) inputs at t, y: (M, O) targets at t."""
        x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
        keep, copies, self.distinct = distinct_rows(x, y)
        w = np.ones(len(x)) if keep is None else copies.astype(np.float64)  # row weights
        if keep is not None:
            x, y = x[keep], y[keep]
        m, c = x.shape
        sd = x.std(axis=0)
        self.centre, self.scale = x.mean(axis=0), np.where(sd > 0, sd, 1.0)
        held = np.arange(m) % 5 == 4  # the rows that choose the knot and bin counts
        most = min(self.knots, KNOTS_SEVERAL) if c > 1 else self.knots
        most = max(4, min(most, self.distinct // 50))
        self.pairs = screen_pairs((x - self.centre) / self.scale, y)
        self.main, self.pair = [], []
        self._sorted = [np.sort(v) for v in x.T]
        for s in self._sorted:
            inner = sp.knots(s, _pow2(most), 0.5)
            self.main.append(inner if inner.size >= 5 else None)
            pk = sp.knots(s, PAIR_KNOTS, 0.0) if c > 1 else None
            self.pair.append(pk if inner.size >= 5 and pk is not None and pk.size >= 3 else None)
        width = sum(b.vals.shape[1] for b in self._blocks(x[:1]))
        rows = np.arange(m)
        if m > (
            cap := max(sp.ROWS_AT_ONCE, int(1e8 // width**2))
        ):  # the pairs' cost: rows × width²
            rows = np.linspace(0, m - 1, cap).astype(int)
        blocks = self._blocks(x[rows])
        gram, rhs, yy = sp.moments(blocks, y[rows], held[rows].astype(int), 2, w[rows])
        n = float(w[rows].sum())
        part, self.coef = self._choose(gram, rhs, yy, n, min(rows.size, self.distinct))
        fits = self._design_times(x, np.stack([part, self.coef], 1))  # without, with held rows
        both = y[:, None, :] - fits.reshape(m, 2, -1)
        self._bins(x, both[:, 0], both[:, 1], held, w)  # both[:, 1] is then what is left
        self.edges = Edges(self._fit_at, x, y - both[:, 1], w, self.centre, self.scale)
        del self._sorted
        return self

    def _design_times(
        self, x: np.ndarray, coef: np.ndarray, chunk: int = sp.ROWS_AT_ONCE
    ) -> np.ndarray:
        """(M, …): the design at x times coef (P, …), built in chunks of rows (held whole, a
        4-input fit and predict on 400 000 rows peaked at 760 MB; in chunks, 183 MB)."""
        parts = [
            sp.predict_blocks(self._blocks(x[a : a + chunk]), coef) for a in range(0, len(x), chunk)
        ]
        return np.concatenate(parts) if parts else sp.predict_blocks(self._blocks(x), coef)

    def _q(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        s = self._sorted[k]
        return np.linspace(0, 1, s.size), s

    def _blocks(self, x: np.ndarray) -> list:
        """The design matrix as blocks (see baselines_splines): the polynomials, a spline
        per input, a tensor product per pair of inputs."""
        z = (x - self.centre) / self.scale
        dense = [np.ones((x.shape[0], 1))] + [np.stack([v, v**2, v**3], 1) for v in z.T]
        blocks = [sp.dense_block(np.concatenate(dense, axis=1))]
        blocks += [sp.spline_block(x[:, k], t) for k, t in enumerate(self.main) if t is not None]
        if x.shape[1] == 1:
            return blocks
        pair = [
            sp.dense_block(np.stack([np.ones_like(v), v, v**2], 1))
            if t is None
            else sp.spline_block(x[:, k], t)
            for k, (t, v) in enumerate(zip(self.pair, z.T))
        ]
        blocks += [sp.tensor_block(pair[a], pair[b]) for a, b in self.pairs]
        return blocks

    def _transforms(self, km: int, kp: int) -> list:
        """Per block, the map from the splines on km (inputs) and kp (pairs) knot intervals
        to the finest ones: a B-spline basis on a subset of knots lies in the finer one."""
        import scipy.sparse

        def t(inner, k):
            key = (id(inner), k)
            if key not in self._refined:
                r = sp.refine(sp.nested(inner, k), inner)
                self._refined[key] = scipy.sparse.csr_matrix(np.where(np.abs(r) > 1e-12, r, 0))
            return self._refined[key]

        c = len(self.main)
        out = [scipy.sparse.identity(1 + 3 * c, format="csr")]
        out += [t(inner, km) for inner in self.main if inner is not None]
        pair = [scipy.sparse.identity(3) if p is None else t(p, kp) for p in self.pair]
        out += [scipy.sparse.kron(pair[a], pair[b], format="csr") for a, b in self.pairs]
        return out

    def _choose(self, gram, rhs, yy, n, distinct) -> tuple[np.ndarray, np.ndarray]:
        """The knot counts per output by the error on the held-out rows (group 1) of the fit
        on the others (group 0); returns that fit's and the fit on all rows' coefficients
        (on the finest knots)."""
        import scipy.sparse
        import scipy.sparse.linalg

        self._refined = {}
        sizes = [t.size - 1 for t in self.main if t is not None] or [4]
        kms = [k for k in (16, 32, 64, 128, 256, 512) if k <= max(sizes)] or [max(sizes)]
        kps = [k for k in (1, 2, 4, 8) if (k + 3) ** 2 * 20 <= distinct] or [1]
        if len(self.main) == 1:
            kps = [1]
        fit = scipy.sparse.csr_matrix(gram[0])
        whole = scipy.sparse.csr_matrix(gram[0] + gram[1])
        ridge = 1e-8 * n
        tried = {}  # (km, kp) -> (held-out error per output, fine coefficients of the fit)

        def solve(g, r, ts):  # sparse: B-splines overlap only their neighbours
            t = scipy.sparse.block_diag(ts, format="csr")
            a = t.T @ g @ t + ridge * scipy.sparse.identity(t.shape[1])
            return t @ scipy.sparse.linalg.splu(a.tocsc()).solve(np.asarray(t.T @ r))

        def score(km, kp):
            if (km, kp) not in tried:
                coef = solve(fit, rhs[0], self._transforms(km, kp))
                err = yy[1] - 2 * np.sum(coef * rhs[1], 0) + np.sum(coef * (gram[1] @ coef), 0)
                tried[km, kp] = (err, coef)
            return np.sum(tried[km, kp][0] / np.maximum(yy[1], 1e-300))

        km0 = kms[len(kms) // 2]
        kp = min(kps, key=lambda k: score(km0, k))
        min(kms, key=lambda k: score(k, kp))
        keys = list(tried)
        errs = np.stack([tried[k][0] for k in keys])  # (configs, O)
        pick = np.argmin(errs, axis=0)
        part = np.stack([tried[keys[p]][1][:, o] for o, p in enumerate(pick)], 1)
        self.chosen = [keys[p] for p in pick]
        cache = {}
        for p in set(pick.tolist()):
            cache[p] = solve(whole, rhs[0] + rhs[1], self._transforms(*keys[p]))
        full = np.stack([cache[p][:, o] for o, p in enumerate(pick)], 1)
        del self._refined
        return part, full

    def _bins(self, x, left_part, left, held, w) -> None:
        """Per input in turn, the mean of the residual in quantile bins, the bin count (or
        none) chosen per output on the held-out rows: ``left_part`` is the residual of the
        fit without them, ``left`` of the fit on all rows."""
        m, o = left.shape
        finest = _pow2(min(4096, self.distinct // 25))
        self.bins = []
        for k in range(x.shape[1]):
            if self.main[k] is None or finest < 16:
                self.bins.append(None)
                continue
            edges = np.unique(np.interp(np.linspace(0, 1, finest + 1)[1:-1], *self._q(k)))
            fine = np.searchsorted(edges, x[:, k], side="right")
            nb = edges.size + 1
            table = np.zeros((nb, o))
            for j in range(o):
                best, best_err = None, np.sum(w[held] * left_part[held, j] ** 2)
                for count in (16, 64, 256, 1024, 4096):
                    if count > finest:
                        break
                    group = fine // -(-nb // count)
                    mean = _means(group[~held], left_part[~held, j], nb, w[~held])
                    err = np.sum(w[held] * (left_part[held, j] - mean[group[held]]) ** 2)
                    if err < best_err:
                        best, best_err = count, err
                if best is None:
                    continue
                group = fine // -(-nb // best)
                left_part[:, j] -= _means(group[~held], left_part[~held, j], nb, w[~held])[group]
                table[:, j] = _means(group, left[:, j], nb, w)[np.arange(nb) // -(-nb // best)]
                left[:, j] -= table[fine, j]
            self.bins.append((edges, table))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Within the sample's range, the fit; past it, carried on as
        :mod:`lagnet.baselines_edges` says."""
        return self.edges.extend(self._fit_at, np.asarray(x, np.float64))

    def _fit_at(self, x: np.ndarray) -> np.ndarray:
        """The fit at x within the sample's range."""
        out = self._design_times(x, self.coef)
        for k, b in enumerate(self.bins):
            if b is not None:
                out = out + b[1][np.searchsorted(b[0], x[:, k], side="right")]
        return out


def distinct_rows(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray | None, np.ndarray, int]:
    """When rows repeat: one copy of each, in order of first appearance, and how many copies
    each has (the fit weighs a row by them: the same fit as on every copy); and the number
    of distinct rows. Overlapping windows of an observed series repeat each of its rows dozens
    of times, and with every fifth copy held out the baseline chose its knots on copies of
    fitted rows (R² -0.61 on the series' test part; 0.05 on the distinct rows); held out
    among distinct rows, no held-out row is a copy of a fitted one. (None, None, n) when all
    rows are distinct, or fewer than 1000 are (discrete inputs and targets: every fifth row).
    A row's key is its dot with fixed random weights (0.04 s for 400 000 rows; np.unique
    over rows took 0.5 s)."""
    rows = np.concatenate([x, y], axis=1)
    key = rows @ np.random.default_rng(0).normal(size=rows.shape[1])
    _, first, copies = np.unique(key, return_index=True, return_counts=True)
    distinct = first.size
    if distinct == len(rows) or distinct < 1000:
        return None, None, distinct
    order = np.argsort(first)
    return first[order], copies[order], distinct


MAX_PAIRS = 6  # pairs of inputs given a tensor-product spline: all of them up to 4 inputs


def screen_pairs(z: np.ndarray, y: np.ndarray, most: int = MAX_PAIRS) -> list[tuple[int, int]]:
    """The pairs of inputs (columns of the standardised ``z``, (M, C)) the memoryless
    baseline models jointly: all of them when there are at most ``most``, else the ``most``
    whose low-order products (z_a·z_b, z_a²·z_b, z_a·z_b², z_a²·z_b²) explain the largest
    share of what an additive cubic fit leaves of ``y`` (summed over its outputs), measured
    on up to 50 000 rows."""
    c = z.shape[1]
    pairs = [(a, b) for a in range(c) for b in range(a + 1, c)]
    if len(pairs) <= most:
        return pairs
    take = np.linspace(0, len(z) - 1, min(50_000, len(z))).astype(int)
    z, y = z[take], y[take]
    additive = np.concatenate(
        [np.ones((len(z), 1))] + [np.stack([v, v**2, v**3], 1) for v in z.T], 1
    )
    left = y - additive @ np.linalg.lstsq(additive, y, rcond=None)[0]
    scale = np.maximum((left**2).sum(axis=0), 1e-300)

    def share(a: int, b: int) -> float:
        u, v = z[:, a], z[:, b]
        f = np.stack([u * v, u * u * v, u * v * v, u * u * v * v], 1)
        f -= f.mean(axis=0)
        fitted = f @ np.linalg.lstsq(f, left, rcond=None)[0]
        return float(np.sum((fitted**2).sum(axis=0) / scale))

    return sorted(sorted(pairs, key=lambda p: -share(*p))[:most])


def _pow2(n: int) -> int:
    return 1 << max(int(n), 1).bit_length() - 1


def _means(group: np.ndarray, v: np.ndarray, size: int, w: np.ndarray) -> np.ndarray:
    """Per group 0 … size-1, the mean of v weighted by w (0 for an empty group)."""
    n = np.bincount(group, w, minlength=size)
    return np.bincount(group, v * w, minlength=size) / np.where(n > 0, n, 1.0)


def lag_features(x: np.ndarray, lags: int) -> np.ndarray:
    """(N, L, C) -> (N, L, C·lags + 1): the inputs at t, t-1, …, t-lags+1 (zero before the
    start) and a constant."""
    n, length, c = x.shape
    cols = [np.ones((n, length, 1))]
    for k in range(lags):
        cols.append(np.pad(x, ((0, 0), (k, 0), (0, 0)))[:, :length])
    return np.concatenate(cols, axis=2)


class LinearLagsBaseline:
    """Ordinary least squares on the last ``lags`` inputs: what a linear model with memory gets.

    It is scored on every valid step, the first ``lags - 1`` included, where fewer inputs
    than ``lags`` have been seen: each of those steps gets its own least-squares fit on the
    inputs seen so far (the best linear prediction from the available past), the later
    steps share one fit on the full ``lags`` inputs."""

    def __init__(self, lags: int):
        self.lags = lags

    def fit(self, x: np.ndarray, y: np.ndarray, valid: np.ndarray) -> LinearLagsBaseline:
        x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
        valid = np.asarray(valid, bool)
        f = lag_features(x, self.lags)
        late = valid & (np.arange(x.shape[1]) >= self.lags - 1)
        self.coef = np.linalg.lstsq(
            f[:, late].reshape(-1, f.shape[2]), y[:, late].reshape(-1, y.shape[2]), rcond=None
        )[0]
        # an early step t sees t + 1 inputs: the padded columns are zero, lstsq gives them 0
        self.early = {
            t: np.linalg.lstsq(f[:, t], y[:, t], rcond=None)[0]
            for t in np.flatnonzero(valid & ~late)
        }
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        f = lag_features(np.asarray(x, np.float64), self.lags)
        out = f @ self.coef  # (N, L, O)
        for t, coef in self.early.items():
            if t < f.shape[1]:
                out[:, t] = f[:, t] @ coef
        return out
