"""Memory capacity (Jaeger 2001): how many past inputs a model's state holds, linearly.

Drive the model with i.i.d. standard normal input z_t (in the user's units x = x_mean + x_std·z,
so the network sees z), fit a linear read-out of z_{t-k} from the state s_t on one sample and
score it on another:

    MC_k = corr²(z_{t-k}, ŵ_k·s_t + b̂_k)      k = 0…K,        MC = Σ_k MC_k

The state is what carries the past to the output:

* a recurrent network (GRU, LSTM, Elman): every layer's hidden state — not the head's skip
  input, the current x_t fed beside it;
* an echo state network: the reservoir's units;
* an LRU (or any recurrence that declares no states): everything its streaming ``step`` carries;
* a model that sees a fixed stretch of inputs (window MLP, TCN, Transformer, NARX): those inputs,
  x_t … x_{t-r+1} — a window of r inputs has MC = r exactly, and is the delay line of the
  theory.

For a linear reservoir of N units MC ≤ N (Jaeger 2001, "Short term memory in echo state
networks", GMD Report 152); a tanh reservoir holds less. With several input channels each is
driven independently and MC_k is averaged over channels.

Legend: N paths, L time steps, C input channels, S state width, M rows (path, t), K largest lag.

Example::

    >>> mc = memory_capacity(lagnet.train(model="esn", reservoir=20, ...))
    >>> mc["total"], mc["lags"], len(mc["per_lag"])          # ≤ 20, K, K + 1
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Optional

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from lagnet.config import check_seed
from lagnet.errors import LagnetError
from lagnet.models import batched, family
from lagnet.models.window import lag_stack

WASHOUT = 50  # steps for a recurrence to forget its zero start before rows are scored
MAX_LAGS = 200  # the longest look-back tried by default
ROWS = 12_000  # rows (path, t) in each of the fit and score samples, by default


def fitted_kind(run: Any) -> str:
    """The family that was fitted: ``auto`` records the candidate it kept."""
    return (run.metrics.get("train") or {}).get("kind") or run.config.model.kind


def state_reader(model, kind: str, cfg) -> tuple[Optional[Callable], int, str]:
    """(z (N, L, C) normalised inputs -> states (N, L, S), the reach r for a finite-reach model
    (0 for a recurrence), what the state is in words); (None, 0, reason) when there is none."""
    fam, net = family(kind), model.net
    reach = _reach(net, fam, cfg)
    if reach is not None:
        return (lambda z: lag_stack(z, reach)), reach, f"the {reach} inputs it sees"
    if fam.states is not None:
        words = "reservoir" if kind == "esn" else "recurrent state"
        return eqx.filter_jit(lambda z: fam.states(net, z)), 0, words
    if fam.recurrent:
        return eqx.filter_jit(lambda z: _carried(net, z)), 0, "recurrent state"
    return None, 0, f"a {kind} model has no state"


def _reach(net, fam, cfg) -> Optional[int]:
    for name in ("receptive_field", "window"):  # resolved in the network (window from formula)
        value = getattr(net, name, None)
        if isinstance(value, int):
            return value
    if fam.finite_reach or not fam.recurrent:
        try:
            value = fam.reach(cfg)
        except AttributeError:  # a chooser's config read by another family
            value = None
        return value if isinstance(value, int) else None
    return None


def _carried(net, z: jax.Array) -> jax.Array:
    """Every array the streaming ``step`` carries, after each step: (N, L, S)."""

    def body(state, z_t):
        _, state = net.step(z_t, state)
        leaves = [a.reshape(a.shape[0], -1) for a in jax.tree_util.tree_leaves(state)]
        return state, jnp.concatenate(leaves, axis=-1)  # (N, S)

    _, s = jax.lax.scan(body, net.init_state(z.shape[0]), jnp.swapaxes(z, 0, 1))  # (L, N, S)
    return jnp.swapaxes(s, 0, 1)


def capacity_curve(
    s_fit: np.ndarray,
    z_fit: np.ndarray,
    s_test: np.ndarray,
    z_test: np.ndarray,
    lags: int,
    t0: int,
    ridge: float = 1e-8,
) -> list[float]:
    """MC_k for k = 0…``lags``: least squares (a ``ridge`` relative to the mean feature
    power, for collinear states) of z[t-k] on [1, s_t] over rows t ≥ t0 ≥ lags of the fit
    sample, squared correlation on the test sample, averaged over channels.
    s (N, L, S), z (N, L, C)."""
    if t0 < lags:
        raise ValueError(f"t0 = {t0} must be at least lags = {lags}")

    def rows(s, z):
        feats = np.asarray(s[:, t0:], np.float64).reshape(-1, s.shape[2])  # (M, S)
        n, length, c = z.shape
        targets = [np.asarray(z[:, t0 - k : length - k], np.float64) for k in range(lags + 1)]
        return feats, np.concatenate(targets, axis=2).reshape(-1, c * (lags + 1))  # (M, C·K')

    f_fit, t_fit = rows(s_fit, z_fit)
    f_test, t_test = rows(s_test, z_test)
    mean, std = f_fit.mean(axis=0), f_fit.std(axis=0)
    std = np.where(std > 1e-12, std, 1.0)
    a_fit = np.c_[np.ones(len(f_fit)), (f_fit - mean) / std]  # (M, 1 + S)
    a_test = np.c_[np.ones(len(f_test)), (f_test - mean) / std]
    gram = a_fit.T @ a_fit
    reg = ridge * len(a_fit) * np.eye(gram.shape[0])
    reg[0, 0] = 0.0  # the intercept is not shrunk
    coef = np.linalg.solve(gram + reg, a_fit.T @ t_fit)  # (1 + S, C·K')
    pred = a_test @ coef
    pc, tc = pred - pred.mean(axis=0), t_test - t_test.mean(axis=0)
    denom = (pc**2).sum(axis=0) * (tc**2).sum(axis=0)
    r2 = np.where(denom > 0, (pc * tc).sum(axis=0) ** 2 / np.where(denom > 0, denom, 1.0), 0.0)
    c = z_fit.shape[2]
    return [float(r2[k * c : (k + 1) * c].mean()) for k in range(lags + 1)]


def memory_capacity(
    run: Any, lags: Optional[int] = None, paths: Optional[int] = None, seed: int = 0
) -> dict:
    """The memory capacity of a trained run (a :class:`lagnet.Run`).

    ``lags``: the largest k (default twice the reach of a finite-reach model, else twice the
    state width, at most 200); ``paths``: paths per sample (default: about 12 000 rows in each
    of the fit and score samples); ``seed``: the input's seed.
    Returns ``{"per_lag": [MC_0, …, MC_K], "total": Σ MC_k, "lags": K, "state": what was read,
    "width": S}``; a LagnetError when the model has no state.
    """
    kind = fitted_kind(run)
    reader, reach, words = state_reader(run.model, kind, run.config.model)
    if reader is None:
        raise LagnetError("run", kind, words)
    c = int(run.model.x_mean.shape[0])
    z_probe = np.zeros((1, 2, c), np.float32)
    width = int(np.asarray(reader(jnp.asarray(z_probe))).shape[2])
    if lags is None:
        lags = min(2 * (reach or width), MAX_LAGS)
    for field, value in (("lags", lags), ("paths", paths), ("seed", seed)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise LagnetError(field, value, "must be an int")
    check_seed(seed)  # PRNGKey wraps a seed beyond 32 bits onto another's input
    if lags < 0:
        raise LagnetError("lags", lags, "must be at least 0")
    t0 = max(lags, reach - 1) + (0 if reach else WASHOUT)
    per_path = max(64, lags)
    if paths is None:
        paths = max(8, -(-ROWS // per_path))
    if paths < 2:
        raise LagnetError("paths", paths, "must be at least 2")
    length = t0 + per_path
    z = np.asarray(jax.random.normal(jax.random.PRNGKey(seed), (2 * paths, length, c)))
    states = batched(lambda zb: reader(jnp.asarray(zb)), z, batch=256, pad=True)  # (2N, L, S)
    per_lag = capacity_curve(states[:paths], z[:paths], states[paths:], z[paths:], lags, t0)
    return dict(per_lag=per_lag, total=float(sum(per_lag)), lags=lags, state=words, width=width)


def measure(run: Any, **kwargs: Any) -> Optional[dict]:
    """:func:`memory_capacity`, or None when the run's model has no state to read."""
    try:
        return memory_capacity(run, **kwargs)
    except LagnetError:
        return None
