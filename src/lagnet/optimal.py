"""The optimum beside a filtering task: where the best possible prediction of the target from
the observed past is known, evaluation scores it on the same test paths as the model.

A process declares its optimal filter as the ``optimal`` hook of its
:class:`~lagnet.processes.family.ProcessFamily` (the filters themselves live in
:mod:`lagnet.filters`): the Kalman filter for ``noisy`` (target ``s[t]``), the Hamilton filter
for ``regime`` (``regime[t]``), a point-mass (grid) filter for ``sv`` (``h[t]``; no closed
form exists, and a particle filter of 2000 particles was measured to err by as much as a trained
GRU's gap) and the GARCH recursion for ``garch`` (``sigma2[t]``). Any other formula, a target with several outputs, or a model that
does not see the observed series has no known optimum here, and gets None.

The share of the reachable error a model removed compares it with both ends:

    reachable_share = (MSE_memoryless - MSE_model) / (MSE_memoryless - MSE_optimal)

0 is no better than the best function of the current input, 1 is the optimal filter. It is
memory_r2 rescaled so that the error no model can remove (the optimum's) does not count
against the model. A model can exceed 1 only by chance on a finite test set, or where the
filter itself is approximate (a particle filter's Monte-Carlo error; the grid filter's
quadrature error is below 1e-6).

Legend: N paths, L time steps, C input channels, O outputs.
"""

from __future__ import annotations

import jax
import numpy as np

from lagnet.filters import Optimal
from lagnet.processes.family import PROCESSES
from lagnet.shown import below, percent


def prediction(task, x: np.ndarray, key: jax.Array) -> Optimal | None:
    """The optimal filter's prediction of ``task``'s target on the inputs x (N, L, C), or None
    where it is not known. ``key`` seeds a filter that draws (a particle filter)."""
    kind = getattr(task.process.config, "kind", None)
    if not isinstance(kind, str) or kind not in PROCESSES.names():
        return None
    hook = PROCESSES.get(kind).optimal
    if hook is None or task.target.outputs != 1:
        return None
    observed = {name: np.asarray(x[..., i]) for i, name in enumerate(task.inputs)}  # (N, L) each
    formula = "".join(str(task.target.formula).split())
    return hook(task.process.config, formula, observed, key)


# The reachable part (MSE_memoryless - MSE_optimal) counts as nothing below this share of the
# target's variance, far above float32 rounding (~1e-7 of it) and a fitted filter's own
# error. Divided by a rounding
# residue, a model's share read -6 231 999 450 681.3% (noisy(noise=0): the optimum is x[t]).
NEGLIGIBLE = 1e-4


def reachable_share(
    mse_model: float,
    mse_memoryless: float,
    mse_optimal: float,
    variance: float,
    memory_r2: float | None,
) -> float | None:
    """(MSE_memoryless - MSE_model) / (MSE_memoryless - MSE_optimal); None when memory_r2 is
    (the past is not needed) or when the optimum removes no more than NEGLIGIBLE × the target's
    ``variance`` beyond the memoryless baseline (nothing is reachable)."""
    reachable = mse_memoryless - mse_optimal
    if memory_r2 is None or not np.isfinite(reachable) or not np.isfinite(variance):
        return None
    if reachable <= NEGLIGIBLE * variance:
        return None
    return float((mse_memoryless - mse_model) / reachable)


def entry(opt: Optimal, scores: dict[str, float]) -> dict:
    """``baselines.optimal`` of metrics.json: the filter's name, MSE, R², NRMSE and particles."""
    entry = dict(name=opt.name, mse=scores["mse"], r2=scores["r2"], nrmse=scores["nrmse"])
    if opt.particles is not None:
        entry["particles"] = opt.particles
    return entry


def removed(metrics: dict) -> str | None:
    """What the model removed, against the optimum: "98.1% of the error that the best possible
    predictor (Hamilton filter) removes (memory_r2 …, the optimum's …; test R² …, the
    optimum's …)." None without an optimum or a reachable share."""
    opt, test = (metrics.get("baselines") or {}).get("optimal"), metrics.get("test") or {}
    share = test.get("reachable_share")
    if not opt or share is None or test.get("memory_r2") is None:
        return None
    best = 1 - opt["mse"] / metrics["baselines"]["memoryless"]["mse"]  # the optimum's memory_r2
    return (
        f"{percent(share)} of the error that the best possible predictor ({opt['name']}) "
        f"removes (memory_r2 {below(test['memory_r2'], 3)}, the optimum's {below(best, 3)}; "
        f"test R² {below(test['r2'], 4)}, the optimum's {below(opt['r2'], 4)})."
    )


def judgement(metrics: dict) -> tuple[bool, str] | None:
    """The verdict's headline where the optimum is known: judged by the share of the reachable
    error removed (the same 0.9 and 0.5 thresholds as memory_r2), since on a filtering task even
    the optimal filter leaves most of the memoryless error (its own memory_r2 may be 0.16).
    None without an optimum."""
    said = removed(metrics)
    if said is None:
        return None
    share = metrics["test"]["reachable_share"]
    if share >= 0.9:
        return True, f"The model learned the past as far as it can be learned: it removed {said}"
    if share >= 0.5:
        return False, f"The model learned the past only in part: it removed {said}"
    return False, f"The model did not learn the past: it removed {said}"


def details(metrics: dict) -> list[str]:
    """The verdict's sentence on the gap to the optimal filter (none without one)."""
    opt = metrics["baselines"].get("optimal")
    if not opt:
        return []
    test = metrics["test"]
    share, gap = test.get("reachable_share"), opt["r2"] - test["r2"]
    what = f"{opt['name']}" + (f", {opt['particles']} particles" if opt.get("particles") else "")
    text = (
        f"The best possible prediction from the observed past ({what}) reaches MSE "
        f"{opt['mse']:.4g}, R² {opt['r2']:.4f}; the model's R² is {abs(gap):.4f} "
        + ("below" if gap >= 0 else "above")
        + " it"
    )
    if share is not None:
        text += f" and removed {percent(share)} of the error a model can remove"
    return [text + "."]
