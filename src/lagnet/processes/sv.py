"""Stochastic volatility: returns whose log-variance is a hidden Gaussian AR(1).

    h_t = mu + phi·(h_{t-1} - mu) + sigma_eta·eta_t,   r_t = exp(h_t / 2)·z_t,

eta, z iid N(0, 1) and independent of each other. Taylor (1986), *Modelling Financial Time
Series*; the form used here is Jacquier, Polson & Rossi (1994), J. Business & Economic
Statistics 12. With |phi| < 1, h is stationary N(mu, sigma_h²), sigma_h² = sigma_eta²/(1 - phi²),
so E[r_t] = 0, Var(r_t) = E[exp(h_t)] = exp(mu + sigma_h²/2), and the returns are uncorrelated
at every lag ≥ 1 (their squares are not).
"""

from __future__ import annotations

from functools import partial
from typing import Literal, final

import jax
import jax.numpy as jnp
import numpy as np
from pydantic import Field

from lagnet.errors import LagnetError
from lagnet.filters import SV_GRID, Optimal, grid_filter, sv_loglik
from lagnet.processes.base import LatentProcess, check_finite, check_sample_shape
from lagnet.processes.family import NUM, PROCESSES, STR, ProcessConfig, ProcessFamily, SpecForm


class SVConfig(ProcessConfig):
    """Stochastic volatility: h_t = mu + phi·(h_{t-1} - mu) + sigma_eta·eta_t,
    r_t = exp(h_t / 2)·z_t. Series ``name`` (observed) and ``h`` (latent log-variance)."""

    kind: Literal["sv"] = "sv"
    mu: float = -1.0
    phi: float = Field(0.95, gt=-1, lt=1)
    sigma_eta: float = Field(0.25, gt=0)
    name: str = "r"


@final
class SV(LatentProcess):
    """Stochastic volatility. Series: ``(config.name, "h")``; only the returns are observed.
    h_0 is drawn from its stationary distribution, so every step is stationary.

    >>> p = SV(SVConfig(mu=-1.0, phi=0.9, sigma_eta=0.3))
    >>> p.sample(jax.random.PRNGKey(0), 3, 7)["h"].shape
    (3, 7)
    """

    latent = "h"

    def __init__(self, config: SVConfig):
        c = config
        for field in ("mu", "phi", "sigma_eta"):
            check_finite(f"process.{field}", getattr(c, field))
        if not abs(c.phi) < 1:
            raise LagnetError("process.phi", c.phi, "must satisfy |phi| < 1 (stationary h)")
        if c.sigma_eta <= 0:
            raise LagnetError("process.sigma_eta", c.sigma_eta, "must be positive")
        self.check_name(c.name)
        self.config = config
        self._var_h = c.sigma_eta**2 / (1 - c.phi**2)

    def sample(self, key: jax.Array, n: int, length: int) -> dict[str, jax.Array]:
        check_sample_shape(n, length)
        c = self.config
        params = np.array([c.mu, c.phi, c.sigma_eta, np.sqrt(self._var_h)], np.float32)
        r, h = _sample(key, params, n=int(n), length=int(length))
        return {c.name: r, "h": h}

    def mean(self) -> float:
        return 0.0

    def variance(self) -> float:
        return float(np.exp(self.config.mu + self._var_h / 2))

    def acf(self, lags: int) -> np.ndarray:
        return np.r_[1.0, np.zeros(lags)]


@partial(jax.jit, static_argnames=("n", "length"))
def _sample(key, params, *, n: int, length: int):
    mu, phi, sigma_eta, sd_h = params
    k_eta, k_z = jax.random.split(key)
    eta = jax.random.normal(k_eta, (n, length), jnp.float32)  # (N, L)
    z = jax.random.normal(k_z, (n, length), jnp.float32)  # (N, L)
    d_0 = sd_h * eta[:, 0]  # h_0 - mu, stationary

    def step(d, eta_t):  # d = h_{t-1} - mu, (N,)
        d = phi * d + sigma_eta * eta_t
        return d, d

    _, d = jax.lax.scan(step, d_0, eta[:, 1:].T)  # (L - 1, N)
    h = mu + jnp.concatenate([d_0[:, None], d.T], axis=1)  # (N, L)
    return jnp.exp(h / 2) * z, h


def _optimal(c: SVConfig, formula: str, observed: dict, key) -> Optimal | None:
    """A point-mass filter on a fine grid, for the log-variance ``h[t]`` (its particle-filter
    cross-check: ``benchmarks/optimal_filters.py``)."""
    if formula != "h[t]" or c.name not in observed:
        return None
    sd_h = c.sigma_eta / np.sqrt(1 - c.phi**2)
    h = grid_filter(observed[c.name], sv_loglik, c.mu, c.phi, c.sigma_eta, sd_h, SV_GRID)
    return Optimal(f"grid filter ({SV_GRID} points)", h[..., None])


PROCESSES.register(
    ProcessFamily(
        kind="sv",
        config=SVConfig,
        build=SV,
        summary="stochastic volatility (log-AR(1) variance)",
        forms={
            "sv": SpecForm(
                {"mu": NUM, "phi": NUM, "sigma_eta": NUM, "name": STR}, ("mu", "phi", "sigma_eta")
            )
        },
        examples=lambda d: {"sv": SVConfig()},
        optimal=_optimal,
    )
)
