"""The doctor's gradient-flow finding judged after training, its remedies, and its words.

A user trial: a GRU on ``x[t-20]`` (ar1, 8 s) reached memory_r2 0.72 with an effective memory
of 20 — the need. Its gradient at lag 20 fell 10⁻⁴ at initialisation and grew 10¹ in training,
yet the doctor called the gradients vanishing ("after training, by 10¹" read as a fall) and
advised an LSTM; ``--fix`` took that to memory_r2 0, and the LSTM's doctor advised the GRU
back. A window of 21 reached 0.99998 in the same budget.
"""

from __future__ import annotations

import numpy as np
import pytest

from lagnet.config import make_config
from lagnet.doctor.checks import check_all, gradient_flow
from lagnet.doctor.findings import Facts, merged_overrides
from lagnet.doctor.flow import flow_summary
from lagnet.doctor.html import capacity_row
from lagnet.doctor.verdict import compose, lines
from lagnet.tasks import build_task


def _flow(decades: float, horizon: int = 20) -> dict:
    state = "vanishing" if decades < -3 else "exploding" if decades > 3 else "healthy"
    return dict(
        slope=decades / horizon,
        decades=decades,
        horizon=horizon,
        reach=40,
        state=state,
        fit=[1, horizon],
    )


def _facts(
    kind: str = "gru",
    formula: str = "x[t-20]",
    *,
    memory_r2: float = 0.72,
    effective: int | None = 20,
    init: dict | None = None,
    trained: dict | None = None,
    true_lag: int | None = 20,
    needed: int = 20,
    length: int = 101,
) -> Facts:
    """The trial's run, its numbers by hand: ar1(rho=0.1), the default 101-step paths."""
    cfg = make_config(
        dict(
            process="ar1(rho=0.1)",
            target=dict(formula=formula, inputs=["x"]),
            model=dict(kind=kind),
            train=dict(length=length),
        )
    )
    target = build_task(cfg, length=cfg.train.length).target
    mem = dict(mse=1.0, r2=0.0, inputs=1)
    metrics = dict(
        test=dict(mse=1 - memory_r2, r2=memory_r2, memory_r2=memory_r2),
        baselines=dict(memoryless=mem),
        target=dict(memory_share=1.0, variance=1.0),
        train=dict(stopped="plateau", steps=5000),
    )
    return Facts(
        cfg, target, metrics, {}, [], true_lag, needed, effective, init, trained, {}, 1.0, 0.0, 1.0
    )


# ------------------------------------------------------------------ 1: judged after training
def test_gradients_that_grow_in_training_are_not_called_vanishing():
    f = _facts(init=_flow(-4.0), trained=_flow(1.0))
    assert gradient_flow(f) is None
    assert "vanishing_gradients" not in [x.code for x in check_all(f)]


def test_an_effective_memory_that_reaches_the_need_is_never_vanishing():
    """Even a flow that falls after training: the model uses the 20 steps the target needs."""
    f = _facts(init=_flow(-4.0), trained=_flow(-4.0), effective=20)
    assert gradient_flow(f) is None
    f = _facts(init=_flow(-4.0), trained=_flow(-4.0), effective=None)  # beyond the oracle
    assert gradient_flow(f) is None


def test_vanishing_before_and_after_training_is_still_a_cause():
    f = _facts(init=_flow(-6.0), trained=_flow(-5.0), effective=1, memory_r2=0.01)
    x = gradient_flow(f)
    assert x is not None and x.code == "vanishing_gradients" and x.severity == "cause"
    assert "falls by 10⁻⁶ at initialisation" in x.message
    assert "it falls by 10⁻⁵ after training" in x.message


def test_without_an_after_training_flow_the_initial_one_decides():
    f = _facts(init=_flow(-6.0), trained=None, effective=1, memory_r2=0.01)
    assert gradient_flow(f).code == "vanishing_gradients"


def test_a_growth_after_training_is_worded_as_growth():
    """A flow that grows 10¹ (here at initialisation, before it vanishes in training) is
    said to grow, never 'falls by … ; by 10¹' — in the finding and in the verdict's line."""
    f = _facts(init=_flow(1.0), trained=_flow(-5.0), effective=1, memory_r2=0.01)
    x = gradient_flow(f)
    assert x is not None and "grows by 10¹ at initialisation" in x.message
    assert "falls by 10¹" not in x.message and "by 10¹" in x.message
    v = "\n".join(lines(compose(f, check_all(f), kmax=32)))
    assert "grow by 10¹" in v and "fall by 10¹" not in v


# ------------------------------------------------------------------ 2: the remedies
def test_a_known_lag_puts_the_window_first_and_no_gru_lstm_loop():
    for kind, other in (("gru", "lstm"), ("lstm", "gru")):
        f = _facts(kind, init=_flow(-6.0), trained=_flow(-5.0), effective=1, memory_r2=0.01)
        x = gradient_flow(f)
        assert x.remedies[0].overrides == {"model.kind": "window", "model.window": 21}
        assert all(r.overrides.get("model.kind") != other for r in x.remedies), x.remedies
        assert merged_overrides(check_all(f))["model.kind"] == "window"  # what --fix takes


def test_a_plain_rnn_may_be_offered_gates_after_the_window():
    f = _facts("rnn", init=_flow(-6.0), trained=_flow(-5.0), effective=1, memory_r2=0.01)
    kinds = [r.overrides.get("model.kind") for r in gradient_flow(f).remedies]
    assert kinds == ["window", "gru", "lstm"]


def test_a_lag_no_sensible_window_can_see_gets_no_window():
    """Past the longest window the doctor advises (1000 lags), a window is no remedy."""
    f = _facts(
        "rnn",
        "x[t-1500]",
        init=_flow(-9.0, 1500),
        trained=_flow(-9.0, 1500),
        effective=1,
        memory_r2=0.01,
        true_lag=1500,
        needed=1500,
        length=3000,
    )
    kinds = [r.overrides.get("model.kind") for r in gradient_flow(f).remedies]
    assert "window" not in kinds and kinds == ["gru", "lstm"]


# ------------------------------------------------------------------ 3: the fall over 1 step
def test_the_fall_over_one_step_is_measured_not_a_slope_over_four():
    g = np.array([1.0, 0.22, 0.1, 0.05, 0.02, 0.01])  # slope over lags 1–4 ≈ −0.34 decades
    s = flow_summary(g, horizon=1, finite_reach=False)
    assert 10 ** s["decades"] == pytest.approx(0.22)  # g(1)/g(0), as "over 1 step" says
    assert s["fit"] == [1, 4] and s["slope"] == pytest.approx(np.log10(0.5), abs=0.1)
    long = flow_summary(0.5 ** np.arange(13), horizon=10, finite_reach=False)
    assert long["fit"] == [1, 10] and long["decades"] == pytest.approx(-3.0103, rel=1e-3)


# ------------------------------------------------------------------ 4: memory capacity
def test_memory_capacity_is_scored_against_the_lags_scored():
    mc = dict(total=201.0, lags=200, state="the 255 inputs it sees", width=255)
    label, value = capacity_row(mc)
    assert value == "201.00 of the 201 lags scored" and "of 255" not in value
    assert "k = 0…200" in label
    assert capacity_row(dict(mc, total=12.3, lags=127, width=64))[1].startswith("12.30 of 64")
