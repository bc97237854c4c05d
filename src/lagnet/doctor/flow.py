"""Gradient flow through time, and the error per time step over a long horizon.

Gradient flow: the sensitivity of the output at t to the input k steps earlier,

    g(k) = mean over paths and a few end steps t of ‖∂y_t / ∂x_{t−k}‖₂,

for k = 0…K, at initialisation and after training. In a recurrent network
∂h_t/∂h_{t−k} is a product of k Jacobians, so g falls (or grows) geometrically: a straight
line on a log axis whose slope — decades per step — says whether a gradient signal from k
steps back can reach the weights at all (Bengio, Simard & Frasconi 1994; Pascanu, Mikolov &
Bengio 2013, "On the difficulty of training recurrent neural networks"). A feed-forward
model's g is exactly 0 beyond its receptive field.

Long horizon: MSE per step on paths ``eval.long_factor`` times the training length, in
blocks: warm-up (early error above the settled level), drift (the part beyond the training
length worse than the part inside it), late instability (non-finite or exploding error).

Legend: N paths, L time steps, C input channels, O outputs, T end steps used.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Optional

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

VANISHING_DECADES = -3.0  # g falls by more than 1000× over the horizon that matters
EXPLODING_DECADES = 3.0
TINY = 1e-38  # the floor for log10 of a sensitivity that underflowed to 0 in float32


@eqx.filter_jit
def _sensitivity(model, x: jax.Array, ts: jax.Array) -> jax.Array:
    """‖∂(Σ_n,o y[n, t, o]) / ∂x[n, s]‖ over channels for each t in ``ts``: (T, N, L).
    Paths do not interact, so the gradient of the sum over paths is each path's own."""

    def one(t):
        g = jax.grad(lambda xx: jnp.sum(model(xx)[:, t, :]))(x)  # (N, L, C)
        return jnp.sqrt(jnp.sum(g**2, axis=-1))  # (N, L)

    return jax.lax.map(one, ts)


def sensitivity_by_lag(model, x: np.ndarray, kmax: int, ends: int = 8) -> list[float]:
    """g(k) for k = 0…kmax from the last ``ends`` steps of paths x (N, L, C); L > kmax."""
    length = x.shape[1]
    ts = np.arange(length - 1, max(length - 1 - ends, kmax - 1), -1)  # (T,), each ≥ kmax
    s = np.asarray(_sensitivity(model, jnp.asarray(x), jnp.asarray(ts)), np.float64)
    return [float(np.mean([s[i, :, t - k] for i, t in enumerate(ts)])) for k in range(kmax + 1)]


def log_slope(g: Sequence[float], k_from: int, k_to: int) -> float:
    """Decades per step: the least-squares slope of log10 g(k) for k_from ≤ k ≤ k_to."""
    k = np.arange(k_from, k_to + 1)
    logs = np.log10(np.maximum(np.asarray(g, np.float64)[k], TINY))
    if k.size < 2:
        return 0.0
    return float(np.polyfit(k, logs, 1)[0])


def flow_summary(g: Sequence[float], horizon: int, finite_reach: bool) -> dict:
    """Slope, decades over ``horizon`` steps and a state — vanishing, exploding, healthy, or
    cut off (``finite_reach``: a model with a finite receptive field that g shows ends before
    the horizon). ``reach`` is the largest k with g(k) > 0.

    ``slope``: decades a step, fitted over the lags ``fit`` = [first, last] — at least 1…4, so
    a short horizon still gets a slope from a few lags. ``decades``: the change over the
    ``horizon`` steps, as printed ("fall by … over h steps"): slope × horizon where the fit
    lies within the horizon, else measured, log10 g(horizon) / g(0) (a slope fitted over
    lags 1–4 is not the fall over 1 step)."""
    g = np.asarray(g, np.float64)
    kmax = len(g) - 1
    if not np.all(np.isfinite(g[: min(horizon, kmax) + 1])):
        # float32 overflow (or a NaN) in the sensitivities: the extreme case of exploding
        return dict(
            slope=None, decades=math.inf, horizon=horizon, reach=kmax, state="exploding", fit=None
        )
    positive = np.flatnonzero(g > 0)
    reach = int(positive.max()) if positive.size else -1
    if finite_reach and reach < horizon:
        # No path from the inputs that matter: a slope over exact zeros would mean nothing.
        return dict(
            slope=None, decades=None, horizon=horizon, reach=reach, state="cut off", fit=None
        )
    k_to = min(max(horizon, 4), kmax)
    if finite_reach:  # zeros past the receptive field are no trend
        k_to = min(k_to, reach)
    fit = [1, k_to] if k_to >= 2 else [0, min(k_to, 1)]
    slope = log_slope(g, *fit)
    if fit[1] > horizon:  # the fit reaches past the horizon: the change over it, measured
        logs = np.log10(np.maximum(g[[0, horizon]], TINY))
        decades = float(logs[1] - logs[0])
    else:
        decades = slope * horizon
    if decades < VANISHING_DECADES:
        state = "vanishing"
    elif decades > EXPLODING_DECADES:
        state = "exploding"
    else:
        state = "healthy"
    return dict(slope=slope, decades=decades, horizon=horizon, reach=reach, state=state, fit=fit)


# ----------------------------------------------------------------------------- long horizon
def horizon_summary(per_step: Sequence[Optional[float]], train_length: int, block: int) -> dict:
    """Warm-up, drift and late instability from the MSE per step of long paths (None where
    the target is undefined), compared by medians over steps: a per-step MSE of squared
    errors is heavy-tailed (one large input makes a spike), and a mean over the many steps
    after the training length would catch more spikes than one over the few inside it.

    ``level``: the median step inside the training length, after its first quarter;
    ``warmup_steps``: steps from the first valid one until a ``block``-step median is within
    1.5× the level; ``drift_ratio``: median after the training length / level;
    ``last_ratio``: median of the last tenth / level (> 10, or any non-finite step: unstable).
    ``t``, ``mse``: block medians, for the plot."""
    t = np.array([i for i, v in enumerate(per_step) if v is not None])
    v = np.array([v for v in per_step if v is not None], np.float64)
    if v.size == 0:
        return dict(block=block, t=[], mse=[], state="no valid steps")
    finite = bool(np.all(np.isfinite(v)))
    inside = t < train_length
    settled = inside & (t >= t[0] + (train_length - t[0]) // 4)
    ref = v[settled] if settled.any() else v[inside] if inside.any() else v
    level = float(np.median(ref)) if np.isfinite(ref).all() else math.nan
    starts = np.arange(t[0], t[-1] + 1, block)
    medians = np.array([np.median(v[(t >= s) & (t < s + block)]) for s in starts])
    ok = np.flatnonzero(medians <= 1.5 * level) if level > 0 else np.array([0])
    warmup = int(starts[ok[0]] - t[0]) if ok.size else None
    after, tail = v[~inside], v[t >= t[-1] - max((t[-1] - t[0]) // 10, block)]
    drift = float(np.median(after)) / level if after.size and level > 0 and finite else None
    last = float(np.median(tail)) / level if level > 0 and finite else None
    if not finite or (last is not None and last > 10):
        state = "unstable"
    elif drift is not None and drift > 1.5:
        state = "drifts"
    else:
        state = "stable"
    return dict(
        block=block,
        t=starts.tolist(),
        mse=[float(m) if np.isfinite(m) else None for m in medians],
        level=level if np.isfinite(level) else None,
        warmup_steps=warmup,
        drift_ratio=drift,
        last_ratio=last,
        finite=finite,
        state=state,
    )
