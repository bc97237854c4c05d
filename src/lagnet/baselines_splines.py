"""The machinery of the memoryless baseline: cubic B-spline bases evaluated row by row (4
non-zeros a row), their tensor products, Gram matrices summed by ``np.bincount`` over the
knot intervals, and the maps that carry a coarse spline into a finer one (nested knots), so
that one pass over the rows prices every knot count.

Legend: M rows, C input channels, O outputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Rows whose design a fit builds at once: the memoryless baseline's moments, its predictions and
# its edges' trend are summed over chunks of this many rows, so that the design is never held
# whole (lagnet.resources prices a fit by it).
ROWS_AT_ONCE = 50_000

_FOUR = np.arange(4)


def cubic_basis(x: np.ndarray, inner: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The cubic B-splines on ``inner`` knots (ends repeated), at x clipped to their range:
    each row's interval i (its non-zero splines are i … i+3) and their (M, 4) values
    (Cox–de Boor)."""
    k = inner.size - 1
    t = np.r_[[inner[0]] * 3, inner, [inner[-1]] * 3]
    x = np.clip(x, inner[0], inner[-1])
    i = np.clip(np.searchsorted(inner, x, side="right") - 1, 0, k - 1)
    mu = i + 3
    n = [np.ones_like(x)]
    for d in range(1, 4):
        left = [x - t[mu + 1 - j] for j in range(1, d + 1)]
        right = [t[mu + j] - x for j in range(1, d + 1)]
        new, saved = [], np.zeros_like(x)
        for r in range(d):
            den = right[r] + left[d - r - 1]
            temp = np.divide(n[r], den, out=np.zeros_like(x), where=den > 0)
            new.append(saved + right[r] * temp)
            saved = left[d - r - 1] * temp
        n = [*new, saved]
    return i, np.stack(n, axis=1)


def refine(coarse: np.ndarray, fine: np.ndarray) -> np.ndarray:
    """T with B_coarse = B_fine @ T, for coarse knots a subset of the fine ones (the coarse
    splines lie in the fine space: collocation at the fine Greville points is exact)."""
    t = np.r_[[fine[0]] * 3, fine, [fine[-1]] * 3]
    g = np.convolve(t[1:-1], np.ones(3) / 3, mode="valid")  # Greville abscissae
    from scipy.linalg import solve_banded

    i, v = cubic_basis(g, fine)  # row r: columns i[r] … i[r]+3, within 3 of the diagonal
    rows = np.arange(g.size)
    band = np.zeros((7, g.size))
    band[3 + rows[:, None] - (i[:, None] + _FOUR), i[:, None] + _FOUR] = v
    return solve_banded((3, 3), band, _dense(g, coarse))


def _dense(x: np.ndarray, inner: np.ndarray) -> np.ndarray:
    i, v = cubic_basis(x, inner)
    out = np.zeros((x.size, inner.size + 2))
    np.put_along_axis(out, i[:, None] + _FOUR, v, axis=1)
    return out


def nested(inner: np.ndarray, k: int) -> np.ndarray:
    """About k intervals whose knots are a subset of ``inner`` (ends kept)."""
    pick = np.unique(np.round(np.linspace(0, inner.size - 1, min(k, inner.size - 1) + 1)))
    return inner[pick.astype(int)]


LEAST_ROWS = 10  # rows in a knot interval, at least


def knots(s: np.ndarray, k: int, spread: float) -> np.ndarray:
    """k intervals between the ends of a sorted sample s, at quantiles of a mixture: (1 -
    spread) of the sample's distribution and ``spread`` of the uniform one on its range (so
    that the tails, where few rows lie, still get knots); repeated knots merged, and so are
    intervals of fewer than LEAST_ROWS rows (with none, a spline is held only by its
    neighbours and the ridge: a step's fit read 0.65 just inside its range, where it is 0)."""
    lo, hi = s[0], s[-1]
    cdf = (1 - spread) * np.linspace(0, 1, s.size) + spread * (s - lo) / max(hi - lo, 1e-300)
    t = np.unique(np.interp(np.linspace(0, 1, k + 1), cdf, s))
    below = np.searchsorted(s, t, side="left")  # rows before each knot
    keep, last = [0], below[0]
    for j in range(1, t.size - 1):  # inner knots closer than LEAST_ROWS rows are merged
        if below[j] - last >= LEAST_ROWS and s.size - below[j] >= LEAST_ROWS:
            keep.append(j)
            last = below[j]
    return t[[*keep, t.size - 1]] if t.size > 1 else t


