"""A user's own simulator as a process: ``CallableProcess(fn, series=[...])``. Python API only.

``fn(key, n_paths, length) -> {name: (n_paths, length) array}``.

* ``jax=True``: ``fn`` is written in JAX and is traced into the jitted training step, like the
  built-in processes; ``key`` is a JAX PRNG key.
* ``jax=False``: ``fn`` runs on the host (NumPy, SciPy, anything) through ``jax.pure_callback``,
  so the step still jits; its first argument is then a ``numpy.random.Generator`` seeded from
  the key's bits, so the same key gives the same paths. Every step waits for the host.

What ``fn`` returns is checked each time it runs on concrete values (always for ``jax=False``;
for ``jax=True`` outside ``jit``, which is how a run draws its first, pilot sample): exactly the
declared names, shape (n_paths, length), real numbers, finite. Under ``jit`` a JAX ``fn`` can
only be checked for names and shapes.

A run records the process as ``CustomConfig(fn=<qualified name>, series, observed, jax)``: the
config file says honestly what was used, but a custom process cannot be rebuilt from it.

>>> def ar1(key, n, length):
...     e = jax.random.normal(key, (n, length))
...     x = jax.lax.scan(lambda s, e_t: (0.5 * s + e_t,) * 2, jnp.zeros(n), e.T)[1].T
...     return {"x": x}
>>> proc = CallableProcess(ar1, series=["x"])
>>> lagnet.train(process=proc, target="x[t-1]", steps=50)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Literal, final

import jax
import jax.numpy as jnp
import numpy as np

from lagnet.errors import LagnetError
from lagnet.processes.base import Process, check_sample_shape
from lagnet.processes.family import PROCESSES, ProcessConfig, ProcessFamily


class CustomConfig(ProcessConfig):
    """A record of a user's own simulator (``CallableProcess``), which lives in Python only: a
    run config with it can be read back but not rebuilt from the file."""

    kind: Literal["custom"] = "custom"
    fn: str
    series: tuple[str, ...]
    observed: tuple[str, ...]
    jax: bool = True


@final
class CallableProcess(Process):
    """Paths from ``fn``. ``series``: the names it returns (the order of ``sample``'s dict);
    ``observed``: the ones a model may see (None = all); ``jax``: traced (True) or run on the
    host through a callback (False)."""

    def __init__(
        self,
        fn: Callable[..., dict],
        series: Iterable[str],
        observed: Iterable[str] | None = None,
        jax: bool = True,
    ):
        if not callable(fn):
            raise LagnetError(
                "fn",
                repr(fn),
                "must be callable: fn(key, n_paths, length) -> {name: (n_paths, length) array}",
            )
        if isinstance(series, str):
            raise LagnetError("series", series, "must be a list of names, e.g. ['x']")
        series = tuple(series)
        if not series:
            raise LagnetError("series", [], "name at least one series")
        for name in series:
            if not (isinstance(name, str) and name.isidentifier()):
                raise LagnetError("series", name, "a series name must be an identifier")
        if len(set(series)) != len(series):
            raise LagnetError("series", list(series), "names must be distinct")
        observed = series if observed is None else tuple(observed)
        for name in observed:
            if name not in series:
                raise LagnetError("observed", name, f"not in series ({', '.join(series)})")
        if not observed:
            raise LagnetError("observed", [], "at least one series must be observed")
        if not isinstance(jax, bool):
            raise LagnetError("jax", jax, "must be True or False")
        self._fn = fn
        self._series = series
        self._observed = tuple(s for s in series if s in observed)
        self.config = CustomConfig(
            fn=_qualname(fn), series=series, observed=self._observed, jax=jax
        )

    @property
    def identity(self) -> CallableProcess:
        # Its config names the function but cannot tell two functions of one name apart.
        return self

    @property
    def series(self) -> tuple[str, ...]:
        return self._series

    @property
    def observed(self) -> tuple[str, ...]:
        return self._observed

    def sample(self, key: jax.Array, n: int, length: int) -> dict[str, jax.Array]:
        check_sample_shape(n, length)
        n, length = int(n), int(length)
        if self.config.jax:
            out = self._fn(key, n, length)
            concrete = not any(isinstance(v, jax.core.Tracer) for v in _values(out))
            checked = self._check(out, n, length, finite=concrete)
            return {k: jnp.asarray(v, jnp.float32) for k, v in checked.items()}
        if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
            key = jax.random.key_data(key)
        if not isinstance(key, jax.core.Tracer):  # eager: call directly, errors stay LagnetError
            return {k: jnp.asarray(v) for k, v in self._host(np.asarray(key), n, length).items()}
        shapes = {s: jax.ShapeDtypeStruct((n, length), jnp.float32) for s in self._series}
        return jax.pure_callback(
            lambda k: self._host(np.asarray(k), n, length), shapes, key, vmap_method="sequential"
        )

    def _host(self, key_bits: np.ndarray, n: int, length: int) -> dict[str, np.ndarray]:
        rng = np.random.default_rng(key_bits.astype(np.uint32).ravel())
        out = self._check(self._fn(rng, n, length), n, length, finite=True)
        return {k: np.asarray(v, np.float32) for k, v in out.items()}

    def _check(self, out: Any, n: int, length: int, finite: bool) -> dict[str, Any]:
        """``out`` in the declared order, or a LagnetError naming what is wrong."""
        field = f"process ({self.config.fn})"
        if not isinstance(out, dict):
            raise LagnetError(
                field, type(out).__name__, "fn must return a dict {name: (n_paths, length) array}"
            )
        if set(out) != set(self._series):
            raise LagnetError(
                field,
                sorted(map(str, out)),
                f"fn returned these series; declared: {list(self._series)}",
            )
        for name in self._series:
            v = out[name]
            shape = tuple(np.shape(v))
            dtype = v.dtype if hasattr(v, "dtype") else np.asarray(v).dtype
            if shape != (n, length):
                raise LagnetError(
                    f"{field}.{name}",
                    f"shape {shape}",
                    f"expected (n_paths, length) = ({n}, {length})",
                )
            if np.dtype(dtype).kind not in "biuf":
                raise LagnetError(f"{field}.{name}", str(dtype), "expected real numbers")
            if finite:
                bad = np.argwhere(~np.isfinite(np.asarray(v, np.float64)))
                if len(bad):
                    p, t = (int(i) for i in bad[0])
                    raise LagnetError(f"{field}.{name}", f"path {p}, step {t}", "NaN or infinite")
        return {name: out[name] for name in self._series}


def _values(out: Any) -> list:
    return list(out.values()) if isinstance(out, dict) else [out]


def _qualname(fn: Callable) -> str:
    module = getattr(fn, "__module__", None) or ""
    name = getattr(fn, "__qualname__", None) or type(fn).__name__
    return f"{module}.{name}" if module else name


def _refuse(cfg: CustomConfig) -> Process:
    raise LagnetError(
        "process",
        f"custom ({cfg.fn})",
        "a user's simulator lives in Python, not in a config file: pass the "
        "CallableProcess itself, lagnet.train(process=CallableProcess(...))",
    )


def _ar1(key, n, length):
    """A JAX AR(1) with ρ = 0.5: the contract suite's user simulator."""
    e = jax.random.normal(key, (n, length))
    x = jax.lax.scan(lambda s, e_t: (0.5 * s + e_t,) * 2, jnp.zeros(n), e.T)[1].T
    return {"x": x, "e": e}


def _ar1_host(rng, n, length):
    """The same on the host (NumPy), through a callback."""
    e = rng.standard_normal((n, length))
    x = np.zeros_like(e)
    for t in range(length):
        x[:, t] = (0.5 * x[:, t - 1] if t else 0.0) + e[:, t]
    return {"x": x, "e": e}


PROCESSES.register(
    ProcessFamily(
        kind="custom",
        config=CustomConfig,
        build=_refuse,
        summary="a user's simulator (Python only: CallableProcess)",
        examples=lambda d: {
            "custom_jax": CallableProcess(_ar1, series=["x", "e"], observed=["x"]),
            "custom_host": CallableProcess(_ar1_host, series=["x", "e"], jax=False),
        },
    )
)
