"""The doctor's checks: each a plain function of :class:`~lagnet.doctor.findings.Facts` — the
run's config, metrics, history and recorded evaluations, and what the doctor measured —
returning a :class:`~lagnet.doctor.findings.Finding` (with its remedies) or None.

Example::

    >>> [f.code for f in check_all(facts)]
    ['receptive_field', 'too_few_steps', 'same_target']
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Optional

import numpy as np

from lagnet.config import TrainConfig
from lagnet.doctor.checks_target import no_memory, targets
from lagnet.doctor.findings import PRIORITY, Facts, Finding, Remedy, power_of_ten
from lagnet.models import family
from lagnet.shown import below, percent

FEW_STEPS = 500  # fewer gradient steps than this, not stopped by a plateau: too few
STILL_FALLING = 0.02  # the last quarter of training removed ≥ 2% of the error at stake
WINDOW_LIMIT = 1000  # the longest window advised: an MLP over 1000 lags is still small
PLAIN_RECURRENT = ("rnn",)  # the families that gates (GATED) can help
GATED = ("gru", "lstm")


def receptive_field(model) -> Optional[int]:
    """Inputs a model of this config sees at each step (None: unbounded, a recurrence), as its
    family declares. A window or NARX left unset looks back the formula's largest lag
    (``Task.memory_hint``), so it is never short on a formula of the inputs; on a latent or
    recursive target it looks back 10 steps (``models.family.default_window``)."""
    return family(model.kind).reach(model)


def short_field(f: Facts) -> Optional[Finding]:
    m, rf, lag = f.cfg.model, receptive_field(f.cfg.model), f.target.max_lag
    fam = family(m.kind)
    if rf is None or rf > lag or fam.widen is None:
        return None
    need = lag + 1
    setting, text, overrides = fam.widen(m, need)
    return Finding(
        "receptive_field",
        "cause",
        f"The model sees only the last {rf} input(s) ({setting}), but the target reads "
        f"{lag} steps back: it needs the last {need}. Memory longer than the receptive field "
        "cannot be learned by any amount of training.",
        [
            Remedy(text, overrides),
            Remedy("a recurrent model: model.kind = gru", {"model.kind": "gru"}),
        ],
    )


def unnormalised(f: Facts) -> Optional[Finding]:
    if f.cfg.model.normalize or not family(f.cfg.model.kind).trained:
        return None
    bad = []
    if not 0.1 <= f.y_std <= 10 or abs(f.y_mean) > 10 * max(f.y_std, 1.0):
        bad.append(f"the target has mean {f.y_mean:.4g} and standard deviation {f.y_std:.4g}")
    if not 0.1 <= f.x_std <= 10:
        bad.append(f"the inputs' standard deviation is {f.x_std:.4g}")
    if not bad:
        return None
    return Finding(
        "unnormalised",
        "cause",
        f"Normalisation is off (model.normalize = false) and {' and '.join(bad)}: a network "
        "initialised for unit scale spends its training on the scale, the loss is dominated "
        "by it, and the small part that needs the past is lost in the gradient noise.",
        [Remedy("normalise inputs and target: model.normalize = true", {"model.normalize": True})],
    )


def _flow_remedies(f: Facts, h: int) -> list[Remedy]:
    """A window over the formula's known lag needs no gradient through time, so it comes
    first (a GRU at memory_r2 0.72 on x[t-20]; a window of 21: 0.99998 in the same budget).
    Gates only from a plain RNN: a GRU → LSTM switch took that run to 0, then back again."""
    need, kind = h + 1, f.cfg.model.kind
    window = [
        Remedy(
            f"window ≥ {need} (sees the lags directly): model.kind = window, model.window = {need}",
            {"model.kind": "window", "model.window": need},
        )
    ]
    if need > min(WINDOW_LIMIT, f.cfg.train.length):
        window = []
    gated = [
        Remedy(f"{k.upper()} (gates keep gradients alive): model.kind = {k}", {"model.kind": k})
        for k in (GATED if kind in PLAIN_RECURRENT else ())
    ]
    # The lag oracle's estimate (a recursive target): gates first unless it is long — past
    # ~20 steps even gated recurrences learn a pure delay slowly.
    return [*window, *gated] if f.true_lag is not None or h > 20 else [*gated, *window]


def _change(flow: dict) -> str:
    """Falls by 10⁻⁶, or grows by 10¹: a growth is never read as a fall."""
    verb = "falls" if flow["decades"] < 0 else "grows"
    return f"{verb} by {power_of_ten(flow['decades'])}"


def _vanishes(f: Facts, h: int) -> bool:
    """Judged after training where that was measured (a GRU's gradient at lag 20 fell 10⁻⁴
    at initialisation, grew 10¹ in training, and it learned the lag), never where the
    effective memory reaches the need (None: beyond every lag the oracle tried)."""
    init, trained = f.flow_init, f.flow_trained
    if f.effective is None or f.effective >= h:
        return False
    if trained is None or trained["decades"] is None:
        return init is not None and init["state"] == "vanishing"
    return trained["state"] == "vanishing"


def gradient_flow(f: Facts) -> Optional[Finding]:
    if not family(f.cfg.model.kind).recurrent or f.learned or f.memory_r2 is None:
        return None
    h = f.memory or 1
    init, trained = f.flow_init, f.flow_trained
    if _vanishes(f, h):
        said = []
        for when, x in (("at initialisation", init), ("after training", trained)):
            if x is not None and x["decades"] is not None:
                a, b = x.get("fit") or (1, h)
                slope = x["slope"]
                fit = (
                    f" ({slope:.2f} decades a step over lags {a}–{b})" if slope is not None else ""
                )
                said.append(("it " if said else "") + f"{_change(x)} {when}{fit}")
        return Finding(
            "vanishing_gradients",
            "cause",
            f"Gradients through time vanish: over the {h} steps the target looks back "
            f"‖∂y_t/∂x_(t−k)‖ {'; '.join(said)}, so training gets almost no signal from the "
            f"input {h} steps back.",
            _flow_remedies(f, h),
        )
    for when, flow in (("at initialisation", init), ("after training", trained)):
        if flow is not None and flow["state"] == "exploding":
            lr = f.cfg.train.lr / 3
            return Finding(
                "exploding_gradients",
                "warning",
                f"Gradients through time explode {when}: they grow by "
                f"{power_of_ten(flow['decades'])} over {h} steps.",
                [
                    Remedy(f"a smaller learning rate: train.lr = {lr:.3g}", {"train.lr": lr}),
                    *_flow_remedies(f, h)[:1],
                ],
            )
    return None


def linear_head(f: Facts) -> Optional[Finding]:
    m = f.cfg.model
    if not family(m.kind).saturating(m) or (m.head and m.head_activation != "identity"):
        return None
    what = "linear (model.head = [])" if not m.head else "without a nonlinearity"
    return Finding(
        "linear_head",
        "warning",
        f"The head is {what} after a saturating recurrence: the output is a linear function "
        "of tanh-bounded states" + (" and of x[t]" if m.skip else "") + ", so every "
        "nonlinearity of the target (a square, a product) must be built inside the "
        "recurrence, which must also carry the past.",
        [
            Remedy(
                "an MLP head: model.head = [64], model.head_activation = silu",
                {"model.head": [64], "model.head_activation": "silu"},
            )
        ],
    )


def short_sequence(f: Facts) -> Optional[Finding]:
    length, warmup = f.cfg.train.length, f.target.warmup
    washout = getattr(f.cfg.model, "washout", 0)  # steps a reservoir's read-out skips
    need = warmup + washout
    if length - need >= 0.25 * length and length > need:
        return None
    better = max(2 * length, 4 * need + 10)
    extra = f", plus the reservoir's washout of {washout}" if washout else ""
    return Finding(
        "short_sequence",
        "cause" if length <= need else "warning",
        f"Sequences are {length} steps long and the target is undefined for the first "
        f"{warmup} (its largest lag{extra}): only {max(length - need, 0)} steps per path "
        "carry a loss.",
        [Remedy(f"longer sequences: train.length = {better}", {"train.length": better})],
    )


def optimiser(f: Facts) -> Optional[Finding]:
    if not family(f.cfg.model.kind).trained:
        return None
    tc, default = f.cfg.train, TrainConfig()
    info = f.metrics.get("train") or {}
    problems, fixes = [], {}
    if info.get("stopped") == "diverged" or (info.get("divergences") or 0) > 0:
        problems.append(
            f"training diverged {info.get('divergences') or 1} time(s) at train.lr = {tc.lr:g}"
        )
        fixes["train.lr"] = min(tc.lr / 3, default.lr)
    elif not default.lr / 10 <= tc.lr <= default.lr * 10:
        problems.append(f"train.lr = {tc.lr:g} is far from the default {default.lr:g}")
        fixes["train.lr"] = default.lr
    if not default.batch / 8 <= tc.batch <= default.batch * 8:
        problems.append(f"train.batch = {tc.batch} is far from the default {default.batch}")
        fixes["train.batch"] = default.batch
    if not problems:
        return None
    text = ", ".join(f"{k} = {v:g}" for k, v in fixes.items())
    return Finding(
        "optimiser",
        "warning",
        "; ".join(problems).capitalize() + ".",
        [Remedy(f"the defaults: {text}", fixes)],
    )


def still_falling(history: dict, scale: float) -> bool:
    """The best validation MSE of the last quarter of validations beat the best before it by
    ≥ STILL_FALLING × ``scale`` (the error at stake)."""
    val = [v for v in history.get("val_mse", []) if v is not None and np.isfinite(v)]
    if len(val) < 2 or not scale > 0:
        return False
    m = max(1, len(val) // 4)
    return (min(val[:-m]) - min(val[-m:])) >= STILL_FALLING * scale


def too_few_steps(f: Facts) -> Optional[Finding]:
    info = f.metrics.get("train") or {}
    if not family(f.cfg.model.kind).trained or info.get("stopped") not in ("steps", "max_seconds"):
        return None
    base = (f.metrics.get("baselines") or {}).get("memoryless") or {}
    scale = (
        base.get("mse")
        if f.memory_r2 is not None
        else (f.metrics.get("target") or {}).get("variance")
    )
    steps = int(info.get("steps") or 0)
    falling = still_falling(f.history, scale or 0.0)
    if not falling and steps >= FEW_STEPS:
        return None
    why = (
        "the validation error was still falling when it stopped"
        if falling
        else f"fewer than {FEW_STEPS} steps, and no plateau was reached"
    )
    more = min(max(4 * steps, 2000), 100_000)
    overrides: dict[str, Any] = {"train.steps": more}
    if info.get("stopped") == "max_seconds" and f.cfg.train.max_seconds:
        overrides = {"train.max_seconds": 4 * f.cfg.train.max_seconds}
    return Finding(
        "too_few_steps",
        "warning",
        f"Too few training steps: {steps} taken ({why}).",
        [
            Remedy(
                "train longer: " + ", ".join(f"{k} = {v:g}" for k, v in overrides.items()),
                overrides,
            )
        ],
    )


def long_horizon(f: Facts) -> Optional[Finding]:
    h, length = f.horizon, f.cfg.train.length
    factor = h.get("length", 10 * length) // length
    if h.get("state") == "unstable":
        return Finding(
            "long_horizon",
            "warning",
            f"On paths {factor}× the training length the model is unstable: the error per step "
            + (
                "becomes non-finite."
                if not h.get("finite")
                else f"over its last tenth is {h['last_ratio']:.3g}× that inside the training "
                "length."
            ),
            [
                Remedy(
                    f"train on longer paths: train.length = {2 * length}",
                    {"train.length": 2 * length},
                )
            ],
        )
    if h.get("state") == "drifts":
        return Finding(
            "long_horizon",
            "warning",
            f"The error drifts beyond the training length: steps after {length} have "
            f"{h['drift_ratio']:.2f}× the MSE of those inside it.",
            [
                Remedy(
                    f"train on longer paths: train.length = {2 * length}",
                    {"train.length": 2 * length},
                )
            ],
        )
    warmup = h.get("warmup_steps")
    if warmup is not None and warmup >= max(5, length // 4):
        return Finding(
            "warm_up",
            "note",
            f"The model takes about {warmup} steps to warm up: the error in the first {warmup} "
            f"valid steps of a path is above its settled level (of {length} steps in training).",
        )
    return None


def hidden_inputs(f: Facts) -> Optional[Finding]:
    unseen = [s for s in f.target.series if s not in f.cfg.target.inputs]
    if not unseen:
        return None
    opt = f.optimal
    if opt is None:
        keeps = "the error the lag oracle shows at its longest lag"
    else:  # the oracle's look-back is finite: a filter can beat it (sv: 0.333 vs 0.377)
        share = opt["mse"] / f.metrics["baselines"]["memoryless"]["mse"]
        keeps = f"the error of the best possible predictor ({opt['name']}): MSE {opt['mse']:.4g}"
        keeps += f", {percent(share)} of the memoryless baseline's"
    return Finding(
        "hidden_inputs",
        "note",
        f"The target reads {', '.join(unseen)}, which the model does not see: even "
        f"a perfect model keeps {keeps}.",
    )


def small_share(f: Facts) -> Optional[Finding]:
    share = (f.metrics.get("target") or {}).get("memory_share")
    if f.memory_r2 is None or share is None or share >= 0.05:
        return None
    return Finding(
        "small_memory_share",
        "note",
        f"The part of the target that needs the past carries only {100 * share:.2f}% of its "
        f"variance: a model that ignores the past still scores R² {1 - share:.4f}, so R² "
        f"hides it — memory_r2 ({below(f.memory_r2, 3)}) does not.",
    )


def capacity(found: list[Finding], f: Facts) -> Optional[Finding]:
    """The fallback when the past was not learned and nothing above explains it."""
    if f.learned or f.memory_r2 is None or any(x.severity != "note" for x in found):
        return None
    m = f.cfg.model
    grow = family(m.kind).grow
    remedies = [Remedy(*grow(m, f.cfg.train))] if grow is not None else []
    return Finding(
        "capacity",
        "warning",
        "No configuration problem explains it: the model may be too small or trained too "
        "briefly for this target.",
        remedies,
    )


CHECKS: tuple[Callable[[Facts], Optional[Finding]], ...] = (
    targets,
    no_memory,
    short_field,
    unnormalised,
    gradient_flow,
    linear_head,
    short_sequence,
    optimiser,
    too_few_steps,
    long_horizon,
    hidden_inputs,
    small_share,
)


def check_all(f: Facts) -> list[Finding]:
    """Every finding, most fundamental first."""
    found = [x for x in (check(f) for check in CHECKS) if x is not None]
    fallback = capacity(found, f)
    if fallback is not None:
        found.append(fallback)
    return sorted(found, key=lambda x: PRIORITY.index(x.code))