@dataclass
class Block:
    """One block of a design matrix, row by row: each row's cell, its r values there, and
    the columns (relative to the block) each cell's values go to."""

    cells: np.ndarray  # (M,) int
    vals: np.ndarray  # (M, r)
    cols: np.ndarray  # (n_cells, r) int
    width: int  # columns of the block


def spline_block(x: np.ndarray, inner: np.ndarray) -> Block:
    i, v = cubic_basis(x, inner)
    k = inner.size - 1
    return Block(i, v, np.arange(k)[:, None] + _FOUR, k + 3)


def tensor_block(a: Block, b: Block) -> Block:
    cells = a.cells * b.cols.shape[0] + b.cells
    vals = (a.vals[:, :, None] * b.vals[:, None, :]).reshape(a.vals.shape[0], -1)
    cols = (a.cols[:, None, :, None] * b.width + b.cols[None, :, None, :]).reshape(
        a.cols.shape[0] * b.cols.shape[0], -1
    )
    return Block(cells, vals, cols, a.width * b.width)


def dense_block(d: np.ndarray) -> Block:
    return Block(np.zeros(d.shape[0], int), d, np.arange(d.shape[1])[None], d.shape[1])


def moments(blocks: list[Block], y: np.ndarray, group: np.ndarray, groups: int, weight=None):
    """Per group of rows (0 … groups-1): the Gram matrix XᵀWX (groups, P, P), XᵀWy (groups,
    P, O) and yᵀWy (groups, O) of the design made of ``blocks``, W the rows' weights (None:
    1). Each entry is a bincount over the pairs of cells, so the cost is rows × (Σ r)² / 2,
    not rows × P²."""
    weight = np.ones(len(y)) if weight is None else np.asarray(weight, np.float64)
    starts = np.cumsum([0] + [b.width for b in blocks])
    p, o = starts[-1], y.shape[1]
    gram = np.zeros((groups, p, p))
    for a, ba in enumerate(blocks):
        for b in range(a, len(blocks)):
            bb = blocks[b]
            na, nb = ba.cols.shape[0], bb.cols.shape[0]
            if a == b:  # one block with itself: its cells' own pairs (cell c with c)
                idx, pairs = ba.cells * groups + group, np.arange(na) * (nb + 1)
            else:
                idx, pairs = (ba.cells * nb + bb.cells) * groups + group, np.arange(na * nb)
            ra, rb = ba.vals.shape[1], bb.vals.shape[1]
            local = np.zeros((pairs.size, groups, ra, rb))
            for i in range(ra):
                for j in range(i if a == b else 0, rb):
                    w = ba.vals[:, i] * bb.vals[:, j] * weight
                    s = np.bincount(idx, w, minlength=pairs.size * groups).reshape(-1, groups)
                    local[:, :, i, j] = s
                    if a == b:
                        local[:, :, j, i] = s
            used = np.flatnonzero(np.any(local != 0, axis=(1, 2, 3)))
            ca, cb = ba.cols[pairs[used] // nb] + starts[a], bb.cols[pairs[used] % nb] + starts[b]
            rows = np.broadcast_to(ca[:, :, None], (used.size, ra, rb)).ravel()
            cols = np.broadcast_to(cb[:, None, :], (used.size, ra, rb)).ravel()
            for g in range(groups):
                part = np.bincount(
                    rows * p + cols, local[used, g].ravel(), minlength=p * p
                ).reshape(p, p)
                gram[g] += part if a == b else part + part.T
    rhs = np.zeros((groups, p, o))
    for a, ba in enumerate(blocks):
        n = ba.cols.shape[0]
        idx = ba.cells * groups + group
        for i in range(ba.vals.shape[1]):
            for k in range(o):
                s = np.bincount(idx, ba.vals[:, i] * y[:, k] * weight, minlength=n * groups)
                np.add.at(
                    rhs[:, :, k], (slice(None), ba.cols[:, i] + starts[a]), s.reshape(n, groups).T
                )
    yy = np.stack(
        [np.bincount(group, weight * y[:, k] ** 2, minlength=groups) for k in range(o)], 1
    )
    return gram, rhs, yy


def predict_blocks(blocks: list[Block], coef: np.ndarray) -> np.ndarray:
    """(M, ...): the design of ``blocks`` times coef (P, ...)."""
    coef = coef.reshape(coef.shape[0], -1)
    out, start = 0.0, 0
    for b in blocks:
        c = b.cols[b.cells] + start  # (M, r)
        out = out + np.einsum("mr,mro->mo", b.vals, coef[c])
        start += b.width
    return out
