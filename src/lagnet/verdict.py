"""The verdict: in words, whether a run learned the past, from its metrics (``evaluate``'s
``metrics.json``): a headline, and details that say per output, per baseline and per
horizon what the numbers mean."""

from __future__ import annotations

import numpy as np

from lagnet import optimal as optimum
from lagnet.baselines import MAX_PAIRS
from lagnet.shown import below, percent

IN_SAMPLE_DETAIL = (
    'process.split = "none": the test windows come from the same file, and the same windows, '
    "as the training ones, so these numbers measure fit to this data, not generalisation."
)


def verdict(metrics: dict) -> dict:
    """Say in words whether the past was learned. Returns learned_past (True/False/None),
    a headline and detail sentences."""
    test, base = metrics["test"], metrics["baselines"]
    mr2 = test["memory_r2"]
    details = []
    if not np.isfinite(test["mse"]):
        learned, headline = (
            False,
            "The model's predictions are not finite (NaN or infinite) on the test paths: "
            "nothing was learned that can be scored.",
        )
    elif not np.isfinite(test["r2"]):
        learned, headline = (
            None,
            ("The target does not vary on the test paths, so R² and memory_r2 are undefined."),
        )
    elif mr2 is None and metrics["target"].get("reads_past") is False:
        learned, headline = (
            None,
            "The target needs no memory: it reads only the current values of the model's "
            f"inputs (no lag, no recursion). Test R² {below(test['r2'], 4)}." + behind(metrics),
        )
    elif mr2 is None:
        some_now = any(o.get("reads_past") is False for o in metrics.get("outputs") or [])
        why = (
            "each output reads only the current inputs or is explained by them"
            if some_now  # the memoryless R² averages in an output it need not fit
            else f"the current input alone explains it (memoryless R² "
            f"{below(base['memoryless']['r2'], 5)})"
        )
        learned, headline = (
            None,
            f"The target needs no memory: {why}. Test R² {below(test['r2'], 4)}." + behind(metrics),
        )
    else:
        pct, m3, r2 = percent(mr2), below(mr2, 3), below(test["r2"], 4)
        if mr2 >= 0.9:
            learned = True
            headline = (
                f"The model learned the past: it removed {pct} of the error that "
                f"needs memory (memory_r2 {m3}; test R² {r2})."
            )
        elif mr2 >= 0.5:
            learned = False
            headline = (
                f"The model learned the past only in part: memory_r2 {m3} — it "
                f"removed {pct} of the error that needs memory (test R² {r2})."
            )
        else:
            learned = False
            headline = (
                f"The model did not learn the past: memory_r2 {m3} (test R² "
                f"{r2}, a model that ignores the past gets "
                f"{below(base['memoryless']['r2'], 4)})."
            )
        learned, headline = optimum.judgement(metrics) or (learned, headline)
        details.append(past_share(metrics))
        details += spread(metrics)
    outputs = metrics.get("outputs") or []
    if outputs:
        varying = sum(not constant_output(o) for o in outputs)
        over = f"{len(outputs)} outputs" if varying == len(outputs) else f"the {varying} of"
        over += "" if varying == len(outputs) else f" {len(outputs)} outputs that vary"
        needing = sum(o["memory_r2"] is not None for o in outputs if not constant_output(o))
        if mr2 is not None and needing < varying:  # memory_r2 averages fewer outputs
            over += f"; memory_r2 over the {needing} that need memory"
        headline = f"{headline.rstrip('.')} — averaged over {over}."
        for i, out in enumerate(outputs):
            m = out["memory_r2"]
            name = f"Output {i + 1} ({out['formula']})"
            details.append(
                f"{name} does not vary on the test paths: left out of the averages."
                if constant_output(out)
                else f"{name}: test R² {below(out['r2'], 4)}, "
                + ("needs no memory" if m is None else f"memory_r2 {below(m, 3)}")
                + f", memoryless R² {below(out['memoryless']['r2'], 4)}."
            )
    inputs = base["memoryless"].get("inputs", 1)
    if inputs >= 3 and mr2 is not None:
        details.append(
            f"With {inputs} inputs the memoryless baseline sees each one alone and in pairs"
            + (f" (the {MAX_PAIRS} pairs that interact most)" if inputs > 4 else "")
            + ": what the target draws from three or more current inputs at once (x1·x2·x3) "
            "it books as needing memory."
        )
    details.append(
        f"A linear model on the last {base['linear_lags']['lags']} steps of the inputs reaches "
        f"R² {below(base['linear_lags']['r2'], 4)}."
    )
    details += optimum.details(metrics)
    lh = metrics["long_horizon"]
    if lh["ratio"] is not None:
        ok = lh["ratio"] <= 1.5
        details.append(
            f"On paths {lh['length']} steps long ({lh['length'] // metrics['test']['length']}× "
            f"the test length) the MSE is {lh['ratio']:.2f}× the "
            + (
                "test MSE: it holds up at long horizons."
                if ok
                else "test MSE: the model drifts at long horizons."
            )
        )
    dr = metrics["drift"]
    if dr["ratio"] is not None:
        details.append(
            f"The last 10 steps' MSE is {dr['ratio']:.2f}× that of the median "
            "10-step window"
            + (" (no late-step drift)." if dr["ratio"] <= 1.5 else " — later periods are worse.")
        )
    heavy = (metrics.get("target") or {}).get("note")
    if heavy:  # no finite variance: every number above is a sample's, not the process's
        details.insert(0, f"Note: {heavy}.")
    dropped = metrics["test"].get("nonfinite_paths") or 0
    if dropped:  # every metric is over the rest: say so where the numbers are read
        details.insert(
            0,
            f"{dropped} of {metrics['test']['paths']} test paths were left out: their "
            "target was not finite or exploded (over a million deviations from its median); "
            "every metric is over the rest.",
        )
    if (metrics.get("data") or {}).get("in_sample"):  # every window of one file, everywhere
        headline = f"In-sample fit, not a test: {headline[0].lower()}{headline[1:]}"
        details.insert(0, IN_SAMPLE_DETAIL)
    return dict(learned_past=learned, headline=headline, details=details)


