"""Sparse polynomial NARX: a few monomials of lagged inputs, chosen by forward orthogonal
least squares.

    y_t = Σ_j θ_j · Π_v z_{t,v} ** e_{j,v},     z_t = (x_1[t], …, x_C[t], x_1[t-1], …, x_C[t-K+1])

Candidate terms are the constant and every monomial of degree ≤ ``narx_degree`` in the
V = C·K lagged inputs (K = ``window``). FROLS — forward orthogonal least squares with the error
reduction ratio (Billings 2013, "Nonlinear System Identification", ch. 3) — adds at each step the
candidate whose part orthogonal to the terms already chosen explains the largest share of yᵀy,
until ``narx_terms`` terms are chosen or the unexplained share of the target's variance falls
below ``narx_tol``. The chosen terms' coefficients are then refitted by least squares (float64).

The model works in the user's units (its ``Normalised`` wrapper has identity scalings), so an
exact polynomial target is recovered exactly and ``formula`` prints it in lagnet's formula
language. Terms are stored as arrays — an int32 exponent table (T, V) and float32
coefficients (T, O) — so they save as safetensors like any other model.

Legend: N paths, L time steps, C channels, K window, V = C·K lagged inputs, T terms, O outputs.

Example::

    >>> net, info = fit_narx(x, y, valid, window=2, degree=2, max_terms=20, tol=1e-12)
    >>> net.formula(["x"])
    'x[t]**2 + 0.1*x[t-1]**2'
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import ClassVar, Literal, Optional

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from pydantic import Field

from lagnet.errors import LagnetError
from lagnet.models.base import SequenceNet
from lagnet.models.family import ModelConfig

MAX_CANDIDATES = 20_000  # more candidate terms than this is a sign of a mis-set degree/window
# Degree and term count where nothing chose them; before the search, the config's defaults.
DEFAULTS = dict(narx_degree=2, narx_terms=20)
MAX_CELLS = 2**25  # rows × candidates held in float64 at once (256 MiB); rows are capped
GRAM_MAX = 2048  # FROLS works on the K × K Gram matrix up to this many candidates (32 MiB)


def lagged(x, window: int, xp=jnp):
    """(N, L, C) -> (N, L, K·C): column k·C + c is x_c[t-k], zero before the start."""
    n, length, c = x.shape
    cols = [xp.pad(x, ((0, 0), (k, 0), (0, 0)))[:, :length] for k in range(window)]
    return xp.concatenate(cols, axis=2)  # (N, L, K·C)


class NARXConfig(ModelConfig):
    """Polynomial terms of degree ≤ ``narx_degree`` in the last ``window`` lags, chosen by
    forward orthogonal regression, at most ``narx_terms`` terms, stopping when the unexplained
    share of variance falls below ``narx_tol``. Unset (None), window, degree and term count
    are chosen on the validation set (:mod:`lagnet.models.narx_fit`)."""

    kind: Literal["narx"] = "narx"
    window: Optional[int] = Field(None, gt=0, le=10_000)
    narx_degree: Optional[int] = Field(None, ge=1, le=5)
    narx_terms: Optional[int] = Field(None, gt=0)
    narx_tol: float = Field(1e-12, ge=0)
    # Before the search, degree and terms had these defaults: old run directories hold them.
    LEGACY_DEFAULTS: ClassVar[dict] = DEFAULTS


class NARX(SequenceNet):
    """A sparse polynomial in the last ``window`` inputs: (N, L, C) -> (N, L, O).
    Make one with :func:`fit_narx`."""

    exponents: jax.Array  # (T, V) int32: term j is Π_v z_v ** exponents[j, v]
    coef: jax.Array  # (T, O) float32
    rms: jax.Array  # (T,) float32: each term's root mean square on the training data
    window: int = eqx.field(static=True)
    degree: int = eqx.field(static=True)

    def terms(self, z: jax.Array) -> jax.Array:
        """Lagged inputs z (..., V) -> term values (..., T), by exact repeated multiplication.

        A scan over the V variables keeps the intermediate at (..., T) instead of (..., T, V)."""
        powers = [jnp.ones_like(z)]
        for _ in range(self.degree):
            powers.append(powers[-1] * z)
        pw = jnp.moveaxis(jnp.stack(powers, axis=-1), -2, 0)  # (V, ..., degree + 1)

        def factor(acc, inp):
            pw_v, e_v = inp  # (..., degree + 1), (T,)
            return acc * jnp.take(pw_v, e_v, axis=-1), None  # (..., T)

        acc = jnp.ones((*z.shape[:-1], self.exponents.shape[0]), z.dtype)
        acc, _ = jax.lax.scan(factor, acc, (pw, self.exponents.T))
        return acc

    def combine(self, terms: jax.Array) -> jax.Array:
        """Term values (..., T) -> outputs (..., O). Full float32 precision: on GPUs a float32
        matmul defaults to TF32 (10-bit mantissa), which would spoil an exact recovery."""
        return jnp.matmul(terms, self.coef, precision=jax.lax.Precision.HIGHEST)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.combine(self.terms(lagged(x, self.window)))  # (N, L, O)

    def init_state(self, n: int):
        """The last window − 1 inputs, most recent first: (N, K − 1, C)."""
        return jnp.zeros((n, self.window - 1, self.exponents.shape[1] // self.window), jnp.float32)

    def step(self, x_t: jax.Array, state):
        """x_t (N, C) -> y_t (N, O), new state."""
        full = jnp.concatenate([x_t[:, None, :], state], axis=1)  # (N, K, C), lag k at [:, k]
        z = full.reshape(full.shape[0], -1)  # (N, K·C), column k·C + c
        return self.combine(self.terms(z)), full[:, : self.window - 1]

    def structure(self) -> dict:
        """What ``skeleton`` needs besides the config to rebuild this network's shapes."""
        return dict(terms=int(self.exponents.shape[0]), window=self.window, degree=self.degree)

    def formula(
        self, names: Sequence[str], output: int = 0, digits: int = 6, drop: float = 1e-7
    ) -> str:
        """The fitted polynomial in lagnet's formula language, e.g. ``x[t]**2 + 0.1*x[t-1]**2``.

        Coefficients are rounded to ``digits`` significant digits. A term whose typical size
        |θ_j|·rms_j is below ``drop`` times the largest term's is left out (it changes the
        prediction by less than float32 rounding does)."""
        c = len(names)
        coef = np.asarray(self.coef, np.float64)[:, output]
        size = np.abs(coef) * np.asarray(self.rms, np.float64)
        exponents = np.asarray(self.exponents)
        parts: list[tuple[float, str]] = []
        for j in np.argsort(-size, kind="stable"):
            if size[j] == 0 or size[j] < drop * size.max():
                continue
            factors = []
            for v, e in enumerate(exponents[j]):
                if e == 0:
                    continue
                k = v // c
                var = f"{names[v % c]}[t]" if k == 0 else f"{names[v % c]}[t-{k}]"
                factors.append(var if e == 1 else f"{var}**{int(e)}")
            value = float(f"{coef[j]:.{digits}g}")
            number = f"{abs(value):.{digits}g}"
            if not factors:
                body = number
            elif abs(value) == 1.0:
                body = "*".join(factors)
            else:
                body = "*".join([number, *factors])
            parts.append((value, body))
        if not parts:
            return "0"
        text = ("-" if parts[0][0] < 0 else "") + parts[0][1]
        for value, body in parts[1:]:
            text += (" - " if value < 0 else " + ") + body
        return text


