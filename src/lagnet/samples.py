"""What every learner needs, gradient-trained or closed-form: the run's keys, its held-out
sample (pilot paths for the scalings, the validation set), its fixed training sample, the
scalings, and what a fit returns.

Legend: N paths, L time steps, C input channels, O outputs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from lagnet.config import RunConfig
from lagnet.errors import LagnetError
from lagnet.models import Normalised, identity_scaling, predict_batched
from lagnet.tasks import Task

Callback = Callable[[dict], None]


class StopTraining(Exception):
    """Raised by a callback to end training early (a sweep's pruner, a user's own rule): the
    loop stops as after a plateau and keeps the best weights. ``reason`` becomes
    ``metrics["train"]["stopped"]``."""

    def __init__(self, reason: str = "callback"):
        super().__init__(reason)
        self.reason = reason


HISTORY_COLUMNS = ("step", "seconds", "lr", "loss", "val_mse", "val_r2")  # one row a validation


@dataclass
class FitResult:
    """A fitted model in the user's units, its history (one row a validation) and how the fit
    went (``info``: steps, seconds, why it stopped, best validation MSE, …)."""

    model: Normalised
    history: dict[str, list] = field(default_factory=dict)
    info: dict = field(default_factory=dict)


def run_keys(seed: int):
    """The run's independent keys: init, held-out (pilot + validation), training, fixed data."""
    return jax.random.split(jax.random.PRNGKey(seed), 4)


def pilot_sample(cfg: RunConfig, task: Task):
    """One fixed sample of max(pilot_paths, val_paths) paths: the first ``val_paths`` are the
    validation set, the first ``pilot_paths`` fit the scalings. One simulation, one compile
    (two separate samples cost a second compile: 1.5 s of a 10 s budget). Observed data
    serves them from its validation part."""
    n = max(cfg.train.pilot_paths, cfg.train.val_paths)
    return task.part("val").sample(run_keys(cfg.seed)[1], n, cfg.train.length)


def validation_set(cfg: RunConfig, task: Task, sample=None):
    """The fixed validation paths of a run: x (N, L, C), y (N, L, O), valid (L,)."""
    x, y, valid = pilot_sample(cfg, task) if sample is None else sample
    return x[: cfg.train.val_paths], y[: cfg.train.val_paths], valid


def training_sample(cfg: RunConfig, task: Task):
    """The fixed training paths of a closed-form fit, from the run's data key:
    ``train.fixed_paths`` of them if set, else as many as the held-out sample has
    (max(pilot_paths, val_paths), 1000 at the defaults). One simulation shape then serves both,
    and the compile it costs (about a second) is paid once; 1000 paths of 101 steps give
    about 50 000 read-out rows after the default washout, 100 per weight of a 500-unit
    reservoir."""
    n = cfg.train.fixed_paths or max(cfg.train.pilot_paths, cfg.train.val_paths)
    return task.sample(run_keys(cfg.seed)[3], n, cfg.train.length)


def fit_scales(task: Task, cfg: RunConfig, sample=None):
    """Input and target scalings from a pilot sample (identity when normalisation is off).
    ``sample`` = (x, y, valid) of pilot paths; by default the run's ``pilot_sample``."""
    if not cfg.model.normalize:
        return (*identity_scaling(task.c_in), *identity_scaling(task.c_out))
    x, y, valid = pilot_sample(cfg, task) if sample is None else sample
    n = cfg.train.pilot_paths
    x, y = np.asarray(x[:n], np.float64), np.asarray(y[:n], np.float64)
    yv = y[:, np.asarray(valid)]
    f32 = lambda a: jnp.asarray(a, jnp.float32)  # noqa: E731
    x_std, y_std = x.std(axis=(0, 1)), yv.std(axis=(0, 1))
    return (
        f32(x.mean(axis=(0, 1))),
        f32(np.where(x_std > 0, x_std, 1.0)),
        f32(yv.mean(axis=(0, 1))),
        f32(np.where(y_std > 0, y_std, 1.0)),
    )


MAX_NONFINITE = 0.01  # the share of paths a target may be NaN/inf on before a run is refused


EXPLODED = 1e6  # a target this many spreads from its centre is an exploded path, not data


