"""NARMA: a nonlinear autoregressive moving-average system driven by i.i.d. uniform input.

The input u_t ~ U[low, high] is observed; the output y_t is latent (a target may use it, a model
may not see it). Two conventions are in use and they differ by one step:

``convention="standard"`` (Atiya & Parlos 2000, IEEE Trans. Neural Networks 11(3), 697–709):

    y(t+1) = a·y(t) + b·y(t)·Σ_{i=0}^{order-1} y(t-i) + c·u(t-order+1)·u(t) + d

defaults a = 0.3, b = 0.05, c = 1.5, d = 0.1; every path starts at rest: y(t) = u(t) = 0 for
t < 0, and the equation holds from t = -1 on, so y(0) = d.

``convention="reservoirpy"`` (``reservoirpy.datasets.narma``, the NARMA of Schrauwen et al. 2008):

    y[t+1] = a·y[t] + b·y[t]·Σ_{j=t-order}^{t-1} y[j] + c·u[t-order]·u[t] + d,   t ≥ order

(the sum leaves out y[t] and takes y[t-order]; the product takes u[t-order], not u[t-order+1]),
defaults a = 0.2, b = 0.04, c = 1.5, d = 0.001 and y[0..order] = 0. reservoirpy draws
``order`` extra inputs as a warm-up and returns y from index ``order`` on; ``sample`` does the
same and returns the last L steps of both u and y, the pairing reservoirpy's own example trains
on (``u[order:]`` with ``y``).

Both explode for some inputs: once y leaves the basin of its equilibrium the quadratic term runs
away. A path whose |y| exceeds ``bound`` or stops being finite is redrawn with fresh input, up to
``ATTEMPTS`` times, inside the jitted sample; ``diverged_count`` says how often that happened.
Coefficients without an equilibrium are refused at construction (see ``_check_equilibrium``).

>>> p = NARMA(NARMAConfig(order=10))
>>> out = p.sample(jax.random.PRNGKey(0), 4, 200)
>>> out["u"].shape, out["y"].shape
((4, 200), (4, 200))
"""

from __future__ import annotations

from functools import partial
from typing import Literal, NamedTuple, Optional, final

import jax
import jax.numpy as jnp
import numpy as np
from pydantic import Field

from lagnet.errors import LagnetError
from lagnet.processes.base import Process, check_finite, check_sample_shape
from lagnet.processes.family import NUM, PROCESSES, STR, ProcessConfig, ProcessFamily, SpecForm

DEFAULTS = {
    "standard": dict(a=0.3, b=0.05, c=1.5, d=0.1),
    "reservoirpy": dict(a=0.2, b=0.04, c=1.5, d=0.001),
}
ATTEMPTS = 20  # redraws of a diverged path before it is given back as it is (and counted)


class Divergence(NamedTuple):
    """Of ``paths`` drawn, ``resampled`` diverged on their first input and were redrawn;
    ``unresolved`` still diverged after ``ATTEMPTS`` redraws and were returned as they are."""

    paths: int
    resampled: int
    unresolved: int


class NARMAConfig(ProcessConfig):
    """NARMA(order) driven by u_t ~ U[low, high]. ``convention="standard"`` (Atiya & Parlos 2000):
    y(t+1) = a·y(t) + b·y(t)·Σ_{i=0}^{order-1} y(t-i) + c·u(t-order+1)·u(t) + d;
    ``"reservoirpy"``: the variant of ``reservoirpy.datasets.narma`` (one step off). a, b, c, d
    None = the convention's defaults. A path with |y| > ``bound`` is redrawn. Series ``u``
    (observed) and ``y`` (latent)."""

    kind: Literal["narma"] = "narma"
    order: int = Field(10, gt=0, le=1000)
    convention: Literal["standard", "reservoirpy"] = "standard"
    low: float = 0.0
    high: float = 0.5
    a: Optional[float] = None
    b: Optional[float] = None
    c: Optional[float] = None
    d: Optional[float] = None
    bound: float = Field(10.0, gt=0)


