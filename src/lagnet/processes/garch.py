"""GARCH(1, 1) and GJR-GARCH returns with their latent conditional variance.

    r_t = mu + e_t,   e_t = sqrt(sigma2_t)·z_t,
    sigma2_t = omega + (alpha + gamma·1[e_{t-1} < 0])·e_{t-1}² + beta·sigma2_{t-1}

with z_t iid, zero mean, unit variance: normal, or Student-t(df) scaled by sqrt((df - 2)/df).
Bollerslev (1986), "Generalized autoregressive conditional heteroskedasticity", J. Econometrics
31; the asymmetric term is Glosten, Jagannathan & Runkle (1993), J. Finance 48.

Because z is symmetric, E[1[e < 0]·e² | sigma2] = sigma2/2, so E[sigma2_t] obeys
E[sigma2_t] = omega + (alpha + gamma/2 + beta)·E[sigma2_{t-1}]: the unconditional variance
omega / (1 - alpha - beta - gamma/2) exists iff alpha + beta + gamma/2 < 1, and a path started
at sigma2_0 equal to it keeps E[r_t] = mu, Var(r_t) = that value at every t.

Squaring the recursion, sigma2_t = omega + a(z_{t-1})·sigma2_{t-1} with a(z) = alpha·z² +
gamma·z²·1[z < 0] + beta, gives E[sigma2_t²] = omega² + 2·omega·E[a]·E[sigma2] + kappa·
E[sigma2_{t-1}²] with

    kappa = E[a(z)²] = E[z⁴]·(alpha² + alpha·gamma + gamma²/2) + 2·alpha·beta + beta·gamma + beta²

(E[z⁴·1[z < 0]] = E[z⁴]/2 by symmetry). Var(sigma2) — and E[r⁴] = E[z⁴]·E[sigma2²] — exist iff
kappa < 1 (and E[z⁴] < ∞): for normal GARCH(1, 1), iff (alpha + beta)² + 2·alpha² < 1 (Bollerslev
1986, Theorem 2). The process stays stationary beyond it; a target's MSE and R² do not settle.
"""

from __future__ import annotations

from collections.abc import Collection
from functools import partial
from typing import Literal, final

import jax
import jax.numpy as jnp
import numpy as np
from pydantic import Field

from lagnet.errors import LagnetError
from lagnet.filters import Optimal, garch_variance
from lagnet.processes.base import LatentProcess, check_finite, check_sample_shape
from lagnet.processes.family import NUM, PROCESSES, STR, ProcessConfig, ProcessFamily, SpecForm


class GARCHConfig(ProcessConfig):
    """GARCH(1, 1), or GJR-GARCH with ``gamma`` > 0: r_t = mu + e_t, e_t = sqrt(sigma2_t)·z_t,
    sigma2_t = omega + (alpha + gamma·1[e_{t-1} < 0])·e_{t-1}² + beta·sigma2_{t-1}; z normal or
    Student-t(df) scaled to unit variance. Series ``name`` (observed) and ``sigma2`` (latent)."""

    kind: Literal["garch"] = "garch"
    omega: float = Field(0.05, gt=0)
    alpha: float = Field(0.1, ge=0)
    beta: float = Field(0.85, ge=0)
    gamma: float = Field(0.0, ge=0)
    mu: float = 0.0
    dist: Literal["normal", "student_t"] = "normal"
    df: float = 8.0  # read only with dist = "student_t" (checked there: > 2)
    name: str = "r"