def skeleton(cfg: NARXConfig, c_in: int, c_out: int, structure: dict) -> NARX:
    """A NARX of the saved shapes with zero weights, to load saved tensors into."""
    t, window = int(structure["terms"]), int(structure["window"])
    return NARX(
        exponents=jnp.zeros((t, c_in * window), jnp.int32),
        coef=jnp.zeros((t, c_out), jnp.float32),
        rms=jnp.zeros((t,), jnp.float32),
        window=window,
        degree=int(structure.get("degree", cfg.narx_degree or DEFAULTS["narx_degree"])),
    )


# ----------------------------------------------------------------------------- fitting
def candidate_exponents(variables: int, degree: int) -> np.ndarray:
    """Every monomial of degree ≤ ``degree`` in ``variables`` variables as an exponent table
    (K, V), the constant first, then by degree."""
    rows = [np.zeros(variables, np.int32)]
    for d in range(1, degree + 1):
        for combo in itertools.combinations_with_replacement(range(variables), d):
            rows.append(np.bincount(combo, minlength=variables).astype(np.int32))
    return np.stack(rows)


def monomials(z: np.ndarray, exponents: np.ndarray) -> np.ndarray:
    """z (M, V) float64, exponents (K, V) -> candidate columns (M, K)."""
    out = np.ones((z.shape[0], exponents.shape[0]))
    for v in range(z.shape[1]):
        for e in np.unique(exponents[:, v]):
            if e > 0:
                out[:, exponents[:, v] == e] *= (z[:, v] ** e)[:, None]
    return out


def frols(
    p: np.ndarray, y: np.ndarray, max_terms: int, tol: float, gram: np.ndarray | None = None
) -> tuple[list[int], list[float]]:
    """Forward orthogonal least squares (Billings 2013, §3.5) on candidates p (M, K) and one
    target y (M,). Returns the chosen columns and their error reduction ratios

        ERR_j = (w_jᵀ y)² / (w_jᵀ w_j · yᵀ y),

    w_j being candidate j made orthogonal to the columns already chosen. Stops after
    ``max_terms`` terms, or once the residual's sum of squares is at most ``tol`` times the
    target's sum of squared deviations from its mean (the unexplained share of its variance:
    with the raw yᵀy a large mean would make a poor fit look finished).

    Up to :data:`GRAM_MAX` candidates the orthogonalisation is done on the Gram matrix
    A = pᵀp (``gram``, when the caller has it) and c = pᵀy rather than on the M rows: taking
    column j out of every other is A ← A − A_j A_jᵀ / A_jj and c ← c − c_j A_j / A_jj, O(K²)
    a term instead of four passes over the M × K candidates (NARMA-10's whole fit, search
    over windows and degrees included: 37 s → 12 s). Beyond it, modified Gram–Schmidt on the
    rows."""
    sigma, centred = float(y @ y), float(np.sum((y - y.mean()) ** 2))
    if p.shape[1] > GRAM_MAX:
        return _frols_rows(p, y, max_terms, tol * centred, sigma)
    a = np.array(gram_of(p) if gram is None else gram, np.float64)
    c = p.T @ y
    norm0 = np.diag(a).copy()
    rr = sigma  # the residual's sum of squares
    chosen: list[int] = []
    errs: list[float] = []
    while len(chosen) < max_terms and rr > tol * centred:
        j, err = _best(np.diag(a), norm0, c, chosen, sigma)
        if j < 0:
            break
        row = a[j].copy()
        chosen.append(j)
        errs.append(err)
        rr -= c[j] ** 2 / row[j]
        c = c - (c[j] / row[j]) * row
        a -= np.outer(row / row[j], row)
    return chosen, errs


