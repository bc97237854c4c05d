"""Metrics that tell the truth, as pure functions, and ``evaluate`` which applies them to a
trained model on a fixed, seeded test set.

Besides MSE, RMSE, NRMSE and R², every evaluation reports the memoryless baseline — the best
prediction from the current input alone — and ``memory_r2 = 1 - MSE_model / MSE_memoryless``:
the share of the past-dependent error the model removed. R² on the whole target hides a lag
term that carries 1% of the variance; memory_r2 does not.

With several outputs (O > 1) every metric is computed per output (``metrics["outputs"]``)
and the headline numbers average them: MSE is the mean of the outputs' MSEs (the pooled MSE),
RMSE its square root, R² and NRMSE the means of the outputs' (as scikit-learn's
``multioutput="uniform_average"``), memory_r2 the mean over the outputs that need memory.
Pooling R² over outputs would count the differences between their means as explained variance.

Legend: N paths, L time steps, C input channels, O outputs. All metrics use valid steps only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import jax
import numpy as np

from lagnet import optimal as optimum
from lagnet.baselines import LinearLagsBaseline as LinearLagsBaseline
from lagnet.baselines import MemorylessBaseline as MemorylessBaseline
from lagnet.config import EvalConfig
from lagnet.errors import LagnetError
from lagnet.intervals import memory_r2_interval
from lagnet.models import predict_batched
from lagnet.samples import drop_nonfinite, host, nonfinite_share, refuse_exploded
from lagnet.tasks import Task
from lagnet.verdict import constant_output
from lagnet.verdict import verdict as verdict

# Memoryless R² at which memory_r2 is meaningless (null): the past carries less than 1e-6 of
# the variance, about float32's resolution of a model's error. A target that reads only current
# inputs is null by its formula (Target.reads_only_now); at 0.9999 a lag term of weight 0.005,
# x[t]**2 + 0.005*x[t-1]**2 (2.5e-5 of the variance), read "needs no memory" beside a model
# that had removed 39% of the error the baseline left.
MEMORYLESS_ENOUGH = 0.999999


# ----------------------------------------------------------------------------- metrics
LINEAR_LAGS_MAX = 64


def regression_metrics(y: np.ndarray, y_hat: np.ndarray) -> dict[str, float]:
    """MSE, RMSE, NRMSE (RMSE / std of y) and R² of flat arrays, pooled over all outputs."""
    y, y_hat = np.asarray(y, np.float64).ravel(), np.asarray(y_hat, np.float64).ravel()
    mse = float(np.mean((y - y_hat) ** 2))
    var = float(np.var(y))
    return dict(
        mse=mse,
        rmse=float(np.sqrt(mse)),
        nrmse=float(np.sqrt(mse / var)) if var > 0 else float("nan"),
        r2=1.0 - mse / var if var > 0 else float("nan"),
    )


def output_metrics(y: np.ndarray, y_hat: np.ndarray, valid: np.ndarray) -> list[dict[str, float]]:
    """``regression_metrics`` of each output over the valid steps of (N, L, O) arrays."""
    valid = np.asarray(valid, bool)
    y, y_hat = np.asarray(y)[:, valid], np.asarray(y_hat)[:, valid]  # (N, L_valid, O)
    return [regression_metrics(y[..., o], y_hat[..., o]) for o in range(y.shape[-1])]


def average_metrics(per_output: list[dict[str, float]]) -> dict[str, float]:
    """The headline of per-output metrics: mean MSE, its root, and the mean NRMSE and R² of
    the outputs that vary (an output constant on the test paths has neither: averaged in, it
    made every headline number NaN)."""
    if len(per_output) == 1:
        return dict(per_output[0])
    mse = float(np.mean([m["mse"] for m in per_output]))

    def mean_defined(name: str) -> float:
        values = [m[name] for m in per_output if not constant_output(m)]
        return float(np.mean(values)) if values else float("nan")

    return dict(
        mse=mse, rmse=float(np.sqrt(mse)), nrmse=mean_defined("nrmse"), r2=mean_defined("r2")
    )


def valid_metrics(y: np.ndarray, y_hat: np.ndarray, valid: np.ndarray) -> dict[str, float]:
    """``regression_metrics`` over the valid steps of (N, L, O) arrays, averaged over outputs."""
    return average_metrics(output_metrics(y, y_hat, valid))


def per_step_mse(y: np.ndarray, y_hat: np.ndarray, valid: np.ndarray) -> list[float | None]:
    """MSE at each time step over paths and outputs (so outputs on a larger scale weigh more);
    None where the target is undefined."""
    se = np.mean((np.asarray(y, np.float64) - np.asarray(y_hat, np.float64)) ** 2, axis=(0, 2))
    return [float(v) if ok else None for v, ok in zip(se, np.asarray(valid, bool))]


def memory_r2(mse_model: float, mse_memoryless: float, r2_memoryless: float) -> float | None:
    """1 - MSE_model / MSE_memoryless; None when the current input already explains the target."""
    if not np.isfinite(r2_memoryless) or r2_memoryless >= MEMORYLESS_ENOUGH or mse_memoryless <= 0:
        return None
    return 1.0 - mse_model / mse_memoryless


def memory_share(r2_memoryless: float) -> float:
    """1 - memoryless R², in [0, 1]: the share of the target's variance that the current input
    does not explain. A baseline worse than the test paths' mean (R² < 0: fitted on another
    sample of a heavy-tailed target) explains none of it, not a negative part (it read 190%)."""
    return float(np.clip(1.0 - r2_memoryless, 0.0, 1.0))


def variance_note(task: Task) -> str | None:
    """The process's line on a target whose second moment does not exist (GARCH beyond its
    fourth-moment condition: ``GARCH.variance_note``), or None."""
    note = getattr(task.process, "variance_note", None)
    return None if note is None else note(task.target.series)


def drift_check(steps: list[float | None], block: int = 10) -> dict:
    """Late-step drift: the MSE of the last ``block`` valid steps against the median over all
    ``block``-step windows (ending at the last step) of their MSE.

    Windows, not single steps, are compared with the last window: per-step MSEs of a model with
    rare large errors are right-skewed, so the median single step sits below a 10-step mean
    even when nothing drifts (measured: a 1.5× ratio from skew alone on a model that holds at
    10× the length)."""
    finite = np.array([v for v in steps if v is not None], np.float64)
    if finite.size == 0:
        return dict(last10_mse=None, median_step_mse=None, median_window_mse=None, ratio=None)
    n = finite.size // block
    windows = (
        finite[finite.size - n * block :].reshape(n, block).mean(axis=1) if n else finite[-block:]
    )
    last = float(finite[-block:].mean())
    median = float(np.median(windows))
    return dict(
        last10_mse=last,
        median_step_mse=float(np.median(finite)),
        median_window_mse=median,
        ratio=last / median if median > 0 else None,
    )


# ----------------------------------------------------------------------------- evaluate
@dataclass
class Evaluation:
    metrics: dict
    predictions: dict  # arrays for plots: x, y, y_hat, y_memoryless, valid, input_names


@dataclass
class TestSet:
    """What an evaluation needs that does not depend on the model: the test paths, the
    long-horizon paths, and the baselines' predictions on the test paths. ``prepare_test``
    makes it; a run makes it while the model trains."""

    x: np.ndarray  # (N, L, C) test inputs, paths with a non-finite target dropped
    y: np.ndarray  # (N, L, O)
    valid: np.ndarray  # (L,)
    paths: int  # asked for (dropped = paths - N)
    long: tuple  # xl, yl, vl: cfg.long_paths paths cfg.long_factor times longer
    y_mem: np.ndarray  # the memoryless baseline's prediction of y
    y_lin: np.ndarray  # the linear-lags baseline's
    lags: int
    optimal: object  # optimum.prediction(...) or None
    seconds: float = 0.0  # to make it (in a run, beside the fit)


def baseline_lags(task: Task, cfg: EvalConfig, length: int) -> int:
    """The lags the linear-lags baseline reads: ``cfg.linear_lags``, or by default the
    formula's, at most LINEAR_LAGS_MAX (its design matrix is paths × L × lags floats; at lag
    1000 that would be tens of GB). Refused, naming the setting to change, when the paths are
    not longer than that: checked before a run starts."""
    lags = cfg.linear_lags or min(max(task.target.max_lag + 1, 2), LINEAR_LAGS_MAX)
    if lags >= length:
        if cfg.linear_lags:  # set by the user
            raise LagnetError("eval.linear_lags", lags, f"must be below the path length ({length})")
        raise LagnetError(  # the default lags: the length is what to change
            "train.length",
            length,
            f"must be above {lags}: the linear-lags baseline reads {lags} lags",
        )
    return lags


def prepare_test(task: Task, cfg: EvalConfig, length: int, paths: int | None = None) -> TestSet:
    """The model-free part of :func:`evaluate`: a fixed set of ``cfg.test_paths`` paths from
    ``cfg.seed`` (independent of the training seed; observed data: windows of its test part),
    the memoryless and linear-lags baselines fitted on a fresh sample (of the training part)
    and their predictions, the optimal filter's where it is known, and the long-horizon
    paths."""
    t0 = time.perf_counter()
    paths = cfg.test_paths if paths is None else paths
    lags = baseline_lags(task, cfg, length)
    k_test, k_base, k_long = jax.random.split(jax.random.PRNGKey(cfg.seed), 3)
    test_task = task.part("test")  # observed data: its held-out test part (or second file)

    def finite(sample):  # paths whose target exploded are dropped and counted; a target
        if nonfinite_share(sample) == 1.0:  # finite on none is refused (training: at 1%)
            refuse_exploded(task.target.formula, sample)
        return drop_nonfinite(sample)

    x, y, valid = finite(host(test_task.sample(k_test, paths, length)))
    # Baselines, fitted on their own sample, scored on the test set.
    xb, yb, vb = finite(host(task.sample(k_base, cfg.baseline_paths, length)))
    memoryless = MemorylessBaseline().fit(
        xb[:, vb].reshape(-1, xb.shape[2]), yb[:, vb].reshape(-1, yb.shape[2])
    )
    y_mem = memoryless.predict(x.reshape(-1, x.shape[2])).reshape(y.shape)
    y_lin = LinearLagsBaseline(lags).fit(xb, yb, vb).predict(x)
    # The optimal filter where it is known, on the same test paths (its key is its own).
    optimal = optimum.prediction(task, x, jax.random.fold_in(k_test, 1))
    long_len = length * cfg.long_factor
    long = drop_nonfinite(host(test_task.sample(k_long, cfg.long_paths, long_len)))
    seconds = time.perf_counter() - t0
    return TestSet(x, y, valid, paths, long, y_mem, y_lin, lags, optimal, seconds)


def evaluate(
    model,
    task: Task,
    cfg: EvalConfig,
    length: int,
    *,
    paths: int | None = None,
    keep: int = 200,
    test: TestSet | None = None,
) -> Evaluation:
    """Test ``model`` on ``task``: on the test set of :func:`prepare_test` (``test``: one made
    already, for this task, config and length), against its baselines: MSE per time step,
    memory_r2, and a long-horizon check on paths ``cfg.long_factor`` times longer."""
    ts = prepare_test(task, cfg, length, paths) if test is None else test
    x, y, valid, paths, lags = ts.x, ts.y, ts.valid, ts.paths, ts.lags
    test_task = task.part("test")
    dropped = paths - x.shape[0]
    y_hat = predict_batched(model, x, pad=True)
    test_out = output_metrics(y, y_hat, valid)
    test = average_metrics(test_out)
    y_mem = ts.y_mem
    mem_out = output_metrics(y, y_mem, valid)
    mem = average_metrics(mem_out)
    lin_out = output_metrics(y, ts.y_lin, valid)
    lin = average_metrics(lin_out)

    now = task.target.reads_only_now(task.inputs)  # needs no memory, by its formula
    mem_r2s = [
        None if n else memory_r2(t["mse"], m["mse"], m["r2"])
        for t, m, n in zip(test_out, mem_out, now)
    ]
    needing = [v for v in mem_r2s if v is not None]
    test["memory_r2"] = float(np.mean(needing)) if needing else None
    if needing:  # how far it could move on other test paths
        wanted = [v is not None for v in mem_r2s]
        test["memory_r2_interval"] = memory_r2_interval(y, y_hat, y_mem, valid, wanted)
    test.update(paths=paths, length=length, nonfinite_paths=dropped)
    optimal = ts.optimal
    opt = None if optimal is None else valid_metrics(y, optimal.y, valid)
    variances = [float(np.var(y[:, valid, o])) for o in range(y.shape[2])]
    if opt is not None:
        test["reachable_share"] = optimum.reachable_share(
            test["mse"], mem["mse"], opt["mse"], float(np.mean(variances)), test["memory_r2"]
        )

    steps = per_step_mse(y, y_hat, valid)
    drift = drift_check(steps)

    long_len = length * cfg.long_factor
    xl, yl, vl = ts.long
    long_out = output_metrics(yl, predict_batched(model, xl), vl)
    long = average_metrics(long_out)

    metrics = dict(
        test=test,
        baselines=dict(
            memoryless=dict(mse=mem["mse"], r2=mem["r2"], inputs=int(x.shape[2])),
            linear_lags=dict(mse=lin["mse"], r2=lin["r2"], lags=lags),
            **({} if opt is None else {"optimal": optimum.entry(optimal, opt)}),
        ),
        per_step_mse=steps,
        per_step_mse_memoryless=per_step_mse(y, y_mem, valid),
        drift=drift,
        long_horizon=dict(
            length=long_len,
            paths=cfg.long_paths,
            mse=long["mse"],
            r2=long["r2"],
            ratio=long["mse"] / test["mse"] if test["mse"] > 0 else None,
        ),
        target=dict(
            formula=task.target.formula,
            max_lag=task.target.max_lag,
            reads_past=not all(now),  # else every output reads only the current inputs
            outputs=task.target.outputs,
            variance=float(np.mean(variances)),
            # none of an output that reads only the current inputs depends on the past
            memory_share=float(
                np.mean([0.0 if n else memory_share(m["r2"]) for n, m in zip(now, mem_out)])
            ),
        ),
    )
    heavy = variance_note(task)
    if heavy is not None:  # a target with no finite variance: the verdict says so first
        metrics["target"]["note"] = heavy
    split = test_task.process.describe_split(length)
    if split is not None:
        metrics["data"] = split  # which windows trained, validated and tested
    if task.target.outputs > 1:
        metrics["outputs"] = [
            dict(
                formula=f,
                **t,
                memory_r2=r,
                memoryless=dict(mse=m["mse"], r2=m["r2"]),
                linear_lags=dict(mse=li["mse"], r2=li["r2"]),
                long_horizon=dict(mse=lo["mse"], r2=lo["r2"]),
                variance=v,
                memory_share=0.0 if n else memory_share(m["r2"]),
                reads_past=not n,
            )
            for f, t, r, m, li, lo, v, n in zip(
                task.target.formulas, test_out, mem_r2s, mem_out, lin_out, long_out, variances, now
            )
        ]
    keep = min(keep, paths)
    predictions = dict(
        x=x[:keep],
        y=y[:keep],
        y_hat=y_hat[:keep],
        y_memoryless=y_mem[:keep],
        valid=valid,
        input_names=np.array(task.inputs),
    )
    return Evaluation(metrics=metrics, predictions=predictions)
