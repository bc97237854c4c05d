"""The NARX family's fit: the settings a user left unset — window, degree, number of terms —
chosen on the validation set, then the terms and coefficients by forward orthogonal least
squares (:func:`lagnet.models.narx.fit_narx`).

FROLS adds terms in order of the variance they explain, so one run of it up to
:data:`MAX_TERMS` terms gives every shorter model too: the term count is chosen by refitting
the first T terms for every T (from their Gram matrix, in microseconds) and scoring each on
the validation paths. Windows and degrees are a small grid: the target's largest lag + 1 when
that is the memory needed (a formula of the inputs: nothing to search), else
:data:`WINDOWS`; degrees 1–3; tried cheapest first, and under a time budget none is started
past half of it or where its search and the final fit would, at the pace measured so far,
overrun 80% of it (:func:`cost`). The smallest model within a hair of the best validation error
is kept (fewest terms, then lowest degree, then shortest window), so an exact polynomial is
recovered with exactly its terms.
"""

from __future__ import annotations

import math
import time

import numpy as np

from lagnet.models.family import FAMILIES, Family, FitData, widen_window
from lagnet.models.narx import (
    DEFAULTS,
    GRAM_MAX,
    MAX_CANDIDATES,
    MAX_CELLS,
    NARXConfig,
    candidate_exponents,
    check_window,
    fit_narx,
    frols,
    gram_of,
    lagged,
    monomials,
    skeleton,
)

WINDOWS = (2, 5, 10, 20)  # searched when the target does not say how far back it reads
DEGREES = (1, 2, 3)
MAX_TERMS = 40
TIE = 1e-3  # validation MSE within this share of the best counts as as good


def _rows(x, y, valid, window: int) -> tuple[np.ndarray, np.ndarray]:
    keep = np.asarray(valid, bool) & (np.arange(x.shape[1]) >= window - 1)
    z = lagged(np.asarray(x, np.float64), window, np)[:, keep].reshape(-1, x.shape[2] * window)
    return z, np.asarray(y, np.float64)[:, keep].reshape(-1, y.shape[2])


