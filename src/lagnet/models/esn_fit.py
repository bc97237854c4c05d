"""The echo state network family: its fit, and the search that chooses the settings a user left
unset — spectral radius, input scaling, leak, ridge and washout — on the validation set.

The read-out is closed form, so a candidate costs one pass of the reservoir over a search
sample, and two of the five settings cost almost nothing more:

- **ridge**: for the read-out's centred Gram matrix C = V diag(s) Vᵀ (one eigendecomposition),
  W(λ) = V diag(1/(s + λ)) Vᵀ D for every λ of a path, and its validation error follows from
  the validation rows' sums (:meth:`Sums.sse`) without touching a state again;
- **washout**: the training rows' sums are kept per stretch of steps ([0, 10), [10, 50), …),
  so the sums for "skip the first w steps" are a sum of stretches.

Spectral radius, input scaling and leak change the states. They are searched by coordinates
from a start the literature recommends (Lukoševičius 2012, §3.2): each round tries each setting
a step up and down (in log scale) and moves to the better if it lowers the validation error;
a round without a move halves the steps (in log scale). The random matrices are drawn once from
the run's key (:func:`unit_reservoir`) and only rescaled, so the search is deterministic under
the seed and compares settings, not draws.

Legend: N paths, L time steps, C channels, H reservoir units, O outputs, F = C + H features.
"""

from __future__ import annotations

import math
import time

import numpy as np

from lagnet.models.esn import (
    ESN,
    START,
    TUNED,
    ESNConfig,
    Sums,
    draw_reservoir,
    fit_readout,
    kept_steps,
    read_sums,
    scaled_reservoir,
    skeleton,
    unit_reservoir,
)
from lagnet.models.family import FAMILIES, Family, FitData

STEPS = dict(spectral_radius=1.5, input_scaling=3.0, leak=2.0)  # first step factors
BOUNDS = dict(spectral_radius=(0.05, 2.0), input_scaling=(1e-3, 10.0), leak=(0.05, 1.0))
RIDGES = 10.0 ** np.arange(-10.0, 2.0)  # relative to the Gram matrix's mean eigenvalue
WASHOUTS = (0, 10, 50)
MAX_TRIALS = 12  # reservoir settings tried (each a pass over the search sample)
ROWS_PER_FEATURE = 20  # the search sample: enough paths for this many rows per read-out weight


def ridge_path(train: Sums, val: Sums, ridges: np.ndarray) -> np.ndarray:
    """Validation MSE (averaged over outputs) of the ridge read-out fitted on ``train`` for each
    penalty in ``ridges`` (absolute, added to the centred Gram matrix as in ``ridge_solve``):
    one eigendecomposition for the whole path."""
    n = train.rows
    z_mean, t_mean = train.z_sum / n, train.t_sum / n
    c = train.ztz - n * np.outer(z_mean, z_mean)  # (F, F)
    d = train.ztt - n * np.outer(z_mean, t_mean)  # (F, O)
    s, v = np.linalg.eigh(c)
    g = v.T @ d  # (F, O)
    out = np.empty(len(ridges))
    for i, lam in enumerate(ridges):
        w = v @ (g / (np.maximum(s, 0.0) + lam)[:, None])  # (F, O)
        b = t_mean - z_mean @ w
        out[i] = max(val.sse(w, b).sum(), 0.0) / (val.rows * w.shape[1])
    return out