def gram_of(p: np.ndarray) -> np.ndarray | None:
    """pᵀp for :func:`frols` to share between targets; None past :data:`GRAM_MAX` candidates,
    where it works on the rows."""
    return p.T @ p if p.shape[1] <= GRAM_MAX else None


def _best(ww, norm0, c, chosen, sigma) -> tuple[int, float]:
    """The candidate with the largest error reduction ratio c²/(ww·σ), or -1 when none adds
    anything; one (numerically) in the span of the chosen terms is out."""
    alive = ww > 1e-10 * np.maximum(norm0, 1e-300)
    alive[chosen] = False
    if not alive.any():
        return -1, 0.0
    err = np.where(alive, c**2 / np.where(alive, ww, 1.0), -1.0) / sigma
    j = int(np.argmax(err))
    return (j, float(err[j])) if err[j] > 0 else (-1, 0.0)


def _frols_rows(p, y, max_terms: int, stop: float, sigma: float):
    """FROLS by modified Gram–Schmidt on the M rows (Billings' own form), for many candidates."""
    w, r = p.copy(), y.copy()
    norm0 = np.einsum("mk,mk->k", p, p)
    chosen: list[int] = []
    errs: list[float] = []
    while len(chosen) < max_terms and float(r @ r) > stop:
        j, err = _best(np.einsum("mk,mk->k", w, w), norm0, w.T @ r, chosen, sigma)
        if j < 0:
            break
        q = w[:, j].copy()
        qq = float(q @ q)
        chosen.append(j)
        errs.append(err)
        r -= (q @ r / qq) * q
        w -= np.outer(q, (q @ w) / qq)
    return chosen, errs


def check_window(window: int | None, length: int) -> None:
    """A window as long as the path leaves no step with the whole window inside it."""
    if window is not None and window >= length:
        raise LagnetError("model.window", window, f"must be below the path length ({length})")


def fit_narx(
    x, y, valid, *, window: int, degree: int, max_terms: int, tol: float
) -> tuple[NARX, dict]:
    """Choose terms by FROLS and fit their coefficients by least squares, in float64, on the
    steps where the target is defined and the whole window lies inside the path.
    x (N, L, C) and y (N, L, O) in the user's units."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    n, length, c = x.shape
    check_window(window, length)
    v = c * window
    k = math.comb(v + degree, degree)
    if k > MAX_CANDIDATES:
        raise LagnetError(
            "model.narx_degree",
            degree,
            f"gives {k} candidate terms over {v} lagged inputs (at most "
            f"{MAX_CANDIDATES}); lower model.narx_degree or model.window",
        )
    keep = np.asarray(valid, bool) & (np.arange(length) >= window - 1)  # (L,)
    z = lagged(x, window, np)[:, keep].reshape(-1, v)  # (M, V)
    t = y[:, keep].reshape(-1, y.shape[2])  # (M, O)
    rows = min(z.shape[0], max(MAX_CELLS // k, 1))  # paths are independent: the first rows do
    z, t = z[:rows], t[:rows]
    exps = candidate_exponents(v, degree)
    p = monomials(z, exps)  # (M, K)
    chosen: list[int] = []
    gram = gram_of(p)
    for o in range(t.shape[1]):  # one selection per output; the union is refitted jointly
        for j in frols(p, t[:, o], max_terms, tol, gram)[0]:
            if j not in chosen:
                chosen.append(j)
    if not chosen:  # the target is identically zero: one constant term, coefficient 0
        chosen = [0]
    sel = p[:, chosen]
    coef = np.linalg.lstsq(sel, t, rcond=None)[0]  # (T, O)
    resid = t - sel @ coef
    net = NARX(
        exponents=jnp.asarray(exps[chosen], jnp.int32),
        coef=jnp.asarray(coef, jnp.float32),
        rms=jnp.asarray(np.sqrt(np.mean(sel**2, axis=0)), jnp.float32),
        window=window,
        degree=degree,
    )
    var = float(np.var(t))
    mse = float(np.mean(resid**2))
    return net, dict(
        rows=rows,
        candidate_terms=k,
        terms=len(chosen),
        train_mse=mse,
        unexplained=mse / var if var > 0 else 0.0,
    )
