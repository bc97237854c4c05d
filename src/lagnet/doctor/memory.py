"""How much of the past the target needs, and how much the model uses.

The lag oracle answers "what is the best error any model could reach seeing only the last k
inputs?" for k = 0…K: a flexible least-squares regressor on the inputs x[t], …, x[t-k] of a
large fresh sample, scored out of sample. Its curve falls until k reaches the memory the
target needs and is flat after; the model's *effective memory* is the smallest k whose oracle
error is at most the model's own error on the same rows — the model does no better than
something that sees only k steps back.

The memory probe asks the trained network directly: a ridge read-out of x[t-k] from the
frozen hidden state at t (Alain & Bengio 2016, "Understanding intermediate layers using
linear classifier probes"), R² per k on held-out paths. A state that has forgotten x[t-k]
cannot give it back to a head either.

Legend: N paths, L time steps, C input channels, O outputs, H hidden units, M rows (path, t),
P regressor columns, K the largest lag tried.

Example::

    >>> mse = lag_oracle(x_fit, y_fit, x_test, y_test, ks=[0, 1, 2], t0=2)  # list of 3 MSEs
    >>> effective_memory([0, 1, 2], mse, model_mse)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Optional

import equinox as eqx
import numpy as np

FULL_PAIRS = 8  # at most this many columns: products z_a·z_b, z_a²·z_b, z_a·z_b² of all pairs
SIMPLE_PAIRS = 24  # at most this many: z_a·z_b only; beyond, an additive fit (cost ~ P²)


def lag_grid(kmax: int, true_lag: Optional[int]) -> list[int]:
    """The lags the oracle tries: every k ≤ 8, then about geometric steps to ``kmax``, and
    the formula's largest lag with its neighbours (where the oracle curve should drop)."""
    ks = set(range(min(kmax, 8) + 1)) | {kmax}
    k = 12
    while k < kmax:
        ks.add(k)
        k = int(k * 1.5)
    if true_lag is not None:
        ks |= {k for k in (true_lag - 1, true_lag, true_lag + 1) if 0 <= k <= kmax}
    return sorted(ks)


def lag_rows(x: np.ndarray, k: int, t0: int) -> np.ndarray:
    """(N, L, C) -> (M, C·(k+1)): at each step t ≥ t0 the inputs x[t], x[t-1], …, x[t-k]
    (needs t0 ≥ k). Rows run over paths, then time."""
    n, length, c = x.shape
    cols = [x[:, t0 - j : length - j] for j in range(k + 1)]  # each (N, L - t0, C)
    return np.concatenate(cols, axis=2).reshape(-1, c * (k + 1))  # (M, C·(k+1))


class SplineRegression:
    """Least squares on per-column cubic polynomials and cubic B-splines (``knots`` quantile
    knots), plus products of pairs of columns when there are few. Additive-plus-pairwise: it
    captures any target made of one- and two-lag terms (x[t]² − 0.5·x[t-1]², x[t]·x[t-5]) and
    under-fits higher interactions — then the oracle is an upper bound on the best error."""

    def __init__(self, knots: int = 12, ridge: float = 1e-8):
        self.knots, self.ridge = knots, ridge

    def _design(self, z: np.ndarray) -> np.ndarray:
        from scipy.interpolate import BSpline  # 0.3 s to import: when the doctor runs

        z = (z - self.centre) / self.scale  # (M, P)
        cols = [np.ones((z.shape[0], 1)), z, z**2, z**3]
        for p, t in self.splines:  # (column, knot vector)
            lo, hi = t[3], t[-4]
            cols.append(BSpline.design_matrix(np.clip(z[:, p], lo, hi), t, 3).toarray())
        a, b = np.triu_indices(z.shape[1], k=1)
        if z.shape[1] <= FULL_PAIRS:
            cols += [z[:, a] * z[:, b], z[:, a] ** 2 * z[:, b], z[:, a] * z[:, b] ** 2]
        elif z.shape[1] <= SIMPLE_PAIRS:
            cols.append(z[:, a] * z[:, b])
        return np.concatenate(cols, axis=1)

    def fit(self, z: np.ndarray, y: np.ndarray) -> SplineRegression:
        """z (M, P) regressors, y (M, O) targets."""
        z, y = np.asarray(z, np.float64), np.asarray(y, np.float64)
        self.centre = z.mean(axis=0)
        self.scale = np.where(z.std(axis=0) > 0, z.std(axis=0), 1.0)
        self.splines = []
        for p in range(z.shape[1]):
            zp = (z[:, p] - self.centre[p]) / self.scale[p]
            inner = np.unique(np.quantile(zp, np.linspace(0, 1, self.knots + 1)))
            if inner.size >= 4:  # a (nearly) discrete column: the polynomial part is enough
                self.splines.append((p, np.r_[[inner[0]] * 3, inner, [inner[-1]] * 3]))
        f = self._design(z)
        gram = f.T @ f
        reg = self.ridge * np.trace(gram) / gram.shape[0]
        self.coef = np.linalg.solve(gram + reg * np.eye(gram.shape[0]), f.T @ y)
        return self

    def predict(self, z: np.ndarray) -> np.ndarray:
        return self._design(np.asarray(z, np.float64)) @ self.coef  # (M, O)


