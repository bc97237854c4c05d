"""VAR(p): several named channels that feed each other, simulated with one scan over time.

    y_t = mean + sum_{i=1..p} A_i·(y_{t-i} - mean) + e_t,   e_t ~ N(0, cov),   y_t ∈ R^C

Companion form (Lütkepohl 2005, *New Introduction to Multiple Time Series Analysis*, §2.1.1):
with the state alpha_t = [y_t - mean, …, y_{t-p+1} - mean] ∈ R^{C·p},

    alpha_t = T alpha_{t-1} + R e_t,   T = [[A_1 … A_p], [I 0 … 0], …],   R = [I, 0, …]ᵀ.

The process is stationary iff every eigenvalue of T lies inside the unit circle; the stationary
state covariance solves P = T P Tᵀ + R cov Rᵀ, and Gamma(h) = Cov(y_{t+h}, y_t) is the top-left
C×C block of T^h P (Lütkepohl eq. 2.1.39).
"""

from __future__ import annotations

from functools import partial
from typing import Any, Literal, Optional, final

import jax
import jax.numpy as jnp
import numpy as np
from pydantic import field_validator

from lagnet.errors import LagnetError
from lagnet.processes.arma import UNIT, lyapunov, sqrt_psd
from lagnet.processes.base import Process, check_finite, check_sample_shape, check_series_name
from lagnet.processes.family import (
    MAT,
    MATS,
    NUMS,
    PROCESSES,
    STR,
    STRS,
    ProcessConfig,
    ProcessFamily,
    SpecForm,
)


class VARConfig(ProcessConfig):
    """VAR(p) with named channels: y_t = mean + sum_i A[i]·(y_{t-1-i} - mean) + e_t,
    e_t ~ N(0, cov). ``A`` is one C×C matrix (a VAR(1)) or a list of p of them; ``cov`` None =
    identity, ``mean`` None = zeros, ``names`` None = x1..xC. ``init`` as for ARMA."""

    kind: Literal["var"] = "var"
    A: tuple[tuple[tuple[float, ...], ...], ...]
    cov: Optional[tuple[tuple[float, ...], ...]] = None
    mean: Optional[tuple[float, ...]] = None
    names: Optional[tuple[str, ...]] = None
    init: Literal["zero", "stationary"] = "zero"

    @field_validator("A", mode="before")
    @classmethod
    def _one_matrix(cls, v: Any) -> Any:
        # One matrix means a VAR(1): wrap it, so A is always a list of p matrices and
        # A=[[...]] and A=[[[...]]] give equal configs.
        v = v.tolist() if hasattr(v, "tolist") else v
        if (
            isinstance(v, (list, tuple))
            and v
            and isinstance(v[0], (list, tuple))
            and v[0]
            and not isinstance(v[0][0], (list, tuple))
        ):
            return (v,)
        return v


