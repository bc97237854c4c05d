"""The process interface: a stochastic process simulates a batch of paths from a PRNG key.

Every process is a pure JAX function of its key — ``sample(key, N, L)`` returns
``{series name: (N, L) float32}`` — so it runs inside the jitted training step and fresh data
every step costs almost nothing. Theory (stationary mean, variance, autocorrelation) lives
beside the simulation so tests and reports can hold one against the other.
"""

from __future__ import annotations

import abc
from collections.abc import Hashable

import jax
import numpy as np

from lagnet.errors import LagnetError
from lagnet.processes.family import PROCESSES, ProcessConfig


class Process(abc.ABC):
    """A stochastic process. Implementations are final; change behaviour by composing.

    Construction validates the config (a non-stationary AR part fails here, whichever way the
    config arrived) and precomputes host-side constants, so building one is cheap and
    ``sample`` does no Python-side work beyond tracing.
    """

    config: ProcessConfig

    @property
    @abc.abstractmethod
    def series(self) -> tuple[str, ...]:
        """Names of the series ``sample`` returns, observed ones first."""

    @property
    def observed(self) -> tuple[str, ...]:
        """The series a model may take as inputs. The others are latent (a volatility, a regime,
        a clean signal): targets may use them, inputs may not."""
        return self.series

    @property
    def max_length(self) -> int | None:
        """The longest path ``sample`` can give (observed data is finite); None = no limit."""
        return None

    @property
    def simulated(self) -> bool:
        """True when every ``sample`` is fresh draws; False for observed data, whose test
        paths are windows of the very file the model trained on."""
        return True

    @property
    def identity(self) -> Hashable:
        """Equal for processes that give the same paths from the same key: here, the same
        class built from equal configs. Compiled simulations are shared on it."""
        return (type(self), self.config)

    def part(self, name: str, gap: int = 0) -> Process:
        """The process serving part ``name`` ("train", "val", "test") of a run, ``gap`` steps
        apart where that matters. Every sample of a simulation is fresh, so it serves every
        part itself; observed data serves held-out stretches (:mod:`lagnet.processes.data`)."""
        return self

    def describe_split(self, length: int) -> dict | None:
        """How observed data was split into parts (``metrics.json["data"]``); None here."""
        return None

    @abc.abstractmethod
    def sample(self, key: jax.Array, n: int, length: int) -> dict[str, jax.Array]:
        """``n`` paths of ``length`` steps: ``{name: (N, L) float32}``.

        A pure function of ``key`` (``n`` and ``length`` are static Python ints), so it jits
        inside a larger step. Never touches global random state.
        """

    def arrays(self, length: int) -> tuple:
        """The device arrays that paths of ``length`` steps are drawn from (observed data), a
        tuple; none for a simulation. A compiled program takes them as arguments
        (:meth:`sample_from`), never as constants baked into it: baked in, they were copied
        into every program and its cache entry on disk, and a program kept for its shape
        trained on a file as it was when first compiled."""
        return ()

    def sample_from(self, arrays: tuple, key: jax.Array, n: int, length: int) -> dict:
        """:meth:`sample`, drawing from ``arrays`` (:meth:`arrays`; traced inside a program)."""
        return self.sample(key, n, length)

    # ---- theory: stationary moments, where defined
    def mean(self) -> float:
        """Stationary mean of the observed series."""
        raise NotImplementedError(f"{type(self).__name__} has no closed-form mean")

    def variance(self) -> float:
        """Stationary variance of the observed series."""
        raise NotImplementedError(f"{type(self).__name__} has no closed-form variance")

    def acf(self, lags: int) -> np.ndarray:
        """Theoretical stationary autocorrelation at lags 0..lags, shape (lags + 1,)."""
        raise NotImplementedError(f"{type(self).__name__} has no closed-form autocorrelation")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config!r})"


class LatentProcess(Process):
    """A process with one observed series (``config.name``) and one latent series
    (``latent``: a clean signal, a volatility, a regime) that targets may use and inputs may
    not."""

    latent: str

    def check_name(self, name: str) -> None:
        check_series_name("process.name", name)
        if name == self.latent:
            raise LagnetError(
                "process.name",
                name,
                f"clashes with the latent series '{self.latent}'; choose another name",
            )

    @property
    def series(self) -> tuple[str, ...]:
        return (self.config.name, self.latent)

    @property
    def observed(self) -> tuple[str, ...]:
        return (self.config.name,)


def check_series_name(field: str, name: object) -> None:
    """A series' name is one a formula can read: an identifier (``r``, ``x2``, ``gdp_growth``;
    not ``""`` or ``"r x"``, which no formula can name)."""
    if not (isinstance(name, str) and name.isidentifier()):
        raise LagnetError(
            field, repr(name), "a series name must be an identifier (letters, digits, _)"
        )


def check_sample_shape(n: object, length: object) -> None:
    """``n`` and ``length`` must be positive Python ints (they fix array shapes under jit)."""
    for field, value in (("n", n), ("length", length)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise LagnetError(field, value, "must be a positive int")


def check_finite(field: str, values: object) -> None:
    """Refuse NaN and infinities; pydantic lets them through for plain float fields."""
    if not np.all(np.isfinite(np.asarray(values, dtype=float))):
        shown = list(values) if isinstance(values, tuple) else values
        raise LagnetError(field, shown, "must be finite")


def build_process(cfg: ProcessConfig) -> Process:
    """The process a config describes; validates it (e.g. stationarity) on the way.

    >>> build_process(process_config({"kind": "arma", "ar": [0.1]})).sample(
    ...     jax.random.PRNGKey(0), 4, 10)["x"].shape
    (4, 10)
    """
    if not isinstance(cfg, ProcessConfig):
        raise LagnetError("process", cfg, "not a process config")
    return PROCESSES.get(cfg.kind).build(cfg)
