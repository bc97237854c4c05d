"""Metrics against scikit-learn and mathematics; baselines on functions with known answers."""

import numpy as np
import pytest
from sklearn.metrics import mean_squared_error, r2_score

from lagnet.evaluation import (
    LinearLagsBaseline,
    MemorylessBaseline,
    drift_check,
    memory_r2,
    per_step_mse,
    regression_metrics,
    valid_metrics,
    verdict,
)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def test_metrics_match_sklearn(rng):
    y = rng.normal(size=500) ** 2
    y_hat = y + rng.normal(scale=0.3, size=500)
    m = regression_metrics(y, y_hat)
    assert m["mse"] == pytest.approx(mean_squared_error(y, y_hat), rel=1e-12)
    assert m["rmse"] == pytest.approx(np.sqrt(mean_squared_error(y, y_hat)), rel=1e-12)
    assert m["r2"] == pytest.approx(r2_score(y, y_hat), rel=1e-12)
    assert m["nrmse"] == pytest.approx(np.sqrt(mean_squared_error(y, y_hat)) / np.std(y), rel=1e-12)


def test_valid_metrics_ignore_invalid_steps(rng):
    y = rng.normal(size=(20, 10, 1))
    y_hat = y + 0.1 * rng.normal(size=y.shape)
    y_hat[:, :3] = 1e6  # garbage at undefined steps must not count
    valid = np.arange(10) >= 3
    m = valid_metrics(y, y_hat, valid)
    assert m["r2"] == pytest.approx(r2_score(y[:, 3:].ravel(), y_hat[:, 3:].ravel()))
    steps = per_step_mse(y, y_hat, valid)
    assert steps[:3] == [None, None, None]
    assert steps[5] == pytest.approx(mean_squared_error(y[:, 5, 0], y_hat[:, 5, 0]))


def test_memory_r2():
    assert memory_r2(0.01, 0.1, 0.9) == pytest.approx(0.9)
    assert memory_r2(0.01, 0.1, 0.9999995) is None  # the input alone explains the target
    # a lag term of 2.5e-5 of the variance (x[t]**2 + 0.005*x[t-1]**2) is still memory
    assert memory_r2(3.146e-05, 5.121e-05, 0.99998) == pytest.approx(0.3857, abs=1e-4)
    assert memory_r2(0.2, 0.1, 0.5) == pytest.approx(-1.0)  # worse than ignoring the past


def test_memoryless_baseline_finds_conditional_mean(rng):
    """y = x² + 0.5·sin(3x) + noise independent of x: the baseline's MSE is the noise variance."""
    x = rng.normal(size=(200_000, 1))
    noise = rng.normal(scale=0.2, size=(200_000, 1))
    y = x**2 + 0.5 * np.sin(3 * x) + noise
    base = MemorylessBaseline().fit(x, y)
    xt = rng.normal(size=(20_000, 1))
    err = base.predict(xt) - (xt**2 + 0.5 * np.sin(3 * xt))
    assert np.mean(err**2) < 0.01 * 0.04  # under 1% of the noise variance
    # past the fitted range it keeps the polynomial trend rather than going flat
    assert base.predict(np.array([[6.0]]))[0, 0] == pytest.approx(36.0, rel=0.15)


def test_memoryless_baseline_two_inputs(rng):
    x = rng.normal(size=(100_000, 2))
    y = (x[:, :1] * x[:, 1:]) + x[:, :1] ** 2
    base = MemorylessBaseline().fit(x, y)
    assert np.mean((base.predict(x) - y) ** 2) < 1e-6


def test_linear_lags_baseline_recovers_coefficients(rng):
    x = rng.normal(size=(300, 50, 1))
    y = 0.5 + 2.0 * x - 0.7 * np.pad(x, ((0, 0), (2, 0), (0, 0)))[:, :50]
    valid = np.arange(50) >= 2
    base = LinearLagsBaseline(3).fit(x, y, valid)
    np.testing.assert_allclose(base.coef[:, 0], [0.5, 2.0, 0.0, -0.7], atol=1e-10)