@final
class VAR(Process):
    """VAR(p) with Gaussian innovations. Series: the channel names, all observed.

    ``init="zero"``: every path starts at rest (y_0 = mean, pre-sample values at the mean).
    ``init="stationary"``: the pre-sample state is drawn from the stationary distribution.
    Theory is per channel: ``mean()`` and ``variance()`` are (C,), ``acf(lags)`` is
    (lags + 1, C); ``autocovariance(lags)`` gives the full (lags + 1, C, C) matrices.

    >>> p = VAR(VARConfig(A=[[0.5, 0.1], [0.0, 0.3]], names=("x", "z")))
    >>> p.sample(jax.random.PRNGKey(0), 3, 7)["z"].shape
    (3, 7)
    """

    def __init__(self, config: VARConfig):
        A = _matrices(config.A)
        p, c = A.shape[0], A.shape[1]
        cov = np.eye(c) if config.cov is None else _matrix("process.cov", config.cov, c)
        mean = np.zeros(c) if config.mean is None else np.asarray(config.mean, dtype=float)
        names = tuple(f"x{i + 1}" for i in range(c)) if config.names is None else config.names
        check_finite("process.A", A)
        check_finite("process.cov", cov)
        check_finite("process.mean", mean)
        if mean.shape != (c,):
            raise LagnetError(
                "process.mean", list(config.mean), f"must have one value per channel ({c})"
            )
        if len(names) != c:
            raise LagnetError("process.names", list(names), f"must name each of the {c} channels")
        if len(set(names)) != c:
            raise LagnetError("process.names", list(names), "must be distinct names")
        for name in names:
            check_series_name("process.names", name)
        if not np.allclose(cov, cov.T, rtol=0, atol=1e-12):
            raise LagnetError("process.cov", _lists(cov), "must be symmetric")
        if np.min(np.linalg.eigvalsh(cov)) < -1e-10 * max(1.0, np.max(np.abs(cov))):
            raise LagnetError("process.cov", _lists(cov), "must be positive semi-definite")

        T = np.zeros((c * p, c * p))
        T[:c] = np.concatenate(list(A), axis=1)  # [A_1 … A_p]
        T[c:, :-c] = np.eye(c * (p - 1))
        lam = float(np.max(np.abs(np.linalg.eigvals(T))))
        if lam >= UNIT:
            raise LagnetError(
                "process.A",
                _lists(A if p > 1 else A[0]),
                f"not stationary: the companion matrix has an eigenvalue with |λ| = {lam:.3f} ≥ 1",
            )
        Q = np.zeros_like(T)
        Q[:c, :c] = cov
        P = lyapunov(T, Q)

        self.config = config
        self.names = names
        self._T, self._P, self._mean = T, (P + P.T) / 2, mean  # host-side theory
        self._A = T[:c].astype(np.float32)  # (C, C·p) constants for the scan
        self._chol_cov = sqrt_psd(cov).astype(np.float32)  # (C, C)
        self._chol_P = sqrt_psd(self._P).astype(np.float32)  # (C·p, C·p)

    @property
    def series(self) -> tuple[str, ...]:
        return self.names

    def sample(self, key: jax.Array, n: int, length: int) -> dict[str, jax.Array]:
        check_sample_shape(n, length)
        y = _sample(
            key,
            self._A,
            self._chol_cov,
            self._chol_P,
            self._mean.astype(np.float32),
            n=int(n),
            length=int(length),
            stationary=self.config.init == "stationary",
        )
        return {name: y[:, :, i] for i, name in enumerate(self.names)}

    def mean(self) -> np.ndarray:
        return self._mean.copy()

    def variance(self) -> np.ndarray:
        c = len(self.names)
        return np.diag(self._P[:c, :c]).copy()

    def autocovariance(self, lags: int) -> np.ndarray:
        """Gamma(h) = Cov(y_{t+h}, y_t) for h = 0..lags, shape (lags + 1, C, C)."""
        c = len(self.names)
        out = np.empty((lags + 1, c, c))
        M = self._P
        for h in range(lags + 1):
            out[h] = M[:c, :c]
            M = self._T @ M  # later shocks are independent of alpha_t
        return out

    def acf(self, lags: int) -> np.ndarray:
        """Each channel's own autocorrelation at lags 0..lags, shape (lags + 1, C)."""
        g = np.diagonal(self.autocovariance(lags), axis1=1, axis2=2)  # (lags + 1, C)
        return g / g[0]


def _matrix(field: str, rows, c: int | None) -> np.ndarray:
    """A square matrix from nested tuples, refusing ragged or wrongly sized input."""
    widths = {len(r) for r in rows}
    if len(rows) == 0 or widths != {len(rows)} or (c is not None and len(rows) != c):
        size = "C×C" if c is None else f"{c}×{c}"
        raise LagnetError(field, _lists(rows), f"must be a square {size} matrix")
    return np.asarray(rows, dtype=float)


def _lists(a) -> list:
    """Nested tuples or arrays as nested lists of floats, for error messages."""
    return [_lists(v) for v in a] if isinstance(a, (list, tuple, np.ndarray)) else float(a)


def _matrices(A) -> np.ndarray:
    """The p coefficient matrices, shape (p, C, C); all square and of one size."""
    if len(A) == 0:
        raise LagnetError("process.A", [], "needs at least one C×C matrix")
    first = _matrix("process.A", A[0], None)
    return np.stack([first] + [_matrix("process.A", a, first.shape[0]) for a in A[1:]])


@partial(jax.jit, static_argnames=("n", "length", "stationary"))
def _sample(key, A, chol_cov, chol_P, mean, *, n: int, length: int, stationary: bool):
    """The fast path: one scan over time, the whole batch in the carry. O(N·L·C²·p)."""
    c, cp = A.shape
    k_init, k_shock = jax.random.split(key)
    e = jax.random.normal(k_shock, (n, length, c), dtype=jnp.float32) @ chol_cov.T  # (N, L, C)
    if stationary:
        z = jax.random.normal(k_init, (n, cp), dtype=jnp.float32)  # (N, C·p)
        alpha = z @ chol_P.T  # (N, C·p) pre-sample state ~ N(0, P)
    else:
        e = e.at[:, 0].set(0.0)  # at rest, so y_0 = mean
        alpha = jnp.zeros((n, cp), jnp.float32)

    def step(alpha, e_t):  # alpha (N, C·p), e_t (N, C)
        y = alpha @ A.T + e_t  # (N, C)
        return jnp.concatenate([y, alpha[:, : cp - c]], axis=1), y

    _, y = jax.lax.scan(step, alpha, jnp.swapaxes(e, 0, 1))  # (L, N, C)
    return mean + jnp.swapaxes(y, 0, 1)  # (N, L, C)


PROCESSES.register(
    ProcessFamily(
        kind="var",
        config=VARConfig,
        build=VAR,
        summary="VAR(p) with named channels",
        forms={
            "var": SpecForm(
                {"A": MATS, "cov": MAT, "mean": NUMS, "names": STRS, "init": STR}, ("A",), ("A",)
            )
        },
        examples=lambda d: {"var": VARConfig(A=(((0.5, 0.1), (0.0, 0.3)),), init="stationary")},
    )
)
