"""Independent, identically distributed draws: normal, uniform or Student-t."""

from __future__ import annotations

from functools import partial
from typing import Literal, final

import jax
import jax.numpy as jnp
import numpy as np
from pydantic import Field

from lagnet.errors import LagnetError
from lagnet.processes.base import Process, check_finite, check_sample_shape, check_series_name
from lagnet.processes.family import NUM, PROCESSES, STR, ProcessConfig, ProcessFamily, SpecForm


class IIDConfig(ProcessConfig):
    """Independent draws: normal(loc, scale), uniform(low, high) or student_t(df, loc, scale)."""

    kind: Literal["iid"] = "iid"
    dist: Literal["normal", "uniform", "student_t"] = "normal"
    loc: float = 0.0
    scale: float = Field(1.0, gt=0)
    low: float = 0.0
    high: float = 1.0
    df: float = Field(5.0, gt=0)
    name: str = "x"


@final
class IID(Process):
    """x_t drawn independently: ``normal`` loc + scale·N(0, 1); ``uniform`` U(low, high);
    ``student_t`` loc + scale·t(df). Series: ``(config.name,)``.

    >>> IID(IIDConfig(dist="uniform", low=0, high=0.5)).sample(jax.random.PRNGKey(0), 2, 5)["x"].shape
    (2, 5)
    """

    def __init__(self, config: IIDConfig):
        check_series_name("process.name", config.name)
        for field in ("loc", "scale", "low", "high", "df"):
            check_finite(f"process.{field}", getattr(config, field))
        if config.dist == "uniform" and config.high <= config.low:
            raise LagnetError(
                "process.high", config.high, f"must be greater than process.low = {config.low}"
            )
        self.config = config

    @property
    def series(self) -> tuple[str, ...]:
        return (self.config.name,)

    def sample(self, key: jax.Array, n: int, length: int) -> dict[str, jax.Array]:
        check_sample_shape(n, length)
        c = self.config
        x = _sample(
            key,
            np.float32(c.loc),
            np.float32(c.scale),
            np.float32(c.low),
            np.float32(c.high),
            np.float32(c.df),
            dist=c.dist,
            n=int(n),
            length=int(length),
        )
        return {c.name: x}

    def mean(self) -> float:
        c = self.config
        if c.dist == "uniform":
            return (c.low + c.high) / 2
        if c.dist == "student_t" and c.df <= 1:
            return float("nan")  # the mean of t(df ≤ 1) does not exist
        return float(c.loc)

    def variance(self) -> float:
        c = self.config
        if c.dist == "uniform":
            return (c.high - c.low) ** 2 / 12
        if c.dist == "student_t":
            return c.df / (c.df - 2) * c.scale**2 if c.df > 2 else float("inf")
        return float(c.scale**2)

    def acf(self, lags: int) -> np.ndarray:
        return np.r_[1.0, np.zeros(lags)]


@partial(jax.jit, static_argnames=("dist", "n", "length"))
def _sample(key, loc, scale, low, high, df, *, dist: str, n: int, length: int):
    shape = (n, length)
    if dist == "uniform":
        return jax.random.uniform(key, shape, jnp.float32, minval=low, maxval=high)  # (N, L)
    if dist == "student_t":
        return loc + scale * jax.random.t(key, df, shape, jnp.float32)
    return loc + scale * jax.random.normal(key, shape, jnp.float32)


PROCESSES.register(
    ProcessFamily(
        kind="iid",
        config=IIDConfig,
        build=IID,
        summary="independent normal, uniform or Student-t draws",
        forms={
            "iid": SpecForm(
                {
                    "dist": STR,
                    "loc": NUM,
                    "scale": NUM,
                    "low": NUM,
                    "high": NUM,
                    "df": NUM,
                    "name": STR,
                },
                ("dist",),
            ),
            "normal": SpecForm(
                {"loc": NUM, "scale": NUM, "name": STR},
                ("loc", "scale"),
                make=lambda kw: IIDConfig(dist="normal", **kw),
            ),
            "uniform": SpecForm(
                {"low": NUM, "high": NUM, "name": STR},
                ("low", "high"),
                make=lambda kw: IIDConfig(dist="uniform", **kw),
            ),
            "student_t": SpecForm(
                {"df": NUM, "loc": NUM, "scale": NUM, "name": STR},
                ("df", "loc", "scale"),
                make=lambda kw: IIDConfig(dist="student_t", **kw),
            ),
        },
        examples=lambda d: {
            "normal": IIDConfig(),
            "uniform": IIDConfig(dist="uniform", high=0.5),
            "student_t": IIDConfig(dist="student_t", df=5.0),
        },
    )
)
