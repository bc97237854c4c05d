"""Ornstein–Uhlenbeck process, sampled on a grid of step ``dt`` without discretisation error.

    dX = theta·(mu - X)·dt + sigma·dW

Its transition over dt is Gaussian (Uhlenbeck & Ornstein 1930, Phys. Rev. 36; Gillespie 1996,
Phys. Rev. E 54, "Exact numerical simulation of the Ornstein-Uhlenbeck process"):

    X_{t+1} = mu + (X_t - mu)·a + sigma·sqrt((1 - a²) / (2·theta))·eps_t,   a = exp(-theta·dt),

an AR(1) in disguise. Stationary law N(mu, sigma²/(2·theta)); autocorrelation a^k at lag k.
"""

from __future__ import annotations

from functools import partial
from typing import Literal, Optional, final

import jax
import jax.numpy as jnp
import numpy as np
from pydantic import Field

from lagnet.errors import LagnetError
from lagnet.processes.base import Process, check_finite, check_sample_shape, check_series_name
from lagnet.processes.family import NUM, PROCESSES, STR, ProcessConfig, ProcessFamily, SpecForm


class OUConfig(ProcessConfig):
    """Ornstein–Uhlenbeck dX = theta·(mu - X)·dt + sigma·dW, sampled every ``dt``.
    ``init="zero"`` starts at ``x0`` (None = mu); ``"stationary"`` draws X_0 from
    N(mu, sigma²/(2·theta))."""

    kind: Literal["ou"] = "ou"
    theta: float = Field(1.0, gt=0)
    mu: float = 0.0
    sigma: float = Field(1.0, gt=0)
    dt: float = Field(0.1, gt=0)
    x0: Optional[float] = None
    init: Literal["zero", "stationary"] = "zero"
    name: str = "x"


@final
class OU(Process):
    """Ornstein–Uhlenbeck. Series: ``(config.name,)``.

    ``init="zero"``: X_0 = ``x0`` (None = mu) on every path. ``init="stationary"``: X_0 drawn
    from N(mu, sigma²/(2·theta)), so every step is stationary.

    >>> p = OU(OUConfig(theta=2.0, sigma=0.5, dt=0.1, init="stationary"))
    >>> round(p.variance(), 4), p.sample(jax.random.PRNGKey(0), 3, 7)["x"].shape
    (0.0625, (3, 7))
    """

    def __init__(self, config: OUConfig):
        c = config
        check_series_name("process.name", c.name)
        for field in ("theta", "mu", "sigma", "dt", "x0"):
            if getattr(c, field) is not None:
                check_finite(f"process.{field}", getattr(c, field))
        for field in ("theta", "sigma", "dt"):
            if getattr(c, field) <= 0:
                raise LagnetError(f"process.{field}", getattr(c, field), "must be positive")
        if c.x0 is not None and c.init == "stationary":
            raise LagnetError("process.x0", c.x0, 'a fixed start needs init="zero"')
        self.config = config
        self._a = float(np.exp(-c.theta * c.dt))
        # -expm1 keeps 1 - a² accurate when theta·dt is tiny.
        self._step_sd = c.sigma * float(np.sqrt(-np.expm1(-2 * c.theta * c.dt) / (2 * c.theta)))

    @property
    def series(self) -> tuple[str, ...]:
        return (self.config.name,)

    def sample(self, key: jax.Array, n: int, length: int) -> dict[str, jax.Array]:
        check_sample_shape(n, length)
        c = self.config
        x0 = c.mu if c.x0 is None else c.x0
        params = np.array([c.mu, self._a, self._step_sd, np.sqrt(self.variance()), x0], np.float32)
        x = _sample(key, params, stationary=c.init == "stationary", n=int(n), length=int(length))
        return {c.name: x}

    def mean(self) -> float:
        return float(self.config.mu)

    def variance(self) -> float:
        return self.config.sigma**2 / (2 * self.config.theta)

    def acf(self, lags: int) -> np.ndarray:
        return self._a ** np.arange(lags + 1)


@partial(jax.jit, static_argnames=("stationary", "n", "length"))
def _sample(key, params, *, stationary: bool, n: int, length: int):
    mu, a, step_sd, sd, x0 = params
    eps = jax.random.normal(key, (n, length), jnp.float32)  # (N, L)
    d_0 = sd * eps[:, 0] if stationary else jnp.full((n,), x0 - mu, jnp.float32)  # X_0 - mu

    def step(d, eps_t):  # d = X_{t-1} - mu, (N,)
        d = a * d + step_sd * eps_t
        return d, d

    _, d = jax.lax.scan(step, d_0, eps[:, 1:].T)  # (L - 1, N)
    return mu + jnp.concatenate([d_0[:, None], d.T], axis=1)  # (N, L)


PROCESSES.register(
    ProcessFamily(
        kind="ou",
        config=OUConfig,
        build=OU,
        summary="Ornstein–Uhlenbeck, sampled every dt",
        forms={
            "ou": SpecForm(
                {
                    "theta": NUM,
                    "mu": NUM,
                    "sigma": NUM,
                    "dt": NUM,
                    "x0": NUM,
                    "init": STR,
                    "name": STR,
                },
                ("theta", "mu", "sigma"),
            )
        },
        examples=lambda d: {"ou": OUConfig(), "ou_stationary": OUConfig(init="stationary")},
    )
)
