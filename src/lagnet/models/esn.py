"""Echo state network: a fixed random reservoir and a linear read-out fitted in closed form.

    h_t = (1 − a)·h_{t−1} + a·tanh(W_in [1; x_t] + W h_{t−1}),     h_{−1} = 0
    y_t = b + W_out [x_t; h_t]

Jaeger 2001, "The 'echo state' approach to analysing and training recurrent neural networks";
the leaky form, the scalings and the ridge read-out follow Lukoševičius 2012, "A Practical Guide
to Applying Echo State Networks". W is sparse random (a share ``density`` of its entries
non-zero, uniform in [−1, 1]) rescaled to spectral radius ``spectral_radius``; W_in (bias row
included) is dense uniform in [−input_scaling, input_scaling]. Only W_out and b are learned:
ridge regression on the states after ``washout`` steps, in one pass over the data and no
gradient loop (``fit_readout``).

Legend: N paths, L time steps, C channels, H reservoir units, O outputs, F = C + H features.

Example::

    >>> net = draw_reservoir(ESNConfig(reservoir=50), 1, 1, jax.random.PRNGKey(0))
    >>> net, info = fit_readout(net, x, y, valid, ridge=1e-6, washout=20, chunk=128)
    >>> net(x).shape                                   # x (N, L, 1) -> (N, L, 1)
"""

from __future__ import annotations

import warnings
from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg
from pydantic import Field

from lagnet.errors import LagnetError
from lagnet.models.base import SequenceNet
from lagnet.models.family import FAMILIES, Family, FitData, ModelConfig
from lagnet.models.layers import host_rng


class ESNConfig(ModelConfig):
    """A reservoir of ``reservoir`` units, ``spectral_radius``, ``leak``, ``input_scaling`` and
    ``density``; a ridge read-out with penalty ``ridge``, the first ``washout`` steps skipped."""

    kind: Literal["esn"] = "esn"
    reservoir: int = Field(500, gt=0)
    spectral_radius: float = Field(0.9, gt=0)
    leak: float = Field(1.0, gt=0, le=1)
    input_scaling: float = Field(1.0, gt=0)
    density: float = Field(0.1, gt=0, le=1)
    ridge: float = Field(1e-6, ge=0)
    washout: int = Field(50, ge=0)


class ESN(SequenceNet):
    """A leaky tanh reservoir with a linear read-out of the current input and state:
    (N, L, C) -> (N, L, O). Make one with :func:`draw_reservoir`, then :func:`fit_readout`."""

    w_in: jax.Array  # (1 + C, H): the bias row, then one row per input channel
    w: jax.Array  # (H, H), spectral radius ``spectral_radius``
    w_out: jax.Array  # (C + H, O)
    b_out: jax.Array  # (O,)
    leak: float = eqx.field(static=True)

    def states(self, x: jax.Array) -> jax.Array:
        """x: (N, L, C) -> reservoir states h (N, L, H)."""
        xp = jnp.swapaxes(x @ self.w_in[1:] + self.w_in[0], 0, 1)  # (L, N, H), one matmul
        a = self.leak

        def cell(h, xp_t):
            h = (1.0 - a) * h + a * jnp.tanh(xp_t + h @ self.w)
            return h, h

        _, hs = jax.lax.scan(cell, self.init_state(x.shape[0]), xp)  # (L, N, H)
        return jnp.swapaxes(hs, 0, 1)  # (N, L, H)

    def features(self, x: jax.Array) -> jax.Array:
        """What the read-out sees: [x_t; h_t], (N, L, C + H)."""
        return jnp.concatenate([x, self.states(x)], axis=-1)

    def __call__(self, x: jax.Array) -> jax.Array:
        """x: (N, L, C) -> (N, L, O). The read-out of h_t is taken inside the scan and the input
        projected there too, so memory is O(N·H), not O(N·L·H) (200 paths of 1010 steps in a
        1000-unit reservoir would hold 0.8 GB of states); C ≪ H makes that projection cheap
        beside W h."""
        c, a = x.shape[-1], self.leak

        def cell(h, x_t):
            h = (1.0 - a) * h + a * jnp.tanh(x_t @ self.w_in[1:] + self.w_in[0] + h @ self.w)
            return h, h @ self.w_out[c:]  # (N, O)

        _, yh = jax.lax.scan(cell, self.init_state(x.shape[0]), jnp.swapaxes(x, 0, 1))
        return jnp.swapaxes(yh, 0, 1) + x @ self.w_out[:c] + self.b_out  # (N, L, O)

    def init_state(self, n: int):
        return jnp.zeros((n, self.w.shape[0]), jnp.float32)

    def step(self, x_t: jax.Array, state):
        """x_t (N, C) -> y_t (N, O), new state: the reference step-by-step recurrence."""
        a = self.leak
        h = (1.0 - a) * state + a * jnp.tanh(x_t @ self.w_in[1:] + self.w_in[0] + state @ self.w)
        return jnp.concatenate([x_t, h], axis=-1) @ self.w_out + self.b_out, h

    def structure(self) -> dict:
        """What ``skeleton`` needs besides the config to rebuild this network's shapes."""
        return {}


