"""ARMA(p, q) paths, simulated in state-space form with one scan over time.

    x_t = mean + y_t,   y_t = sum_i ar[i]·y_{t-1-i} + e_t + sum_j ma[j]·e_{t-1-j},   e_t ~ N(0, sigma²)

State-space form (Harvey 1989, §3.3): with r = max(p, q + 1), phi = ar padded to r and
R = [1, ma..., 0...] of length r,

    alpha_t = T alpha_{t-1} + R e_t,   y_t = alpha_t[0],

where T is the companion matrix (first column phi, ones on the superdiagonal). The stationary
state covariance solves P = T P Tᵀ + sigma² R Rᵀ.
"""

from __future__ import annotations

from functools import partial
from typing import Literal, final

import jax
import jax.numpy as jnp
import numpy as np
from pydantic import Field

from lagnet.errors import LagnetError
from lagnet.processes.base import Process, check_finite, check_sample_shape, check_series_name
from lagnet.processes.family import (
    NUM,
    NUMS,
    PROCESSES,
    STR,
    ProcessConfig,
    ProcessFamily,
    SpecForm,
    rename,
)

# Largest companion eigenvalue modulus accepted; the margin only absorbs rounding in eig()
# for polynomials with an exact unit root (e.g. ar=[0.5, 0.5]).
UNIT = 1.0 - 1e-9


class ARMAConfig(ProcessConfig):
    """ARMA(p, q): x_t = mean + sum_i ar[i]·(x_{t-1-i} - mean) + e_t + sum_j ma[j]·e_{t-1-j},
    e_t ~ N(0, sigma²). ``init="zero"`` starts every path at rest (x_0 = mean, no past shocks);
    ``"stationary"`` draws the start from the stationary distribution."""

    kind: Literal["arma"] = "arma"
    ar: tuple[float, ...] = ()
    ma: tuple[float, ...] = ()
    sigma: float = Field(1.0, gt=0)
    mean: float = 0.0
    init: Literal["zero", "stationary"] = "zero"
    name: str = "x"


@final
class ARMA(Process):
    """ARMA(p, q) with Gaussian innovations. Series: ``(config.name, "e")``, ``e`` being e_t.

    ``init="zero"``: every path starts at rest — x_0 = mean exactly, e_0 = 0, all pre-sample
    values 0 (the forum set-up x_0 = 0, x_t = 0.1·x_{t-1} + e_t). ``init="stationary"``: the
    pre-sample state is drawn from the stationary distribution, so every x_t is stationary.

    >>> p = ARMA(ARMAConfig(ar=(0.5, -0.2), ma=(0.3,), init="stationary"))
    >>> p.sample(jax.random.PRNGKey(0), 3, 7)["x"].shape
    (3, 7)
    """

    def __init__(self, config: ARMAConfig):
        ar = np.asarray(config.ar, dtype=float)
        ma = np.asarray(config.ma, dtype=float)
        for field, value in (
            ("process.ar", config.ar),
            ("process.ma", config.ma),
            ("process.sigma", config.sigma),
            ("process.mean", config.mean),
        ):
            check_finite(field, value)
        check_series_name("process.name", config.name)
        if config.name == "e":
            raise LagnetError(
                "process.name",
                config.name,
                "clashes with the innovation series 'e'; choose another name",
            )
        r = max(len(ar), len(ma) + 1)
        phi = np.zeros(r)
        phi[: len(ar)] = ar
        R = np.zeros(r)
        R[0] = 1.0
        R[1 : len(ma) + 1] = ma
        T = np.zeros((r, r))
        T[:, 0] = phi
        T[np.arange(r - 1), np.arange(1, r)] = 1.0
        if len(ar):
            lam = float(np.max(np.abs(np.linalg.eigvals(T))))
            if lam >= UNIT:
                raise LagnetError(
                    "process.ar",
                    list(config.ar),
                    f"not stationary: the AR polynomial has a root with modulus "
                    f"{1 / lam:.3f} ≤ 1 (companion eigenvalue |λ| = {lam:.3f} ≥ 1)",
                )
        P = lyapunov(T, config.sigma**2 * np.outer(R, R))
        P = (P + P.T) / 2  # (r, r)

        self.config = config
        self._T = T  # host-side theory
        self._P = P
        self._phi = phi.astype(np.float32)  # (r,) constants for the scan
        self._R = R.astype(np.float32)  # (r,)
        self._chol = sqrt_psd(P).astype(np.float32)  # (r, r), chol @ cholᵀ = P

    @property
    def series(self) -> tuple[str, ...]:
        return (self.config.name, "e")

    def sample(self, key: jax.Array, n: int, length: int) -> dict[str, jax.Array]:
        check_sample_shape(n, length)
        x, e = _sample(
            key,
            self._phi,
            self._R,
            self._chol,
            np.float32(self.config.sigma),
            np.float32(self.config.mean),
            n=int(n),
            length=int(length),
            stationary=self.config.init == "stationary",
        )
        return {self.config.name: x, "e": e}

    def mean(self) -> float:
        return float(self.config.mean)

    def variance(self) -> float:
        return float(self._P[0, 0])

    def acf(self, lags: int) -> np.ndarray:
        # Cov(alpha_{t+k}, alpha_t) = T^k P, since later shocks are independent of alpha_t.
        out = np.empty(lags + 1)
        M = self._P
        for k in range(lags + 1):
            out[k] = M[0, 0]
            M = self._T @ M
        return out / out[0]