def prefix_scores(
    data: FitData, val: tuple, window: int, degree: int, max_terms: int, tol: float
) -> list[float]:
    """Validation MSE of the models made of the first 1, 2, … terms FROLS picks (one list
    entry per term count)."""
    exps = candidate_exponents(data.x.shape[2] * window, degree)
    z, t = _rows(data.x, data.y, data.valid, window)
    rows = min(z.shape[0], max(MAX_CELLS // len(exps), 1))
    p = monomials(z[:rows], exps)
    gram = gram_of(p)
    order = [frols(p, t[:rows, o], max_terms, tol, gram)[0] for o in range(t.shape[1])]
    union: list[int] = []
    prefixes = []
    for n in range(1, max(len(o) for o in order) + 1):
        for o in order:
            for j in o[:n]:
                if j not in union:
                    union.append(j)
        prefixes.append(len(union))
    if not union:
        return []
    sel = p[:, union]
    gram = sel.T @ sel if gram is None else gram[np.ix_(union, union)]
    rhs = sel.T @ t[:rows]
    zv, tv = _rows(val[0], val[1], data.valid, window)
    sel_v = monomials(zv, exps[union])
    scores = []
    for k in prefixes:
        g = gram[:k, :k] + 1e-12 * np.trace(gram[:k, :k]) / k * np.eye(k)
        coef = np.linalg.solve(g, rhs[:k])
        scores.append(float(np.mean((tv - sel_v[:, :k] @ coef) ** 2)))
    return scores


def cost(rows: int, candidates: int, terms: int) -> float:
    """A (window, degree)'s search time, up to a machine's constant: the candidate matrix is
    capped at :data:`MAX_CELLS`; each term costs O(K²) on the Gram matrix (measured about K/1500
    of the rest on 2 cores) or four passes over the candidates past :data:`GRAM_MAX`."""
    cells = min(rows, max(MAX_CELLS // candidates, 1)) * candidates
    return cells * (1 + (candidates / 1500 if candidates <= GRAM_MAX else terms / 10))


def choose(cfg: NARXConfig, data: FitData) -> tuple[dict, dict]:
    """The unset settings chosen on the validation set (``data.val``, else the last quarter of
    the training paths) and a record of the search."""
    t0 = time.perf_counter()
    if data.val is not None:
        val, fit_data = data.val, data
    else:
        cut = max(1, (3 * data.x.shape[0]) // 4)
        val = (data.x[cut:], data.y[cut:])
        fit_data = FitData(
            data.x[:cut],
            data.y[:cut],
            data.valid,
            data.key,
            data.memory_hint,
            data.inputs,
            data.batch,
        )
    length, channels = data.x.shape[1], data.x.shape[2]
    if cfg.window is not None:
        windows: tuple[int, ...] = (cfg.window,)
    elif data.memory_hint is not None:
        windows = (data.memory_hint + 1,)
    else:
        windows = tuple(w for w in WINDOWS if w < length)
    degrees = (cfg.narx_degree,) if cfg.narx_degree is not None else DEGREES
    most = cfg.narx_terms if cfg.narx_terms is not None else MAX_TERMS
    # Cheapest first (fewest candidate terms); with a time budget, no new (window, degree) is
    # started past half of it, nor one whose search and fit would, at the pace of the last
    # one, end past 80% of it — the search keeps the best it has.
    grid = sorted(
        (math.comb(channels * w + d, d), d, w)
        for w in windows
        for d in degrees
        if math.comb(channels * w + d, d) <= MAX_CANDIDATES and w < length
    )
    rows = fit_data.x.shape[0] * length
    tried = []  # (val MSE, terms, degree, window)
    pace = None  # seconds per unit of cost, from the last (window, degree) searched
    for k, degree, window in grid:
        if tried and data.seconds is not None:
            spent = time.perf_counter() - t0
            ahead = 2 * pace * cost(rows, k, most) if pace is not None else 0.0
            if spent > data.seconds / 2 or spent + ahead > 0.8 * data.seconds:
                break
        started = time.perf_counter()
        scores = prefix_scores(fit_data, val, window, degree, most, cfg.narx_tol)
        pace = (time.perf_counter() - started) / cost(rows, k, most)
        if cfg.narx_terms is not None:
            tried += [(s, cfg.narx_terms, degree, window) for s in scores[-1:]]
        else:
            tried += [(s, n + 1, degree, window) for n, s in enumerate(scores)]
    if not tried:  # every candidate grid too large, or its window too long: fit_narx says why
        return {}, {}
    best = min(s for s, *_ in tried)
    scale = float(np.var(val[1])) or 1.0
    ok = [c for c in tried if c[0] <= best * (1 + TIE) + 1e-12 * scale]
    _, terms, degree, window = min(ok, key=lambda c: (c[1], c[2], c[3]))
    values = dict(window=window, narx_degree=degree, narx_terms=terms)
    chosen = {k: v for k, v in values.items() if getattr(cfg, k) is None}
    record = dict(
        chosen=chosen,
        search=dict(
            trials=len({(w, d) for _, _, d, w in tried}),
            of=len(grid),
            val_mse=min(c[0] for c in ok if c[1:] == (terms, degree, window)),
            seconds=time.perf_counter() - t0,
        ),
    )
    return values, record


def fit(cfg: NARXConfig, data: FitData) -> tuple:
    """Choose the unset settings (:func:`choose`), then fit on every training path."""
    record: dict = {}
    if cfg.window is None or cfg.narx_degree is None or cfg.narx_terms is None:
        values, record = choose(cfg, data)
    else:
        values = dict(window=cfg.window, narx_degree=cfg.narx_degree, narx_terms=cfg.narx_terms)
    window = values.get("window") or cfg.window or (data.memory_hint or 9) + 1
    degree = values.get("narx_degree") or cfg.narx_degree or DEFAULTS["narx_degree"]
    terms = values.get("narx_terms") or cfg.narx_terms or DEFAULTS["narx_terms"]
    net, details = fit_narx(
        data.x,
        data.y,
        data.valid,
        window=window,
        degree=degree,
        max_terms=terms,
        tol=cfg.narx_tol,
    )
    return net, dict(details, window=window, formula=net.formula(data.inputs), **record)


def _grow(cfg: NARXConfig, train) -> tuple[str, dict]:
    terms = 2 * (cfg.narx_terms or MAX_TERMS)
    degree = min((cfg.narx_degree or DEGREES[-1]) + 1, 5)
    return (
        f"more and higher terms: model.narx_terms = {terms}, model.narx_degree = {degree}",
        {"model.narx_terms": terms, "model.narx_degree": degree},
    )


FAMILIES.register(
    Family(
        kind="narx",
        config=NARXConfig,
        summary="sparse polynomial NARX, chosen by FROLS; unset window, degree, terms searched",
        fit=fit,
        skeleton=skeleton,
        raw_units=True,
        reach=lambda cfg: cfg.window,
        check=lambda cfg, length: check_window(cfg.window, length),
        grow=_grow,
        widen=widen_window,
        # window 4: x at t = 0 reaches the output at t = 3, as the contract's memory test asks
        examples={"narx": dict(window=4, narx_degree=2, narx_terms=8)},
    )
)