class Search:
    """The search sample's sums for one reservoir setting, and the best (ridge, washout) for it.

    ``final_rows(washout)``: the rows the final fit will use; a ridge found on the search
    sample is carried over per row (λ · final rows / search rows), the penalty that the same
    per-row loss would have."""

    def __init__(self, cfg: ESNConfig, data: FitData):
        n, length, c_in = data.x.shape
        self.cfg, self.length, self.c_out = cfg, length, data.y.shape[2]
        self.valid = np.asarray(data.valid, bool)
        self.unit = unit_reservoir(cfg, c_in, data.key)
        if data.val is not None:
            (xt, yt), (xv, yv), self.n_final = (data.x, data.y), data.val, n
        else:  # no validation set given: the last quarter of the training paths
            cut = max(n - max(n // 4, 1), 1)
            (xt, yt), (xv, yv), self.n_final = (
                (data.x[:cut], data.y[:cut]),
                (
                    data.x[cut:],
                    data.y[cut:],
                ),
                n,
            )
        paths = max(math.ceil(ROWS_PER_FEATURE * (c_in + cfg.reservoir) / length), 32)
        self.train = (xt[:paths], yt[:paths])
        self.val = (xv[:paths], yv[:paths])
        self.paths = len(self.train[0]) + len(self.val[0])  # a trial's pass
        self.chunk = min(data.batch, paths)
        if cfg.washout is not None:
            kept_steps(self.valid, length, cfg.washout)  # a bad washout fails here, named
            self.washouts = [cfg.washout]
        else:
            self.washouts = [
                w for w in WASHOUTS if w < length and (self.valid & (np.arange(length) >= w)).any()
            ]
        bounds = [*self.washouts, length]
        t = np.arange(length)
        self.stretches = [
            self.valid & (t >= a) & (t < b) for a, b in zip(bounds[:-1], bounds[1:])
        ]  # stretch k: steps [washouts[k], washouts[k+1])

    def final_rows(self, washout: int) -> int:
        return self.n_final * int((self.valid & (np.arange(self.length) >= washout)).sum())

    def sums(self, point: dict) -> tuple[list[Sums], Sums]:
        """The training sample's sums per stretch and the validation sample's, for the
        reservoir scaled as ``point`` says (one pass over the search sample)."""
        net = scaled_reservoir(
            self.unit,
            self.c_out,
            point["spectral_radius"],
            point["input_scaling"],
            point["leak"],
        )
        parts = read_sums(net, *self.train, self.stretches, self.chunk)
        return parts, read_sums(net, *self.val, [self.valid], self.chunk)[0]

    def best(self, parts: list[Sums], val: Sums, washouts) -> tuple[float, float, int]:
        """(validation MSE, ridge for the final fit, washout) at the best ridge among
        ``washouts``."""
        best = (np.inf, 0.0, 0)
        for washout in washouts:
            k = self.washouts.index(washout)
            train = parts[k]
            for p in parts[k + 1 :]:
                train = train + p
            scale = self.final_rows(washout) / train.rows
            if self.cfg.ridge is not None:
                ridges = np.array([self.cfg.ridge / scale])
            else:
                mean_eig = max(np.trace(train.ztz) / train.ztz.shape[0], 1e-30)
                ridges = RIDGES * mean_eig
            errors = ridge_path(train, val, ridges)
            i = int(np.argmin(errors))
            if errors[i] < best[0]:
                best = (float(errors[i]), float(ridges[i] * scale), washout)
        return best


def tune(cfg: ESNConfig, data: FitData) -> tuple[ESNConfig, dict]:
    """``cfg`` with its unset settings chosen on the validation set (``data.val``, else the last
    quarter of the training paths), and a record of the choice: the chosen values, how many
    reservoir settings were tried, the search's validation MSE (normalised units) and seconds.

    The coordinate search scores each point at the washout of the start (0 when unset: paths
    and reservoir both start at rest, so the first steps are learnable); the washout is then
    chosen at the best point.

    Under a time budget (``data.seconds``) the search keeps to 90% of it with the final fit:
    each trial's time prices a pass over one path, the final fit takes as many training paths
    as 45% of the budget allows (at least the search sample's; ``record["fit_paths"]``), and
    no trial starts that would leave too little for it."""
    t0 = time.perf_counter()
    search = Search(cfg, data)
    point = {k: (START[k] if getattr(cfg, k) is None else getattr(cfg, k)) for k in STEPS}
    free = [k for k in STEPS if getattr(cfg, k) is None]
    washout = search.washouts[0] if cfg.washout is None else cfg.washout
    seen: dict[tuple, tuple] = {}
    kept: dict[tuple, tuple] = {}  # the sums of the best point so far

    pace = [0.0]  # seconds per path of the last trial

    def score(p: dict) -> tuple:
        key = tuple(round(p[k], 12) for k in STEPS)
        if key not in seen:
            t = time.perf_counter()
            parts, val = search.sums(p)
            seen[key] = search.best(parts, val, [washout])
            pace[0] = (time.perf_counter() - t) / search.paths
            if not kept or seen[key][0] < kept["score"][0]:
                kept.update(score=seen[key], sums=(parts, val))
        return seen[key]

    def fit_paths() -> int:
        """The final fit's paths: all, or as many as 45% of the budget allows at the last
        trial's pace (at least the search sample's)."""
        if data.seconds is None:
            return search.n_final
        share = int(0.45 * data.seconds / max(pace[0], 1e-9))
        return min(search.n_final, max(share, len(search.train[0])))

    def in_time() -> bool:
        """Time for one more trial and then the final fit (always, without a budget)."""
        if data.seconds is None:
            return True
        ahead = pace[0] * (search.paths + fit_paths())
        return time.perf_counter() - t0 + ahead <= 0.9 * data.seconds

    best = score(point)
    factors = dict(STEPS)
    while free and len(seen) < MAX_TRIALS and in_time():
        moved = False
        for k in free:
            lo, hi = BOUNDS[k]
            tries = [
                dict(point, **{k: float(np.clip(point[k] * f, lo, hi))})
                for f in (factors[k], 1.0 / factors[k])
            ]
            results = [
                (score(p), p) for p in tries if (len(seen) < MAX_TRIALS and in_time()) or p == point
            ]
            for r, p in results:
                if r[0] < best[0]:
                    best, point, moved = r, p, True
        if not moved:
            factors = {k: math.sqrt(f) for k, f in factors.items()}
            if all(f < 1.1 for f in factors.values()):
                break
    if cfg.washout is None and len(search.washouts) > 1:
        best = search.best(*kept["sums"], search.washouts)
    n_fit = fit_paths()
    # The ridge carries over per row of the final fit (Search.final_rows): fewer paths, less.
    ridge = best[1] * n_fit / search.n_final
    values = dict(point, ridge=ridge, washout=best[2])
    chosen = {k: values[k] for k in TUNED if getattr(cfg, k) is None}
    record = dict(
        chosen=chosen,
        search=dict(
            trials=len(seen),
            paths=int(search.train[0].shape[0]),
            val_mse=best[0],
            seconds=time.perf_counter() - t0,
        ),
        fit_paths=n_fit,
    )
    return cfg.model_copy(update=chosen), record


def fit_esn(cfg: ESNConfig, data: FitData) -> tuple[ESN, dict]:
    """Choose the unset settings (:func:`tune`), then fit the read-out on every training path."""
    record = {}
    if cfg.unset():
        cfg, record = tune(cfg, data)
    n = record.pop("fit_paths", data.x.shape[0])
    net = draw_reservoir(cfg, data.x.shape[2], data.y.shape[2], data.key)
    net, details = fit_readout(
        net, data.x[:n], data.y[:n], data.valid, ridge=cfg.ridge, washout=cfg.washout,
        chunk=data.batch,
    )  # fmt: skip
    details["paths"] = int(n)
    return net, dict(details, ridge=cfg.ridge, washout=cfg.washout, **record)


FAMILIES.register(
    Family(
        kind="esn",
        config=ESNConfig,
        summary="echo state network, ridge read-out in closed form; unset scalings searched",
        fit=fit_esn,
        skeleton=skeleton,
        states=lambda net, x: net.states(x),
        check=lambda cfg, length: cfg.washout is None or kept_steps(None, length, cfg.washout),
        grow=lambda cfg, train: (
            f"a larger reservoir: model.reservoir = {2 * cfg.reservoir}",
            {"model.reservoir": 2 * cfg.reservoir},
        ),
        examples={"esn": dict(reservoir=30, density=0.5, washout=3, ridge=1e-4)},
    )
)
