"""A latent AR(1) or random walk observed through measurement noise: a filtering task.

    s_t = rho·s_{t-1} + sigma·e_t,   s_0 = 0,        (latent)
    x_t = s_t + noise·v_t,                          (observed)

e, v iid N(0, 1). The local-level model (rho = 1) and the AR(1)-plus-noise model of Harvey
(1989), *Forecasting, Structural Time Series Models and the Kalman Filter*, §2.3 and §4.1; the
best predictor of s_t from x_0..x_t is the Kalman filter, which makes a natural baseline for what
a sequence model learns from x about s. rho = 1 is allowed here: the task is to track s, not to
be stationary. For |rho| < 1 the paths approach the stationary law Var(s) = sigma²/(1 - rho²),
Var(x) = Var(s) + noise², which ``variance`` and ``acf`` give.
"""

from __future__ import annotations

from functools import partial
from typing import Literal, final

import jax
import jax.numpy as jnp
import numpy as np
from pydantic import Field

from lagnet.errors import LagnetError
from lagnet.filters import Optimal, kalman_filter
from lagnet.processes.base import LatentProcess, check_finite, check_sample_shape
from lagnet.processes.family import NUM, PROCESSES, STR, ProcessConfig, ProcessFamily, SpecForm


class NoisyConfig(ProcessConfig):
    """A latent AR(1) or random walk seen through noise: s_t = rho·s_{t-1} + sigma·e_t, s_0 = 0,
    x_t = s_t + noise·v_t. Series ``name`` (observed) and ``s`` (latent)."""

    kind: Literal["noisy"] = "noisy"
    rho: float = Field(1.0, ge=-1, le=1)
    sigma: float = Field(1.0, gt=0)
    noise: float = Field(1.0, ge=0)
    name: str = "x"


@final
class Noisy(LatentProcess):
    """Signal plus noise. Series: ``(config.name, "s")``; only x is observed. Every path starts
    with s_0 = 0, so x_0 = noise·v_0; Var(s_t) = sigma²·t for a random walk.

    >>> p = Noisy(NoisyConfig(rho=1.0, sigma=0.1, noise=1.0))
    >>> sorted(p.sample(jax.random.PRNGKey(0), 3, 7)), p.observed
    (['s', 'x'], ('x',))
    """

    latent = "s"

    def __init__(self, config: NoisyConfig):
        c = config
        for field in ("rho", "sigma", "noise"):
            check_finite(f"process.{field}", getattr(c, field))
        if not abs(c.rho) <= 1:
            raise LagnetError("process.rho", c.rho, "must satisfy |rho| ≤ 1")
        if c.sigma <= 0:
            raise LagnetError("process.sigma", c.sigma, "must be positive")
        if c.noise < 0:
            raise LagnetError("process.noise", c.noise, "must be non-negative")
        self.check_name(c.name)
        self.config = config

    def sample(self, key: jax.Array, n: int, length: int) -> dict[str, jax.Array]:
        check_sample_shape(n, length)
        c = self.config
        x, s = _sample(
            key, np.array([c.rho, c.sigma, c.noise], np.float32), n=int(n), length=int(length)
        )
        return {c.name: x, "s": s}

    def mean(self) -> float:
        return 0.0

    def variance(self) -> float:
        """The stationary (t → ∞) variance of x; there is none for |rho| = 1."""
        c = self.config
        if abs(c.rho) == 1:
            raise NotImplementedError("a random walk has no stationary variance")
        return c.sigma**2 / (1 - c.rho**2) + c.noise**2

    def acf(self, lags: int) -> np.ndarray:
        """Stationary autocorrelation of x: rho^k·Var(s)/Var(x) for k ≥ 1."""
        c = self.config
        share = (self.variance() - c.noise**2) / self.variance()
        return np.r_[1.0, share * c.rho ** np.arange(1, lags + 1)]


@partial(jax.jit, static_argnames=("n", "length"))
def _sample(key, params, *, n: int, length: int):
    rho, sigma, noise = params
    k_e, k_v = jax.random.split(key)
    e = sigma * jax.random.normal(k_e, (n, length), jnp.float32)  # (N, L)
    e = e.at[:, 0].set(0.0)  # s_0 = 0

    def step(s, e_t):  # (N,)
        s = rho * s + e_t
        return s, s

    _, s = jax.lax.scan(step, jnp.zeros((n,), jnp.float32), e.T)  # (L, N)
    s = s.T  # (N, L)
    return s + noise * jax.random.normal(k_v, (n, length), jnp.float32), s


def _optimal(c: NoisyConfig, formula: str, observed: dict, key) -> Optimal | None:
    """The Kalman filter, for the latent signal ``s[t]``."""
    if formula != "s[t]" or c.name not in observed:
        return None
    return Optimal(
        "Kalman filter", kalman_filter(observed[c.name], c.rho, c.sigma, c.noise)[..., None]
    )


PROCESSES.register(
    ProcessFamily(
        kind="noisy",
        config=NoisyConfig,
        build=Noisy,
        summary="a latent AR(1) or random walk seen through noise",
        forms={
            "noisy": SpecForm(
                {"rho": NUM, "sigma": NUM, "noise": NUM, "name": STR}, ("rho", "sigma", "noise")
            )
        },
        examples=lambda d: {"noisy": NoisyConfig(rho=0.9)},
        optimal=_optimal,
    )
)
