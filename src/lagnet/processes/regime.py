"""Markov regime-switching AR(1): a hidden Markov chain picks each step's mean, memory and noise.

    s_t ~ P[s_{t-1}, ·],   x_t = mu[s_t] + rho[s_t]·(x_{t-1} - mu[s_t]) + sigma[s_t]·e_t,

e iid N(0, 1), independent of the chain. Hamilton (1989), "A new approach to the economic
analysis of nonstationary time series and the business cycle", Econometrica 57.

Theory. The chain's stationary law pi solves pi P = pi; a spell in regime i lasts
1/(1 - P_ii) steps on average (geometric). With c_j = (1 - rho_j)·mu_j and conditioning on the
regime one step back, m_j = E[x_t·1{s_t = j}] and q_j = E[x_t²·1{s_t = j}] solve

    m = c∘pi + rho∘(Pᵀm),   q = (c² + sigma²)∘pi + 2·c∘rho∘(Pᵀm) + rho²∘(Pᵀq),

and u_j(k) = E[x_{t+k}·x_t·1{s_{t+k} = j}] = c_j·((Pᵀ)^k m)_j + rho_j·(Pᵀu(k-1))_j, u(0) = q,
which give the stationary mean, variance and autocorrelation of x.
"""

from __future__ import annotations

from functools import partial
from typing import Literal, Optional, final

import jax
import jax.numpy as jnp
import numpy as np

from lagnet.errors import LagnetError
from lagnet.filters import Optimal, hamilton_filter
from lagnet.processes.base import LatentProcess, check_finite, check_sample_shape
from lagnet.processes.family import (
    MAT,
    NUMS,
    PROCESSES,
    STR,
    ProcessConfig,
    ProcessFamily,
    SpecForm,
)


class RegimeConfig(ProcessConfig):
    """Markov regime-switching AR(1): s_t ~ P[s_{t-1}, ·],
    x_t = mu[s_t] + rho[s_t]·(x_{t-1} - mu[s_t]) + sigma[s_t]·e_t. ``rho`` None = zeros,
    ``sigma`` None = ones. Series ``name`` (observed) and ``regime`` (latent, 0..k-1)."""

    kind: Literal["regime"] = "regime"
    P: tuple[tuple[float, ...], ...]
    mu: tuple[float, ...]
    rho: Optional[tuple[float, ...]] = None
    sigma: Optional[tuple[float, ...]] = None
    name: str = "x"


@final
class Regime(LatentProcess):
    """Regime-switching AR(1). Series: ``(config.name, "regime")``, the regime as a float
    0..k-1; only x is observed. s_0 is drawn from the stationary law pi, and x_0 from the
    stationary law of regime s_0's own AR(1), N(mu, sigma²/(1 - rho²)) — close to, not exactly,
    the stationary law of x, which is a mixture that also remembers past regimes.

    >>> p = Regime(RegimeConfig(P=[[0.9, 0.1], [0.2, 0.8]], mu=[-1.0, 1.0]))
    >>> p.stationary_distribution().round(4), p.expected_durations().round(4)
    (array([0.6667, 0.3333]), array([10.,  5.]))
    """

    latent = "regime"

    def __init__(self, config: RegimeConfig):
        P = np.asarray(_square(config.P), dtype=float)
        k = P.shape[0]
        mu = np.asarray(config.mu, dtype=float)
        rho = np.zeros(k) if config.rho is None else np.asarray(config.rho, dtype=float)
        sigma = np.ones(k) if config.sigma is None else np.asarray(config.sigma, dtype=float)
        for field, v in (("P", P), ("mu", mu), ("rho", rho), ("sigma", sigma)):
            check_finite(f"process.{field}", v)
            if field != "P" and v.shape != (k,):
                raise LagnetError(
                    f"process.{field}", np.asarray(v).tolist(), f"needs one value per regime ({k})"
                )
        if np.any(P < 0) or np.any(P > 1):
            raise LagnetError("process.P", _rows(P), "entries must lie in [0, 1]")
        if np.any(np.abs(P.sum(axis=1) - 1) > 1e-6):
            raise LagnetError("process.P", _rows(P), "each row must sum to 1")
        if np.any(np.abs(rho) >= 1):
            raise LagnetError(
                "process.rho", np.asarray(rho).tolist(), "needs |rho| < 1 in every regime"
            )
        if np.any(sigma <= 0):
            raise LagnetError(
                "process.sigma", np.asarray(sigma).tolist(), "must be positive in every regime"
            )
        self.check_name(config.name)
        P = P / P.sum(axis=1, keepdims=True)
        # pi P = pi has one solution with sum 1 iff Pᵀ - I has rank k - 1.
        if k > 1 and np.linalg.matrix_rank(P.T - np.eye(k), tol=1e-9) < k - 1:
            raise LagnetError(
                "process.P",
                _rows(P),
                "has more than one stationary distribution (the chain splits into closed classes)",
            )
        pi = np.linalg.lstsq(
            np.vstack([P.T - np.eye(k), np.ones(k)]), np.r_[np.zeros(k), 1.0], rcond=None
        )[0]

        self.config = config
        self._P, self._pi, self._mu, self._rho, self._sigma = (
            P,
            np.clip(pi, 0, None),
            mu,
            rho,
            sigma,
        )

    def sample(self, key: jax.Array, n: int, length: int) -> dict[str, jax.Array]:
        check_sample_shape(n, length)
        f32 = lambda a: np.asarray(a, np.float32)  # noqa: E731
        x, s = _sample(
            key,
            f32(np.cumsum(self._P, axis=1)),
            f32(np.cumsum(self._pi)),
            f32(self._mu),
            f32(self._rho),
            f32(self._sigma),
            n=int(n),
            length=int(length),
        )
        return {self.config.name: x, "regime": s}

    # ---- theory
    def stationary_distribution(self) -> np.ndarray:
        """pi with pi P = pi, shape (k,)."""
        return self._pi.copy()

    def expected_durations(self) -> np.ndarray:
        """Mean length of a spell in each regime, 1/(1 - P_ii), shape (k,) (inf if absorbing)."""
        with np.errstate(divide="ignore"):
            return 1.0 / (1.0 - np.diag(self._P))

    def _moments(self, lags: int) -> tuple[float, np.ndarray]:
        """The stationary mean and E[x_{t+h}·x_t] for h = 0..lags."""
        P, pi, rho = self._P, self._pi, self._rho
        c = (1 - rho) * self._mu
        eye = np.eye(len(pi))
        m = np.linalg.solve(eye - rho[:, None] * P.T, c * pi)
        q = np.linalg.solve(
            eye - (rho**2)[:, None] * P.T, (c**2 + self._sigma**2) * pi + 2 * c * rho * (P.T @ m)
        )
        second, u, w = [q.sum()], q, m  # w_j = E[x_t·1{s_{t+h} = j}]
        for _ in range(lags):
            w = P.T @ w
            u = c * w + rho * (P.T @ u)
            second.append(u.sum())
        return float(m.sum()), np.array(second)

    def mean(self) -> float:
        return self._moments(0)[0]

    def variance(self) -> float:
        mean, second = self._moments(0)
        return float(second[0] - mean**2)

    def acf(self, lags: int) -> np.ndarray:
        mean, second = self._moments(lags)
        cov = second - mean**2
        return cov / cov[0]


