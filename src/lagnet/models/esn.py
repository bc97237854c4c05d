"""Echo state network: a fixed random reservoir and a linear read-out fitted in closed form.

    h_t = (1 − a)·h_{t−1} + a·tanh(W_in [1; x_t] + W h_{t−1}),     h_{−1} = 0
    y_t = b + W_out [x_t; h_t]

Jaeger 2001, "The 'echo state' approach to analysing and training recurrent neural networks";
the leaky form, the scalings and the ridge read-out follow Lukoševičius 2012, "A Practical Guide
to Applying Echo State Networks". W is sparse random (a share ``density`` of its entries
non-zero, uniform in [−1, 1]) rescaled to spectral radius ``spectral_radius``; W_in (bias row
included) is dense uniform in [−input_scaling, input_scaling]. Only W_out and b are learned:
ridge regression on the states after ``washout`` steps, in one pass over the data and no
gradient loop (``fit_readout``). Settings left unset are chosen on the validation set by
:mod:`lagnet.models.esn_fit`, which also declares the family.

Legend: N paths, L time steps, C channels, H reservoir units, O outputs, F = C + H features.

Example::

    >>> net = draw_reservoir(ESNConfig(reservoir=50), 1, 1, jax.random.PRNGKey(0))
    >>> net, info = fit_readout(net, x, y, valid, ridge=1e-6, washout=20, chunk=128)
    >>> net(x).shape                                   # x (N, L, 1) -> (N, L, 1)
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import ClassVar, Literal, Optional

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from pydantic import Field

from lagnet.errors import LagnetError
from lagnet.models.base import SequenceNet
from lagnet.models.family import ModelConfig
from lagnet.models.layers import host_rng


class ESNConfig(ModelConfig):
    """A reservoir of ``reservoir`` units, ``spectral_radius``, ``leak``, ``input_scaling`` and
    ``density``; a ridge read-out with penalty ``ridge``, the first ``washout`` steps skipped.

    ``spectral_radius``, ``leak``, ``input_scaling``, ``ridge`` and ``washout`` left unset
    (None) are chosen on the validation set (:mod:`lagnet.models.esn_tune`); those given are
    kept as given."""

    # The defaults before unset meant "choose": run directories written with every family's
    # settings in one flat config hold these, and load as they were.
    LEGACY_DEFAULTS: ClassVar[dict] = dict(
        spectral_radius=0.9, leak=1.0, input_scaling=1.0, ridge=1e-6, washout=50
    )
    kind: Literal["esn"] = "esn"
    reservoir: int = Field(500, gt=0)
    spectral_radius: Optional[float] = Field(None, gt=0)
    leak: Optional[float] = Field(None, gt=0, le=1)
    input_scaling: Optional[float] = Field(None, gt=0)
    density: float = Field(0.1, gt=0, le=1)
    ridge: Optional[float] = Field(None, ge=0)
    washout: Optional[int] = Field(None, ge=0)

    def unset(self) -> tuple[str, ...]:
        """The settings left to the search."""
        return tuple(k for k in TUNED if getattr(self, k) is None)


TUNED = ("spectral_radius", "input_scaling", "leak", "ridge", "washout")
# Where the search starts for an unset setting (and what ``draw_reservoir`` uses for one):
# Lukoševičius 2012 §3.2 — a radius near 1, inputs scaled small enough that tanh stays near
# its linear range for normalised inputs, no leak.
START = dict(spectral_radius=0.95, input_scaling=0.3, leak=1.0, ridge=1e-6, washout=0)


def setting(cfg: ESNConfig, name: str):
    """``cfg``'s value of ``name``, or the search's starting value when it is unset."""
    value = getattr(cfg, name)
    return START[name] if value is None else value


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
        return reservoir_states(self.w_in, self.w, self.leak, x)

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
        """What ``skeleton`` needs besides the config to rebuild this network: the leak (the
        config may have left it to the search)."""
        return {"leak": self.leak}


def reservoir_states(w_in: jax.Array, w: jax.Array, leak, x: jax.Array) -> jax.Array:
    """x: (N, L, C) -> states h (N, L, H) of the reservoir (w_in, w) with leak ``leak`` (a
    float, or a traced scalar: the search compiles this once for every leak it tries)."""
    xp = jnp.swapaxes(x @ w_in[1:] + w_in[0], 0, 1)  # (L, N, H), one matmul

    def cell(h, xp_t):
        h = (1.0 - leak) * h + leak * jnp.tanh(xp_t + h @ w)
        return h, h

    h0 = jnp.zeros((x.shape[0], w.shape[0]), jnp.float32)
    _, hs = jax.lax.scan(cell, h0, xp)  # (L, N, H)
    return jnp.swapaxes(hs, 0, 1)  # (N, L, H)


def spectral_radius_of(w: np.ndarray) -> float:
    """The largest |eigenvalue| of w (H, H), in float64: by ARPACK from a fixed start, keeping
    12 eigenvalues (a random W's spectrum crowds the edge of a disk, and one alone can settle
    on the wrong one) — tenths of a second for 500 units where a full ``eigvals`` takes 1–5 s
    on 2 busy cores; a full eigendecomposition for a small W or when ARPACK does not converge."""
    h = w.shape[0]
    if h >= 64:
        import scipy.sparse.linalg  # SciPy is imported when first used, not with lagnet

        try:
            lam = scipy.sparse.linalg.eigs(
                scipy.sparse.csr_matrix(w),
                k=12,
                ncv=60,
                which="LM",
                v0=np.ones(h),
                return_eigenvectors=False,
                maxiter=20 * h,
            )
            return float(np.abs(lam).max())
        except scipy.sparse.linalg.ArpackNoConvergence:
            pass
    return float(np.max(np.abs(np.linalg.eigvals(w)))) if h > 0 else 0.0


def unit_reservoir(cfg: ESNConfig, c_in: int, key: jax.Array) -> tuple[np.ndarray, np.ndarray]:
    """The reservoir's random matrices before scaling (float64): W (H, H) of spectral radius 1,
    its radius from the eigenvalues computed on the host, and W_in (1 + C, H) uniform in
    [−1, 1]. Scalings multiply these, so a search over them draws once."""
    rng = host_rng(key)
    h = cfg.reservoir
    w = rng.uniform(-1.0, 1.0, (h, h)) * (rng.random((h, h)) < cfg.density)
    radius = spectral_radius_of(w)
    if radius < 1e-12:
        raise LagnetError(
            "model.density",
            cfg.density,
            f"the drawn {h}-unit reservoir has no non-zero eigenvalue (too sparse); "
            "raise model.density or model.reservoir",
        )
    return w / radius, rng.uniform(-1.0, 1.0, (1 + c_in, h))


def scaled_reservoir(
    unit: tuple[np.ndarray, np.ndarray], c_out: int, spectral_radius, input_scaling, leak
) -> ESN:
    """The ESN of ``unit_reservoir``'s matrices scaled to ``spectral_radius`` and
    ``input_scaling`` (bias row included), with ``leak`` and a zero read-out."""
    w, w_in = unit
    c_in, h = w_in.shape[0] - 1, w.shape[0]
    return ESN(
        w_in=jnp.asarray(w_in * input_scaling, jnp.float32),
        w=jnp.asarray(w * spectral_radius, jnp.float32),
        w_out=jnp.zeros((c_in + h, c_out), jnp.float32),
        b_out=jnp.zeros((c_out,), jnp.float32),
        leak=float(leak),
    )


def draw_reservoir(cfg: ESNConfig, c_in: int, c_out: int, key: jax.Array) -> ESN:
    """A reservoir for ``cfg`` with a zero read-out (unset scalings at the search's start)."""
    return scaled_reservoir(
        unit_reservoir(cfg, c_in, key),
        c_out,
        *(setting(cfg, k) for k in ("spectral_radius", "input_scaling", "leak")),
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
        leak=float(structure.get("leak", setting(cfg, "leak"))),
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
    import scipy.linalg  # SciPy is imported when first used, not with lagnet

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
def _features(w_in: jax.Array, w: jax.Array, leak: jax.Array, x: jax.Array) -> jax.Array:
    """What the read-out sees, [x_t; h_t] (N, L, C + H); the leak traced, so one compile
    serves every leak a search tries."""
    return jnp.concatenate([x, reservoir_states(w_in, w, leak, x)], axis=-1)


@dataclass
class Sums:
    """What a ridge read-out needs of its rows z (features) and t (targets), in float64:
    ZᵀZ, ZᵀT, Σz, Σt, Σt² and the row count. Sums over disjoint rows add."""

    ztz: np.ndarray  # (F, F)
    ztt: np.ndarray  # (F, O)
    z_sum: np.ndarray  # (F,)
    t_sum: np.ndarray  # (O,)
    t_sq: np.ndarray  # (O,)
    rows: int

    def __add__(self, other: Sums) -> Sums:
        return Sums(
            self.ztz + other.ztz,
            self.ztt + other.ztt,
            self.z_sum + other.z_sum,
            self.t_sum + other.t_sum,
            self.t_sq + other.t_sq,
            self.rows + other.rows,
        )

    def sse(self, w: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Σ(t − b − zW)² per output, from the sums alone:
        Σt² − 2bΣt − 2 (WᵀZᵀT)_diag + n b² + 2 b·(Σz W) + (WᵀZᵀZW)_diag."""
        return (
            self.t_sq
            - 2 * b * self.t_sum
            - 2 * np.einsum("fo,fo->o", w, self.ztt)
            + self.rows * b * b
            + 2 * b * (self.z_sum @ w)
            + np.einsum("fo,fg,go->o", w, self.ztz, w)
        )


def read_sums(net: ESN, x, y, masks, chunk: int) -> list[Sums]:
    """For each mask (L,) of steps, the :class:`Sums` of the read-out's rows [x_t; h_t] → y_t
    over every path at those steps. x (N, L, C), y (N, L, O); states are computed ``chunk``
    paths at a time, so memory does not grow with N."""
    x, y = np.asarray(x, np.float32), np.asarray(y, np.float64)
    n, f, o = x.shape[0], net.w_out.shape[0], y.shape[2]
    out = [
        Sums(np.zeros((f, f)), np.zeros((f, o)), np.zeros(f), np.zeros(o), np.zeros(o), 0)
        for _ in masks
    ]
    leak = jnp.asarray(net.leak, jnp.float32)
    for start in range(0, n, chunk):
        xc = x[start : start + chunk]
        m = xc.shape[0]
        if m < chunk:  # pad the last chunk: one compiled shape for every chunk
            xc = np.concatenate([xc, np.zeros((chunk - m, *xc.shape[1:]), np.float32)])
        feats = np.asarray(_features(net.w_in, net.w, leak, jnp.asarray(xc)), np.float64)[:m]
        for i, mask in enumerate(masks):
            z = feats[:, mask].reshape(-1, f)  # (M, F)
            t = y[start : start + m, mask].reshape(-1, o)  # (M, O)
            out[i] = out[i] + Sums(
                z.T @ z, z.T @ t, z.sum(axis=0), t.sum(axis=0), (t * t).sum(axis=0), z.shape[0]
            )
    return out


def kept_steps(valid, length: int, washout: int) -> np.ndarray:
    """The steps (L,) a read-out is fitted on: the target defined and t ≥ ``washout``
    (``valid`` None: defined everywhere)."""
    valid = np.ones(length, bool) if valid is None else valid
    if washout >= length:
        raise LagnetError(
            "model.washout",
            washout,
            f"must be below the path length ({length}), or no state is kept",
        )
    keep = np.asarray(valid, bool) & (np.arange(length) >= washout)  # (L,)
    if not keep.any():
        raise LagnetError(
            "model.washout", washout, "leaves no step where the target is defined; lower it"
        )
    return keep


def fit_readout(
    net: ESN, x, y, valid, *, ridge: float, washout: int, chunk: int
) -> tuple[ESN, dict]:
    """Fit W_out and b by ridge regression on the steps t ≥ ``washout`` where the target is
    defined. x (N, L, C) and y (N, L, O) are the network's (normalised) inputs and targets;
    only XᵀX, XᵀY and the sums are kept (:func:`read_sums`)."""
    keep = kept_steps(valid, np.shape(x)[1], washout)
    sums = read_sums(net, x, y, [keep], chunk)[0]
    w, b = ridge_solve(sums.ztz, sums.ztt, sums.z_sum, sums.t_sum, sums.rows, ridge)
    sse = sums.sse(w, b)  # the training error without a second pass over the states
    net = eqx.tree_at(
        lambda e: (e.w_out, e.b_out),
        net,
        (jnp.asarray(w, jnp.float32), jnp.asarray(b, jnp.float32)),
    )
    return net, dict(
        rows=sums.rows,
        features=int(sums.ztz.shape[0]),
        reservoir=int(net.w.shape[0]),
        train_mse=float(max(sse.sum(), 0.0)) / (sums.rows * sse.shape[0]),
    )