def draw_reservoir(cfg: ESNConfig, c_in: int, c_out: int, key: jax.Array) -> ESN:
    """A reservoir for ``cfg`` with a zero read-out. The spectral radius is set from W's
    eigenvalues computed on the host (NumPy), in float64."""
    rng = host_rng(key)
    h = cfg.reservoir
    w = rng.uniform(-1.0, 1.0, (h, h)) * (rng.random((h, h)) < cfg.density)
    radius = float(np.max(np.abs(np.linalg.eigvals(w)))) if h > 0 else 0.0
    if radius < 1e-12:
        raise LagnetError(
            "model.density",
            cfg.density,
            f"the drawn {h}-unit reservoir has no non-zero eigenvalue (too sparse); "
            "raise model.density or model.reservoir",
        )
    w_in = rng.uniform(-cfg.input_scaling, cfg.input_scaling, (1 + c_in, h))
    return ESN(
        w_in=jnp.asarray(w_in, jnp.float32),
        w=jnp.asarray(w * (cfg.spectral_radius / radius), jnp.float32),
        w_out=jnp.zeros((c_in + h, c_out), jnp.float32),
        b_out=jnp.zeros((c_out,), jnp.float32),
        leak=float(cfg.leak),
    )


def skeleton(cfg: ESNConfig, c_in: int, c_out: int, structure: dict) -> ESN:
    """An ESN of the right shapes with zero weights, to load saved tensors into."""
    h = cfg.reservoir
    z = lambda *shape: jnp.zeros(shape, jnp.float32)  # noqa: E731
    return ESN(
        w_in=z(1 + c_in, h),
        w=z(h, h),
        w_out=z(c_in + h, c_out),
        b_out=z(c_out),
        leak=float(cfg.leak),
    )


# ----------------------------------------------------------------------------- read-out
def ridge_solve(
    xtx: np.ndarray, xty: np.ndarray, x_sum: np.ndarray, y_sum: np.ndarray, rows: int, ridge: float
) -> tuple[np.ndarray, np.ndarray]:
    """Ridge regression with an unpenalised intercept from accumulated sums (float64):

        W = (Xcᵀ Xc + ridge·I)⁻¹ Xcᵀ Yc,   b = ȳ − x̄ W,   Xc = X − x̄, Yc = Y − ȳ

    the form of scikit-learn's and reservoirpy's ``Ridge``. Solved by Cholesky
    (``assume_a="pos"``); a singular system (``ridge`` 0 on collinear states) falls back to the
    minimum-norm least-squares solution."""
    x_mean, y_mean = x_sum / rows, y_sum / rows
    a = xtx - rows * np.outer(x_mean, x_mean) + ridge * np.eye(xtx.shape[0])
    rhs = xty - rows * np.outer(x_mean, y_mean)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", scipy.linalg.LinAlgWarning)
            w = scipy.linalg.solve(a, rhs, assume_a="pos")
    except (np.linalg.LinAlgError, scipy.linalg.LinAlgWarning):
        w = np.linalg.lstsq(a, rhs, rcond=None)[0]
    return w, y_mean - x_mean @ w