def lyapunov(T: np.ndarray, Q: np.ndarray) -> np.ndarray:
    """P solving P = T P Tᵀ + Q: the stationary covariance of a state s_t = T s_{t-1} + noise of
    covariance Q. (SciPy is imported here, when a process is first built, not with lagnet:
    ``lagnet tasks`` started in 1.11 s rather than 1.51 s, medians of 10 runs on 2 cores.)"""
    import scipy.linalg

    return scipy.linalg.solve_discrete_lyapunov(T, Q)


def sqrt_psd(P: np.ndarray) -> np.ndarray:
    """A factor S with S Sᵀ = P: Cholesky, or for a singular P (e.g. trailing zero MA
    coefficients leave a state that never moves) the symmetric root from eigh."""
    try:
        return np.linalg.cholesky(P)
    except np.linalg.LinAlgError:
        w, V = np.linalg.eigh(P)
        return V * np.sqrt(np.clip(w, 0.0, None))


@partial(jax.jit, static_argnames=("n", "length", "stationary"))
def _sample(key, phi, R, chol, sigma, mean, *, n: int, length: int, stationary: bool):
    """The fast path: one scan over time, the whole batch in the carry. O(N·L·r)."""
    r = phi.shape[0]
    k_init, k_shock = jax.random.split(key)
    e = sigma * jax.random.normal(k_shock, (n, length), dtype=jnp.float32)  # (N, L)
    if stationary:
        z = jax.random.normal(k_init, (n, r), dtype=jnp.float32)  # (N, r)
        alpha = z @ chol.T  # (N, r) pre-sample state alpha_{-1} ~ N(0, P)
    else:
        e = e.at[:, 0].set(0.0)  # at rest: alpha_{-1} = 0 and e_0 = 0, so x_0 = mean
        alpha = jnp.zeros((n, r), jnp.float32)

    def step(alpha, e_t):  # alpha (N, r), e_t (N,)
        # T alpha without the r×r matmul: companion = first column phi + shift up by one.
        shifted = jnp.concatenate([alpha[:, 1:], jnp.zeros_like(alpha[:, :1])], axis=1)
        alpha = alpha[:, :1] * phi + shifted + e_t[:, None] * R
        return alpha, alpha[:, 0]

    _, y = jax.lax.scan(step, alpha, e.T)  # (L, N)
    return mean + y.T, e  # (N, L), (N, L)


def arma_reference(ar, ma, e: np.ndarray, mean: float = 0.0) -> np.ndarray:
    """The plain difference equation, step by step, from rest (pre-sample values 0).

    Given the innovations ``e`` (N, L) it returns x (N, L); the scan above must agree with it
    on paths started with ``init="zero"``.
    """
    e = np.asarray(e, dtype=float)
    y = np.zeros_like(e)
    for t in range(e.shape[1]):
        y[:, t] = e[:, t]
        for i, a in enumerate(ar):
            if t - 1 - i >= 0:
                y[:, t] += a * y[:, t - 1 - i]
        for j, m in enumerate(ma):
            if t - 1 - j >= 0:
                y[:, t] += m * e[:, t - 1 - j]
    return mean + y


_ARMA_COMMON = {"sigma": NUM, "mean": NUM, "init": STR, "name": STR}

PROCESSES.register(
    ProcessFamily(
        kind="arma",
        config=ARMAConfig,
        build=ARMA,
        summary="ARMA(p, q) with Gaussian innovations",
        forms={
            "ar1": SpecForm(
                {"rho": NUM, **_ARMA_COMMON},
                ("rho",),
                ("rho",),
                lambda kw: ARMAConfig(**rename(kw, "rho", "ar", wrap=True)),
                {"ar": "rho"},
            ),
            "ar": SpecForm(
                {"coefs": NUMS, **_ARMA_COMMON},
                ("coefs",),
                ("coefs",),
                lambda kw: ARMAConfig(**rename(kw, "coefs", "ar")),
                {"ar": "coefs"},
            ),
            "ma": SpecForm(
                {"coefs": NUMS, **_ARMA_COMMON},
                ("coefs",),
                ("coefs",),
                lambda kw: ARMAConfig(**rename(kw, "coefs", "ma")),
                {"ma": "coefs"},
            ),
            "arma": SpecForm({"ar": NUMS, "ma": NUMS, **_ARMA_COMMON}, ("ar", "ma")),
        },
        examples=lambda d: {
            "ar1": ARMAConfig(ar=(0.1,)),
            "arma21": ARMAConfig(ar=(0.5, -0.2), ma=(0.3,), init="stationary"),
        },
    )
)