@final
class NARMA(Process):
    """NARMA(order) of either convention. Series ``("u", "y")``; only ``u`` is observed."""

    def __init__(self, config: NARMAConfig):
        for field in ("low", "high", "bound", "a", "b", "c", "d"):
            if getattr(config, field) is not None:
                check_finite(f"process.{field}", getattr(config, field))
        if config.high <= config.low:
            raise LagnetError(
                "process.high", config.high, f"must be greater than process.low = {config.low}"
            )
        defaults = DEFAULTS[config.convention]
        self.coefs = {
            k: defaults[k] if getattr(config, k) is None else float(getattr(config, k))
            for k in "abcd"
        }
        self.config = config
        _check_equilibrium(config, self.coefs)

    @property
    def series(self) -> tuple[str, ...]:
        return ("u", "y")

    @property
    def observed(self) -> tuple[str, ...]:
        return ("u",)

    def sample(self, key: jax.Array, n: int, length: int) -> dict[str, jax.Array]:
        u, y, _, _ = self._draw(key, n, length)
        return {"u": u, "y": y}

    def diverged_count(self, key: jax.Array, n: int, length: int) -> Divergence:
        """How many of the ``n`` paths ``sample(key, n, length)`` draws had to be redrawn, and
        how many were still diverged after ``ATTEMPTS`` redraws. Host-side (returns ints)."""
        _, _, resampled, unresolved = self._draw(key, n, length)
        return Divergence(int(n), int(resampled), int(unresolved))

    def sample_given(self, u) -> dict[str, jax.Array]:
        """The recursion on a given input ``u`` (N, L), pre-sample values 0, no warm-up dropped
        and no divergence guard: ``{"u": u, "y": y}``. Runs in float64 under
        ``jax.enable_x64(True)`` when ``u`` is float64, in float32 otherwise."""
        u = jnp.asarray(u)
        if u.ndim != 2:
            raise LagnetError("u", f"shape {u.shape}", "expected (N, L)")
        if not jnp.issubdtype(u.dtype, jnp.floating):
            u = u.astype(jnp.float32)
        c = self.coefs
        coefs = jnp.asarray([c["a"], c["b"], c["c"], c["d"]], u.dtype)
        return {
            "u": u,
            "y": _recursion_jit(
                u,
                coefs,
                order=self.config.order,
                reservoirpy=self.config.convention == "reservoirpy",
            ),
        }

    def _draw(self, key, n, length):
        check_sample_shape(n, length)
        cfg, c = self.config, self.coefs
        coefs = np.asarray([c["a"], c["b"], c["c"], c["d"]], np.float32)
        return _sample(
            key,
            coefs,
            np.float32(cfg.low),
            np.float32(cfg.high),
            np.float32(cfg.bound),
            n=int(n),
            length=int(length),
            order=cfg.order,
            reservoirpy=cfg.convention == "reservoirpy",
        )


def _check_equilibrium(cfg: NARMAConfig, coefs: dict[str, float]) -> None:
    """Refuse coefficients for which every path diverges.

    Replace y by a constant y* and the input product by its mean m = E[u]² (the two factors
    are independent): y* = a·y* + b·order·y*² + c·m + d. With b > 0 and no real root there is
    no equilibrium to return to. Measured (standard convention, 1000 paths of 500 steps,
    order 30): b = 0.015 → 0 diverged, b = 0.02 (a root, barely) → 12 %, b ≥ 0.025 (no root)
    → 100 %. The standard coefficients have no root from order 13 on, so NARMA-20/30 need a
    smaller b.
    """
    a, b, c, d = (coefs[k] for k in "abcd")
    m = ((cfg.low + cfg.high) / 2) ** 2
    if cfg.convention == "standard" and cfg.order == 1:  # u(t-order+1)·u(t) = u(t)²
        m += (cfg.high - cfg.low) ** 2 / 12
    q = b * cfg.order
    if q > 0 and (a - 1) ** 2 - 4 * q * (c * m + d) < 0:
        field = "process.b" if cfg.b is not None else "process.order"
        value = cfg.b if cfg.b is not None else cfg.order
        b_max = (a - 1) ** 2 / (4 * cfg.order * (c * m + d))
        raise LagnetError(
            field,
            value,
            f"every NARMA path diverges with a={a}, b={b}, c={c}, d={d} at order "
            f"{cfg.order}: y = a·y + b·order·y² + c·E[u]² + d has no equilibrium; "
            f"choose b < {b_max:.3g}",
        )