def exploded_paths(y, valid) -> np.ndarray:
    """(N,) bool: paths whose target is NaN, infinite, or more than :data:`EXPLODED` median
    absolute deviations from its median on some valid step (a recursion on its way to
    infinity: its square would overflow the loss before it reached inf)."""
    yv = np.asarray(y, np.float64)[:, np.asarray(valid)]  # (N, L', O)
    bad = ~np.isfinite(yv)
    for o in range(yv.shape[2]):  # each output on its own scale: pooled, a constant output
        finite = yv[..., o][~bad[..., o]]  # (MAD 0 beside a varying one) flagged every path
        if finite.size:
            centre = np.median(finite)
            spread = np.median(np.abs(finite - centre))
            if spread > 0:
                with np.errstate(invalid="ignore"):
                    bad[..., o] |= np.abs(yv[..., o] - centre) > EXPLODED * spread
    return np.any(bad, axis=(1, 2)) if yv.size else np.zeros(yv.shape[0], bool)


def nonfinite_share(held_out) -> float:
    """The share of paths of (x, y, valid) whose target exploded (:func:`exploded_paths`)."""
    bad = exploded_paths(held_out[1], held_out[2])
    return float(np.mean(bad)) if bad.size else 0.0


def check_target_finite(cfg: RunConfig, held_out) -> float:
    """The share of held-out paths on which the target is not finite. Such paths (a recursion
    that explodes on a rare path) are dropped from every batch, loss and metric and counted;
    above :data:`MAX_NONFINITE` the target is the problem, not the model, and the run is
    refused before it starts."""
    return refuse_exploded(cfg.target.formula, held_out)


def check_target(cfg: RunConfig, task: Task) -> None:
    """Refuse a target that is NaN or infinite on the run's pilot paths before anything is
    started or written. Its simulation is compiled once (:func:`lagnet.tasks.simulation`), and
    the fit that follows draws the same paths with it."""
    check_target_finite(cfg, host(pilot_sample(cfg, task)))


def refuse_exploded(formula, sample) -> float:
    """The share of the paths of ``sample`` = (x, y, valid) whose target exploded; above
    :data:`MAX_NONFINITE`, ``formula`` (the target's) is refused in one line."""
    share = nonfinite_share(sample)
    if share > MAX_NONFINITE:
        raise LagnetError(
            "target.formula",
            formula,
            f"is NaN or infinite on {share:.1%} of the process's paths (more than "
            f"{MAX_NONFINITE:.0%}; a sqrt or log of a negative value, a division by zero, or a "
            "recursion that explodes?)",
        )
    return share


def drop_nonfinite(sample):
    """(x, y, valid) without the paths whose target exploded (:func:`exploded_paths`)."""
    x, y, valid = sample
    ok = ~exploded_paths(y, valid)
    if ok.all():
        return sample
    return x[ok], y[ok], valid


def host(sample):
    """A sample (x, y, valid) as NumPy arrays: slicing and arithmetic on the host then compile
    nothing (each eager JAX operation compiles a kernel of its own, 0.05–0.3 s apiece on 2 busy
    cores — most of a closed-form fit's time)."""
    return tuple(np.asarray(a) for a in sample)


def validation_mses(model, data, batch: int = 256) -> np.ndarray:
    """Masked MSE of ``model`` on data = (x, y, valid), per output (O,) — over paths and valid
    steps, as the gradient loop's validation computes it — ``batch`` paths at a time (an
    ESN's states are N·L·H floats), the batch evaluation uses, so the compiled prediction is
    shared."""
    x, y, valid = host(data)
    err = np.asarray(predict_batched(model, x, batch), np.float64) - y
    return np.sum(err[:, valid] ** 2, axis=(0, 1)) / (x.shape[0] * int(valid.sum()))


def output_vars(data) -> np.ndarray:
    """The variance of each output of data = (x, y, valid) over its valid steps: (O,)."""
    y, valid = np.asarray(data[1]), np.asarray(data[2])
    return np.var(y[:, valid], axis=(0, 1))


def error_share(mses, variances) -> float:
    """The validation error as a share of each output's variance, averaged over the outputs
    that vary (NaN when none does): what training minimises on normalised targets, what
    chooses the best weights, and 1 - val R². Pooling the outputs' values into one variance
    made a second output, 100 + x[t-2], read as val R² 0.9999 where the test R² was 0.74."""
    mses, variances = np.asarray(mses, np.float64), np.asarray(variances, np.float64)
    varies = variances > 0
    return float(np.mean(mses[varies] / variances[varies])) if varies.any() else float("nan")


def share_r2(share: float) -> float | None:
    """1 - the :func:`error_share` (the validation R², outputs weighted alike): None when no
    output varies or the predictions are not finite."""
    return 1.0 - share if math.isfinite(share) else None


def choice_score(val_mse: float, share: float) -> float:
    """What chooses the best weights or family, lower better: the :func:`error_share`; the
    MSE when no output varies; +inf for NaN predictions (never the best)."""
    score = val_mse if math.isnan(share) else share
    return math.inf if math.isnan(score) else score