@final
class GARCH(LatentProcess):
    """GARCH(1, 1) / GJR-GARCH. Series: ``(config.name, "sigma2")``; only the returns are
    observed. sigma2_0 is the unconditional variance. The returns are uncorrelated (a
    martingale difference), so ``acf`` is 1, 0, 0, …; their squares are not.

    >>> p = GARCH(GARCHConfig(omega=0.05, alpha=0.05, beta=0.8, gamma=0.1))
    >>> round(p.variance(), 6), p.sample(jax.random.PRNGKey(0), 3, 7)["sigma2"].shape
    (0.5, (3, 7))
    """

    latent = "sigma2"

    def __init__(self, config: GARCHConfig):
        c = config
        for field in ("omega", "alpha", "beta", "gamma", "mu", "df"):
            check_finite(f"process.{field}", getattr(c, field))
        if c.omega <= 0:
            raise LagnetError("process.omega", c.omega, "must be positive")
        for field in ("alpha", "beta", "gamma"):
            if getattr(c, field) < 0:
                raise LagnetError(f"process.{field}", getattr(c, field), "must be non-negative")
        if c.dist == "student_t" and c.df <= 2:
            raise LagnetError("process.df", c.df, "must exceed 2 (unit-variance Student-t)")
        persistence = c.alpha + c.beta + c.gamma / 2
        if persistence >= 1:
            # blame the largest term the user set (gamma first on a tie: it counts half)
            terms = {"gamma": c.gamma / 2, "alpha": c.alpha, "beta": c.beta}
            named = [f for f in terms if f in c.model_fields_set] or list(terms)
            field = max(named, key=terms.__getitem__)
            raise LagnetError(
                f"process.{field}",
                getattr(c, field),
                f"alpha + beta + gamma/2 = {persistence:.4g} ≥ 1: no finite unconditional variance",
            )
        self.check_name(c.name)
        self.config = config
        self._var = c.omega / (1 - persistence)

    def sample(self, key: jax.Array, n: int, length: int) -> dict[str, jax.Array]:
        check_sample_shape(n, length)
        c = self.config
        params = np.array([c.omega, c.alpha, c.beta, c.gamma, c.mu, c.df, self._var], np.float32)
        r, s2 = _sample(key, params, student=c.dist == "student_t", n=int(n), length=int(length))
        return {c.name: r, "sigma2": s2}

    def mean(self) -> float:
        return float(self.config.mu)

    def variance(self) -> float:
        return float(self._var)

    def acf(self, lags: int) -> np.ndarray:
        return np.r_[1.0, np.zeros(lags)]

    def fourth_moment_factor(self) -> float:
        """kappa = E[(alpha·z² + gamma·z²·1[z < 0] + beta)²] (inf where E[z⁴] is and alpha or
        gamma is not 0): Var(sigma2) and E[r⁴] are finite iff it is below 1."""
        c = self.config
        m4 = shock_kurtosis(c.dist, c.df)
        quartic = c.alpha**2 + c.alpha * c.gamma + c.gamma**2 / 2
        rest = 2 * c.alpha * c.beta + c.beta * c.gamma + c.beta**2
        return rest + (m4 * quartic if quartic > 0 else 0.0)

    def variance_note(self, series: Collection[str]) -> str | None:
        """One line when a target reading ``series`` may have no finite variance: it reads
        sigma2 and kappa ≥ 1, or it reads the returns and E[r⁴] is infinite (their square, or
        any higher power, then has none). None otherwise."""
        c = self.config
        m4, kappa = shock_kurtosis(c.dist, c.df), self.fourth_moment_factor()
        if "sigma2" in series and kappa >= 1:
            what, which = (
                "sigma2 has no finite variance (nor r a finite fourth moment)",
                "the target's",
            )
        elif c.name in series and (kappa >= 1 or not np.isfinite(m4)):
            what = f"{c.name} has no finite fourth moment"
            which = f"a target of {c.name}² (or a higher power) has no finite variance, and its"
        else:
            return None
        why = (
            f"E z⁴ is infinite for Student-t shocks with df = {c.df:g} ≤ 4"
            if not np.isfinite(m4)
            else f"E[(alpha·z² + gamma·z²·1[z<0] + beta)²] = {kappa:.4g} ≥ 1"
        )
        return (
            f"{why}: {what}; the process is stationary, but {which} MSE and R² (and their "
            "ratios over horizons) do not settle as the test set grows"
        )


def shock_kurtosis(dist: str, df: float) -> float:
    """E[z⁴] of the unit-variance shock: 3 for normal, 3·(df - 2)/(df - 4) for the scaled
    Student-t (inf for df ≤ 4)."""
    if dist == "normal":
        return 3.0
    return 3 * (df - 2) / (df - 4) if df > 4 else float("inf")


@partial(jax.jit, static_argnames=("student", "n", "length"))
def _sample(key, params, *, student: bool, n: int, length: int):
    """One scan over time with (sigma2_{t-1}, e_{t-1}) of the whole batch in the carry."""
    omega, alpha, beta, gamma, mu, df, var = params
    if student:
        z = jax.random.t(key, df, (n, length), jnp.float32) * jnp.sqrt((df - 2) / df)  # (N, L)
    else:
        z = jax.random.normal(key, (n, length), jnp.float32)  # (N, L)
    s2_0 = jnp.full((n,), var, jnp.float32)
    e_0 = jnp.sqrt(s2_0) * z[:, 0]

    def step(carry, z_t):  # each (N,)
        s2, e = carry  # sigma2_{t-1}, e_{t-1}
        s2 = omega + (alpha + gamma * (e < 0)) * e**2 + beta * s2
        e = jnp.sqrt(s2) * z_t
        return (s2, e), (e, s2)

    _, (e, s2) = jax.lax.scan(step, (s2_0, e_0), z[:, 1:].T)  # (L - 1, N) each
    e = jnp.concatenate([e_0[:, None], e.T], axis=1)  # (N, L)
    s2 = jnp.concatenate([s2_0[:, None], s2.T], axis=1)  # (N, L)
    return mu + e, s2


def _optimal(c: GARCHConfig, formula: str, observed: dict, key) -> Optimal | None:
    """The GARCH recursion with the true parameters, for ``sigma2[t]``: exact, since sigma2_t
    is a function of the past returns and sigma2_0."""
    if formula != "sigma2[t]" or c.name not in observed:
        return None
    var0 = GARCH(c).variance()
    s2 = garch_variance(observed[c.name], c.omega, c.alpha, c.beta, c.gamma, c.mu, var0)
    return Optimal("GARCH recursion", s2[..., None])


PROCESSES.register(
    ProcessFamily(
        kind="garch",
        config=GARCHConfig,
        build=GARCH,
        summary="GARCH(1, 1) and GJR-GARCH returns",
        forms={
            "garch": SpecForm(
                {
                    "omega": NUM,
                    "alpha": NUM,
                    "beta": NUM,
                    "gamma": NUM,
                    "mu": NUM,
                    "dist": STR,
                    "df": NUM,
                    "name": STR,
                },
                ("omega", "alpha", "beta"),
            )
        },
        examples=lambda d: {
            "garch": GARCHConfig(),
            "gjr_t": GARCHConfig(gamma=0.1, beta=0.8, dist="student_t"),
        },
        optimal=_optimal,
    )
)