def lag_oracle(
    x_fit: np.ndarray,
    y_fit: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    ks: Sequence[int],
    t0: int,
    knots: int = 12,
) -> list[float]:
    """The oracle's test MSE for each k in ``ks``: fitted on (x_fit, y_fit), scored on
    (x_test, y_test), rows t ≥ t0 only (t0 ≥ max(ks) and ≥ the target's warm-up).
    x (N, L, C), y (N, L, O)."""
    y_rows_fit = np.asarray(y_fit[:, t0:], np.float64).reshape(-1, y_fit.shape[2])  # (M, O)
    y_rows_test = np.asarray(y_test[:, t0:], np.float64).reshape(-1, y_test.shape[2])
    out = []
    for k in ks:
        reg = SplineRegression(knots).fit(lag_rows(x_fit, k, t0), y_rows_fit)
        pred = reg.predict(lag_rows(x_test, k, t0))
        out.append(float(np.mean((pred - y_rows_test) ** 2)))
    return out


def effective_memory(
    ks: Sequence[int], oracle_mse: Sequence[float], model_mse: float, tolerance: float = 0.02
) -> Optional[int]:
    """The smallest k whose oracle error is at most the model's, give or take ``tolerance``
    × the oracle's whole gain (its own estimate is noisy: where the curve is flat, noise
    alone would pick a k). None when the model beats the oracle at every k tried (it uses
    more than max(ks) steps, or the oracle under-fits)."""
    mse = np.asarray(oracle_mse, np.float64)
    slack = tolerance * max(mse[0] - mse.min(), 0.0)
    for k, m in zip(ks, mse):
        if m <= model_mse + slack:
            return int(k)
    return None


def needed_memory(ks: Sequence[int], oracle_mse: Sequence[float], share: float = 0.95) -> int:
    """The smallest k at which the oracle has made ``share`` of the gain that looking back
    max(ks) steps makes over looking at x[t] alone (0 when looking back gains nothing)."""
    mse = np.asarray(oracle_mse, np.float64)
    gain = mse[0] - mse.min()
    if gain <= 1e-3 * max(mse[0], 1e-300):
        return 0
    for k, m in zip(ks, mse):
        if mse[0] - m >= share * gain:
            return int(k)
    return int(ks[-1])  # pragma: no cover — the minimum itself always qualifies


# ----------------------------------------------------------------------------- memory probe
def state_function(model, fam) -> tuple[Optional[Callable], str]:
    """A function x (N, L, C) in the user's units -> hidden states (N, L, H), or None and the
    reason there is none: the states the family ``fam`` declares (a recurrent network's every
    layer side by side, a reservoir's units); feed-forward families hold no state."""
    if fam.states is None:
        if fam.recurrent:
            return None, f"a {fam.kind} model does not expose its hidden states to a probe"
        return None, (
            f"a {fam.kind} model has no recurrent hidden state: its output at t is a "
            "function of a fixed stretch of inputs, so there is no state to probe"
        )
    net = model.net

    def states(x):
        return fam.states(net, model.normalise_x(x))  # (N, L, H)

    return eqx.filter_jit(states), ""


def memory_probe(
    states_fit: np.ndarray,
    x_fit: np.ndarray,
    states_test: np.ndarray,
    x_test: np.ndarray,
    ks: Sequence[int],
    t0: int,
    ridge: float = 1e-3,
) -> list[float]:
    """Held-out R² of a ridge read-out of x[t-k] from the state at t, for each k in ``ks``
    (averaged over input channels); rows t ≥ t0 ≥ max(ks). states (N, L, H), x (N, L, C)."""

    def rows(states, x):
        s = np.asarray(states[:, t0:], np.float64).reshape(-1, states.shape[2])  # (M, H)
        targets = [
            np.asarray(x[:, t0 - k : x.shape[1] - k], np.float64).reshape(-1, x.shape[2])
            for k in ks
        ]  # each (M, C)
        return s, np.concatenate(targets, axis=1)  # (M, H), (M, C·len(ks))

    s_fit, t_fit = rows(states_fit, x_fit)
    s_test, t_test = rows(states_test, x_test)
    mean, std = s_fit.mean(axis=0), s_fit.std(axis=0)
    std = np.where(std > 1e-12, std, 1.0)
    f_fit = np.c_[np.ones(len(s_fit)), (s_fit - mean) / std]
    f_test = np.c_[np.ones(len(s_test)), (s_test - mean) / std]
    reg = ridge * len(f_fit) * np.eye(f_fit.shape[1])
    reg[0, 0] = 0.0  # the intercept is not shrunk
    coef = np.linalg.solve(f_fit.T @ f_fit + reg, f_fit.T @ t_fit)
    resid = ((f_test @ coef - t_test) ** 2).mean(axis=0)
    var = t_test.var(axis=0)
    r2 = np.where(var > 0, 1.0 - resid / np.where(var > 0, var, 1.0), np.nan)
    c = x_fit.shape[2]
    return [float(np.nanmean(r2[i * c : (i + 1) * c])) for i in range(len(ks))]