def _recursion(u: jax.Array, coefs: jax.Array, *, order: int, reservoirpy: bool) -> jax.Array:
    """y (N, L) from u (N, L): one scan over t = -1 .. L-2, the last order+1 outputs in the
    carry. Both conventions are y_{t+1} = a·y_t + b·y_t·S_t + c·p_t + d with
      standard:    S_t = y_{t-order+1} + … + y_t,   p_t = u_{t-order+1}·u_t
      reservoirpy: S_t = y_{t-order} + … + y_{t-1}, p_t = u_{t-order}·u_t,
                   and y_{t+1} = 0 for t < order
    """
    a, b, c, d = coefs
    n, length = u.shape
    lag = order if reservoirpy else order - 1
    u_lag = jnp.pad(u, ((0, 0), (lag, 0)))[:, :length]  # (N, L) u_{t-lag}, 0 before the start
    p = jnp.pad(u_lag * u, ((0, 0), (1, 0)))[:, :length]  # (N, L) p_{t} for t = -1 .. L-2
    ts = jnp.arange(-1, length - 1)

    def step(buf, inp):  # buf (N, order+1) = y_{t-order} .. y_t
        p_t, t = inp
        y_t = buf[:, -1]
        s = jnp.sum(buf[:, :-1] if reservoirpy else buf[:, 1:], axis=1)
        y_next = a * y_t + b * y_t * s + c * p_t + d
        if reservoirpy:
            y_next = jnp.where(t >= order, y_next, 0.0)
        return jnp.concatenate([buf[:, 1:], y_next[:, None]], axis=1), y_next

    _, y = jax.lax.scan(step, jnp.zeros((n, order + 1), u.dtype), (p.T, ts))  # (L, N)
    return y.T  # (N, L)


_recursion_jit = jax.jit(_recursion, static_argnames=("order", "reservoirpy"))


@partial(jax.jit, static_argnames=("n", "length", "order", "reservoirpy"))
def _sample(key, coefs, low, high, bound, *, n: int, length: int, order: int, reservoirpy: bool):
    """Paths with the divergence guard, in one while loop: draw i uses ``fold_in(key, i)`` and
    replaces the paths still diverged. Draw 0 fills every path, so a path that stays below the
    bound is the same path with or without the guard; at most ATTEMPTS redraws follow, and none
    when nothing diverged. (One loop, not a first draw before it: the recursion compiles once.)"""
    warm = order if reservoirpy else 0

    def draw(k):
        u = jax.random.uniform(k, (n, length + warm), jnp.float32, minval=low, maxval=high)
        y = _recursion(u, coefs, order=order, reservoirpy=reservoirpy)
        return u[:, warm:], y[:, warm:]  # (N, L) each

    def diverged(y):  # (N,) — NaN fails the comparison, so it counts as diverged
        return ~jnp.all(jnp.abs(y) <= bound, axis=1)

    def cond(state):
        i, _, _, bad, _ = state
        return (i == 0) | ((i <= ATTEMPTS) & jnp.any(bad))

    def body(state):
        i, u, y, bad, first = state
        u_new, y_new = draw(jax.random.fold_in(key, i))
        u = jnp.where(bad[:, None], u_new, u)
        y = jnp.where(bad[:, None], y_new, y)
        bad = bad & diverged(y_new)
        return i + 1, u, y, bad, jnp.where(i == 0, bad, first)

    zeros = jnp.zeros((n, length), jnp.float32)
    everyone = jnp.ones((n,), bool)
    _, u, y, bad, first = jax.lax.while_loop(cond, body, (0, zeros, zeros, everyone, everyone))
    return u, y, jnp.sum(first), jnp.sum(bad)


def narma_reference(
    u, order: int, a: float, b: float, c: float, d: float, convention: str = "standard"
) -> np.ndarray:
    """The plain equations, step by step, in float64: y (N, L) for an input u (N, L), pre-sample
    values 0 and no warm-up dropped. The scan above must agree with it."""
    u = np.asarray(u, dtype=np.float64)
    n, length = u.shape
    y = np.zeros((n, length))
    if convention == "standard":
        for t in range(-1, length - 1):
            y_t = y[:, t] if t >= 0 else 0.0
            s = sum(y[:, t - i] for i in range(order) if t - i >= 0)
            u_t = u[:, t] if t >= 0 else 0.0
            u_lag = u[:, t - order + 1] if t - order + 1 >= 0 else 0.0
            y[:, t + 1] = a * y_t + b * y_t * s + c * u_lag * u_t + d
    else:
        for t in range(order, length - 1):
            s = np.sum(y[:, t - order : t], axis=1)
            y[:, t + 1] = a * y[:, t] + b * y[:, t] * s + c * u[:, t - order] * u[:, t] + d
    return y


PROCESSES.register(
    ProcessFamily(
        kind="narma",
        config=NARMAConfig,
        build=NARMA,
        summary="NARMA(order) from uniform input",
        forms={
            "narma": SpecForm(
                {
                    "order": NUM,
                    "convention": STR,
                    "low": NUM,
                    "high": NUM,
                    "a": NUM,
                    "b": NUM,
                    "c": NUM,
                    "d": NUM,
                    "bound": NUM,
                },
                ("order",),
            )
        },
        examples=lambda d: {
            "narma10": NARMAConfig(),
            "narma_rpy": NARMAConfig(convention="reservoirpy"),
        },
    )
)