def _square(rows) -> tuple:
    if len(rows) == 0 or {len(r) for r in rows} != {len(rows)}:
        raise LagnetError("process.P", [list(r) for r in rows], "must be a square k×k matrix")
    return rows


def _rows(P: np.ndarray) -> list:
    return [list(map(float, r)) for r in P]


@partial(jax.jit, static_argnames=("n", "length"))
def _sample(key, cum_P, cum_pi, mu, rho, sigma, *, n: int, length: int):
    """One scan over time; the carry holds each path's regime and last value. Regime j is
    drawn by counting how many of the cumulative probabilities a uniform exceeds (the last,
    1 up to rounding, is left out so the index stays below k)."""
    k_s, k_e = jax.random.split(key)
    u = jax.random.uniform(k_s, (n, length), jnp.float32)  # (N, L)
    e = jax.random.normal(k_e, (n, length), jnp.float32)  # (N, L)
    s_0 = jnp.sum(u[:, :1] > cum_pi[None, :-1], axis=1)  # (N,)
    x_0 = mu[s_0] + sigma[s_0] / jnp.sqrt(1 - rho[s_0] ** 2) * e[:, 0]

    def step(carry, inputs):
        s, x = carry  # (N,) regime and value at t - 1
        u_t, e_t = inputs  # (N,) each
        s = jnp.sum(u_t[:, None] > cum_P[s, :-1], axis=1)  # (N,)
        x = mu[s] + rho[s] * (x - mu[s]) + sigma[s] * e_t
        return (s, x), (x, s)

    _, (x, s) = jax.lax.scan(step, (s_0, x_0), (u[:, 1:].T, e[:, 1:].T))  # (L - 1, N) each
    x = jnp.concatenate([x_0[:, None], x.T], axis=1)  # (N, L)
    s = jnp.concatenate([s_0[:, None], s.T], axis=1).astype(jnp.float32)  # (N, L)
    return x, s


def _optimal(c: RegimeConfig, formula: str, observed: dict, key) -> Optimal | None:
    """The Hamilton filter, for the regime ``regime[t]`` (a float 0..k-1, so its best
    prediction is the mean index under the filtered probabilities)."""
    if formula != "regime[t]" or c.name not in observed:
        return None
    p = Regime(c)
    probs = hamilton_filter(observed[c.name], p._P, p._mu, p._rho, p._sigma)  # (N, L, k)
    return Optimal("Hamilton filter", probs @ np.arange(probs.shape[-1], dtype=float)[:, None])


PROCESSES.register(
    ProcessFamily(
        kind="regime",
        config=RegimeConfig,
        build=Regime,
        summary="Markov regime-switching AR(1)",
        forms={
            "regime": SpecForm(
                {"P": MAT, "mu": NUMS, "rho": NUMS, "sigma": NUMS, "name": STR},
                ("P", "mu"),
                ("P", "mu"),
            )
        },
        examples=lambda d: {
            "regime": RegimeConfig(P=((0.9, 0.1), (0.2, 0.8)), mu=(-1.0, 1.0), rho=(0.5, 0.3))
        },
        optimal=_optimal,
    )
)