def spread(metrics: dict) -> list[str]:
    """How far memory_r2 could move on other test paths, said when that matters: a 95%
    interval wider than 0.05, or one across a threshold of the verdict (0.5, 0.9) where
    memory_r2 judges it (not the reachable share)."""
    test = metrics["test"]
    lo_hi = test.get("memory_r2_interval")
    if not lo_hi:
        return []
    lo, hi = lo_hi
    judged = test.get("reachable_share") is None
    across = judged and any(lo < edge <= hi for edge in (0.5, 0.9))
    if hi - lo <= 0.05 and not across:
        return []
    said = (
        f"On other test paths memory_r2 could read {below(lo, 3)} to {below(hi, 3)} (95% "
        f"bootstrap over the {test['paths']} test paths)"
    )
    if across:
        said += ": the verdict could read otherwise; more test paths (eval.test_paths) narrow it"
    return [said + "."]


def behind(metrics: dict) -> str:
    """Where the target needs no memory, a model far behind the memoryless baseline (twice its
    MSE, the baseline explaining more than half the variance) has not learned the target:
    sin(3·x[t]) at R² 0.04 against the baseline's 0.99994 read as a plain "Test R² 0.0430"."""
    test, mem = metrics["test"], metrics["baselines"]["memoryless"]
    if not (mem.get("r2", 0) > 0.5 and test.get("mse", 0) > 2 * mem.get("mse", np.inf)):
        return ""
    return (
        " The model is far behind the best function of the current input (R² "
        f"{below(mem['r2'], 4)}): it has not learned the target."
    )


# A memoryless baseline's R² this little below 0 explains none of the variance, no more: a
# pure delay x[t-20] of a Gaussian AR(1) read -0.00003, which was called a heavy tail.
NONE_EXPLAINED = -0.01


def past_share(metrics: dict) -> str:
    """How much of the target's variance the past can explain. With a known optimum, the share
    the best possible predictor explains beyond the current input and the share no predictor
    can remove: on a filtering task 1 - memoryless R² (regime-filter 39.8%) is mostly error no
    one can remove (the Hamilton filter explains 6.3%)."""
    base, opt = metrics["baselines"], metrics["baselines"].get("optimal")
    mem = base["memoryless"]["r2"]
    current = max(mem, 0.0)  # a baseline worse than the mean explains nothing
    if opt:
        past, never = (float(np.clip(v, 0.0, 1.0)) for v in (opt["r2"] - current, 1 - opt["r2"]))
        text = (
            f"The best possible predictor ({opt['name']}) explains {100 * past:.2f}% of the "
            f"target's variance from the past, beyond what the current input explains; "
            f"{100 * never:.2f}% no predictor can remove"
        )
        reachable = metrics["test"].get("reachable_share") is not None
        judge = "the share of the reachable error can" if reachable else "memory_r2 can"
        share = past
    else:
        share = float(np.clip(metrics["target"]["memory_share"], 0.0, 1.0))
        text = f"The part of the target that depends on the past carries {100 * share:.2f}%"
        text += " of its variance"
        judge = "memory_r2 can"
    if mem < NONE_EXPLAINED:  # fitted on its own sample, worse than the test paths' mean
        worse = (
            f"a model that ignores the past, fitted on its own sample, scores R² {mem:.4f} on "
            "the test paths — worse than their mean: the test paths differ from the sample it "
            "was fitted on (a heavy tail's scale, a drift, a test part unlike the training "
            "part), so "
        )
        if opt:
            return f"{text}; {worse}its MSE and R² are unreliable."
        return (
            f"{worse[0].upper()}{worse[1:]}the share of its variance that depends on the past "
            "cannot be read from it, and its MSE and R² are unreliable."
        )
    if share >= 0.1:  # R² itself shows most of a large past-dependent part
        return f"{text}; a model that ignores the past reaches R² {below(current, 4)}."
    return (
        f"{text}; a model that ignores the past reaches R² {below(mem, 4)}, so R² alone cannot "
        f"show whether the past was learned — {judge}."
    )


def constant_output(out: dict) -> bool:
    """An output that does not vary on the test paths: no R², a finite MSE (NaN or infinite
    predictions have no finite MSE; metrics.json stores NaN as null)."""
    r2, mse = (float("nan") if out[k] is None else out[k] for k in ("r2", "mse"))
    return bool(np.isnan(r2) and np.isfinite(mse))