def test_drift_check_compares_windows():
    flat = [None] + [1.0] * 100
    assert drift_check(flat)["ratio"] == pytest.approx(1.0)
    rising = [None] + list(np.linspace(1, 5, 100))  # last window 4.8 vs median 3.0
    assert drift_check(rising)["ratio"] > 1.5


def _metrics(mr2, mem_r2=0.99):
    return dict(
        test=dict(mse=0.001, r2=0.999, memory_r2=mr2, length=101),
        baselines=dict(memoryless=dict(r2=mem_r2), linear_lags=dict(r2=0.0, lags=2)),
        target=dict(memory_share=1 - mem_r2),
        long_horizon=dict(length=1010, ratio=1.1),
        drift=dict(ratio=0.9),
    )


def test_verdict_words():
    assert verdict(_metrics(0.95))["learned_past"] is True
    v = verdict(_metrics(0.2))
    assert v["learned_past"] is False and "did not learn the past" in v["headline"]
    assert "only in part" in verdict(_metrics(0.7))["headline"]
    v = verdict(_metrics(None, 0.99999))
    assert v["learned_past"] is None and "needs no memory" in v["headline"]
    assert any("1.00% of its variance" in d for d in verdict(_metrics(0.95))["details"])
    assert any("(10× the test length)" in d for d in verdict(_metrics(0.95))["details"])
    undefined = _metrics(None)
    undefined["test"]["r2"] = float("nan")
    assert "undefined" in verdict(undefined)["headline"]
    # Test paths left out (their target exploded): the first detail says how many.
    some = _metrics(0.95)
    some["test"].update(paths=1000, nonfinite_paths=4)
    assert verdict(some)["details"][0].startswith("4 of 1000 test paths were left out")
    assert not any("left out" in d for d in verdict(_metrics(0.95))["details"])
    # Predictions that are NaN: said so, not read as a target that does not vary.
    broken = _metrics(0.95)
    broken["test"].update(mse=float("nan"), r2=float("nan"), memory_r2=float("nan"))
    v = verdict(broken)
    assert v["learned_past"] is False and "predictions are not finite" in v["headline"]


def test_a_test_set_made_beforehand_evaluates_the_same(tiny_run_dir):
    """A run makes its test set and baselines while the model trains (in a second thread);
    the metrics it stored equal an evaluation made from scratch afterwards, exactly."""
    import json

    from lagnet.evaluation import evaluate, prepare_test
    from lagnet.runs import load
    from lagnet.tasks import build_task

    r = load(tiny_run_dir[0])
    task = build_task(r.config)
    cfg, length = r.config.eval, r.config.train.length
    fresh = evaluate(r.model, task, cfg, length)
    made = evaluate(r.model, task, cfg, length, test=prepare_test(task, cfg, length))
    assert made.metrics == fresh.metrics
    for name in ("x", "y", "y_hat", "y_memoryless"):
        np.testing.assert_array_equal(made.predictions[name], fresh.predictions[name])
    stored = json.loads((tiny_run_dir[0] / "metrics.json").read_text())
    for part in ("test", "baselines", "long_horizon"):
        assert stored[part] == json.loads(json.dumps(fresh.metrics[part])), part


def test_a_baseline_worse_than_the_mean_is_no_share_above_one():
    """GJR-GARCH with t(4) shocks: the memoryless baseline, fitted on its own sample, scored
    R² -0.9031 on the test paths, and the verdict said the past carries 190.31% of the
    variance."""
    from lagnet.evaluation import memory_share

    assert memory_share(-0.9031) == 1.0 and memory_share(1.2) == 0.0
    assert memory_share(0.25) == pytest.approx(0.75)
    m = _metrics(0.95, -0.9031)
    m["target"]["memory_share"] = memory_share(-0.9031)
    (said,) = [d for d in verdict(m)["details"] if "-0.9031" in d]
    assert "190" not in said and "%" not in said
    assert said.startswith("A model that ignores the past, fitted on its own sample")
    assert "worse than their mean" in said and "unreliable" in said