@eqx.filter_jit
def _features(net: ESN, x: jax.Array) -> jax.Array:
    return net.features(x)


def fit_readout(
    net: ESN, x, y, valid, *, ridge: float, washout: int, chunk: int
) -> tuple[ESN, dict]:
    """Fit W_out and b by ridge regression on the steps t ≥ ``washout`` where the target is
    defined. x (N, L, C) and y (N, L, O) are the network's (normalised) inputs and targets;
    states are computed ``chunk`` paths at a time and only XᵀX, XᵀY and the sums are kept, so
    memory does not grow with N."""
    x, y, valid = np.asarray(x, np.float32), np.asarray(y, np.float64), np.asarray(valid, bool)
    n, length, _ = x.shape
    if washout >= length:
        raise LagnetError(
            "model.washout",
            washout,
            f"must be below the path length ({length}), or no state is kept",
        )
    keep = valid & (np.arange(length) >= washout)  # (L,)
    if not keep.any():
        raise LagnetError(
            "model.washout", washout, "leaves no step where the target is defined; lower it"
        )
    f, o = net.w_out.shape[0], y.shape[2]
    xtx, xty = np.zeros((f, f)), np.zeros((f, o))
    x_sum, y_sum, y_sq, rows = np.zeros(f), np.zeros(o), np.zeros(o), 0
    for start in range(0, n, chunk):
        xc = x[start : start + chunk]
        m = xc.shape[0]
        if m < chunk:  # pad the last chunk: one compiled shape for every chunk
            xc = np.concatenate([xc, np.zeros((chunk - m, *xc.shape[1:]), np.float32)])
        z = np.asarray(_features(net, jnp.asarray(xc)), np.float64)[:m, keep].reshape(-1, f)
        t = y[start : start + m, keep].reshape(-1, o)
        xtx += z.T @ z
        xty += z.T @ t
        x_sum += z.sum(axis=0)
        y_sum += t.sum(axis=0)
        y_sq += (t * t).sum(axis=0)
        rows += z.shape[0]
    w, b = ridge_solve(xtx, xty, x_sum, y_sum, rows, ridge)
    # The training error from the same sums, without a second pass over the states:
    # Σ(y − b − zW)² = Σy² − 2 bΣy − 2 (WᵀXᵀY)_diag + n b² + 2 b·(Σz W) + (WᵀXᵀXW)_diag.
    sse = (
        y_sq
        - 2 * b * y_sum
        - 2 * np.einsum("fo,fo->o", w, xty)
        + rows * b * b
        + 2 * b * (x_sum @ w)
        + np.einsum("fo,fg,go->o", w, xtx, w)
    )
    net = eqx.tree_at(
        lambda e: (e.w_out, e.b_out),
        net,
        (jnp.asarray(w, jnp.float32), jnp.asarray(b, jnp.float32)),
    )
    return net, dict(
        rows=rows,
        features=f,
        reservoir=int(net.w.shape[0]),
        train_mse=float(max(sse.sum(), 0.0)) / (rows * o),
    )


def _fit(cfg: ESNConfig, data: FitData) -> tuple[ESN, dict]:
    net = draw_reservoir(cfg, data.x.shape[2], data.y.shape[2], data.key)
    net, details = fit_readout(
        net, data.x, data.y, data.valid, ridge=cfg.ridge, washout=cfg.washout, chunk=data.batch
    )
    return net, dict(details, ridge=cfg.ridge, washout=cfg.washout)


FAMILIES.register(
    Family(
        kind="esn",
        config=ESNConfig,
        summary="echo state network, ridge read-out in closed form",
        fit=_fit,
        skeleton=skeleton,
        states=lambda net, x: net.states(x),
        grow=lambda cfg, train: (
            f"a larger reservoir: model.reservoir = {2 * cfg.reservoir}",
            {"model.reservoir": 2 * cfg.reservoir},
        ),
        examples={"esn": dict(reservoir=30, density=0.5, washout=3, ridge=1e-4)},
    )
)
