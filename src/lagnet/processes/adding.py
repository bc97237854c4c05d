"""The adding problem's inputs (Hochreiter & Schmidhuber 1997, "Long short-term memory",
Neural Computation 9(8), experiment 4): values and markers.

    v_t ~ U[0, 1] iid,   m_t ∈ {0, 1},   Σ_t m_t = markers,

the ``markers`` ones at distinct positions drawn uniformly from the first ``span`` steps of each
path. The classic target is the sum of the marked values, read at the end of the sequence; the
per-step form lagnet trains on is the running sum ``s[t] = s[t-1] + v[t]*m[t]``, which equals the
classic target from the last marker on and needs memory back to the first marker (up to
``span`` steps).
"""

from __future__ import annotations

from typing import Literal, final

import jax
import jax.numpy as jnp
import numpy as np
from pydantic import Field

from lagnet.errors import LagnetError
from lagnet.processes.base import Process, check_sample_shape
from lagnet.processes.family import NUM, PROCESSES, ProcessConfig, ProcessFamily, SpecForm


class AddingConfig(ProcessConfig):
    """The adding problem's inputs (Hochreiter & Schmidhuber 1997): values v_t ~ U[0, 1] and
    markers m_t, exactly ``markers`` ones at distinct positions among the first ``span`` steps."""

    kind: Literal["adding"] = "adding"
    markers: int = Field(2, gt=0)
    span: int = Field(50, gt=0)


@final
class Adding(Process):
    """Series ``v`` (values) and ``m`` (markers), both observed.

    >>> p = Adding(AddingConfig(markers=2, span=50))
    >>> s = p.sample(jax.random.PRNGKey(0), 3, 100)
    >>> [float(m) for m in s["m"].sum(axis=1)]
    [2.0, 2.0, 2.0]
    """

    def __init__(self, config: AddingConfig):
        if config.markers > config.span:
            raise LagnetError(
                "process.markers",
                config.markers,
                f"cannot place more markers than span ({config.span}) positions",
            )
        self.config = config

    @property
    def series(self) -> tuple[str, ...]:
        return ("v", "m")

    def sample(self, key: jax.Array, n: int, length: int) -> dict[str, jax.Array]:
        check_sample_shape(n, length)
        span = self.config.span
        if length < span:
            raise LagnetError("length", length, f"must be at least the marker span ({span})")
        k_v, k_m = jax.random.split(key)
        v = jax.random.uniform(k_v, (n, length), jnp.float32)
        # distinct positions: the `markers` smallest of span iid uniforms, per path
        order = jnp.argsort(jax.random.uniform(k_m, (n, span)), axis=1)[:, : self.config.markers]
        m = jnp.zeros((n, length), jnp.float32)
        m = m.at[jnp.arange(n)[:, None], order].set(1.0)  # (N, L)
        return {"v": v, "m": m}

    def mean(self) -> float:
        return 0.5

    def variance(self) -> float:
        return 1.0 / 12.0

    def acf(self, lags: int) -> np.ndarray:
        out = np.zeros(lags + 1)
        out[0] = 1.0
        return out


PROCESSES.register(
    ProcessFamily(
        kind="adding",
        config=AddingConfig,
        build=Adding,
        summary="the adding problem's inputs",
        forms={"adding": SpecForm({"markers": NUM, "span": NUM}, ("markers", "span"))},
        examples=lambda d: {"adding": AddingConfig(markers=2, span=5)},
    )
)
