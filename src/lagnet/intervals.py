"""How far memory_r2 could move on other test paths: a bootstrap over the test paths (each
drawn with replacement, the model's and the memoryless baseline's errors kept together).
With 1000 test paths of the forum task the interval is a few thousandths wide; with one path
of 5 steps a model that cannot see the past at all read memory_r2 from -0.51 to 0.37 over six
test sets, under a verdict that said nothing of it.

Shape legend: ``N`` test paths, ``L`` steps, ``O`` outputs.
"""

from __future__ import annotations

import numpy as np

DRAWS = 1000  # bootstrap resamples: the 2.5% and 97.5% quantiles to about ±0.3 percentile
LEVEL = 0.95


def memory_r2_interval(
    y: np.ndarray,
    y_hat: np.ndarray,
    y_mem: np.ndarray,
    valid: np.ndarray,
    needing: list[bool],
    seed: int = 0,
) -> list[float] | None:
    """The 95% bootstrap interval over paths of memory_r2 — the mean over the outputs in
    ``needing`` of 1 - MSE_model / MSE_memoryless — from (N, L, O) arrays and the (L,) mask
    of defined steps. None with fewer than 2 paths or no output needing memory."""
    valid = np.asarray(valid, bool)
    keep = np.flatnonzero(np.asarray(needing, bool))
    n = y.shape[0]
    if n < 2 or keep.size == 0:
        return None
    y = np.asarray(y, np.float64)[:, valid][..., keep]  # (N, L_valid, O')
    se_model = ((y - np.asarray(y_hat, np.float64)[:, valid][..., keep]) ** 2).mean(axis=1)
    se_mem = ((y - np.asarray(y_mem, np.float64)[:, valid][..., keep]) ** 2).mean(axis=1)
    rows = np.random.default_rng(seed).integers(0, n, (DRAWS, n))  # (DRAWS, N)
    model, mem = se_model[rows].mean(axis=1), se_mem[rows].mean(axis=1)  # (DRAWS, O')
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.mean(1.0 - model / mem, axis=1)  # (DRAWS,)
    r2 = r2[np.isfinite(r2)]
    if r2.size < DRAWS // 2:
        return None
    tail = 100 * (1 - LEVEL) / 2
    return [float(v) for v in np.percentile(r2, [tail, 100 - tail])]
