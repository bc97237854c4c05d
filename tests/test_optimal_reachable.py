"""The reachable share where nothing is reachable: noisy(noise=0) observes s[t] itself, so the
Kalman filter is the memoryless baseline and their MSEs differ by a rounding residue (3e-13);
divided by it, a run printed "reachable error removed = -6231999450681.3%"."""

import json

import pytest
from typer.testing import CliRunner

from conftest import TINY_FLAGS
from lagnet import optimal as optimum
from lagnet.cli import app
from lagnet.verdict import verdict


def test_a_rounding_residue_is_not_reachable():
    var = 1.0 / (1 - 0.9**2)  # Var s of noisy(rho=0.9)
    assert optimum.reachable_share(2e-9, 3.1e-13, 1e-14, var, -6e3) is None
    # below NEGLIGIBLE × the variance: nothing; just above it: a share
    edge = optimum.NEGLIGIBLE * var
    assert optimum.reachable_share(0.5, 1.0, 1.0 - 0.9 * edge, var, 0.5) is None
    assert optimum.reachable_share(1.0 - edge, 1.0, 1.0 - 2 * edge, var, 0.0) == pytest.approx(0.5)
    # the past not needed (memory_r2 null): no share either
    assert optimum.reachable_share(0.5, 1.0, 0.0, var, None) is None
    assert optimum.reachable_share(0.5, 1.0, 0.0, float("nan"), 0.5) is None


@pytest.mark.slow
def test_a_run_whose_optimum_is_memoryless_prints_no_share(tmp_path):
    out = tmp_path / "n0"
    args = ["train", "--process", "noisy(rho=0.9, noise=0)", "--target", "s[t]"]
    res = CliRunner().invoke(
        app, [*args, "--out", str(out), *TINY_FLAGS[:2], *TINY_FLAGS[4:], "--steps", "5"]
    )
    assert res.exit_code == 0, res.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["baselines"]["optimal"]["name"] == "Kalman filter"
    assert metrics["test"]["reachable_share"] is None
    assert "reachable error removed" not in res.output


def test_with_an_optimum_the_verdict_says_what_the_past_can_explain():
    """regime-filter: 1 - memoryless R² is 39.8% of the variance, but the Hamilton filter
    explains only 6.3% of it from the past; 33.5% no predictor can remove."""
    mem, opt = dict(mse=0.0994, r2=0.602), dict(name="Hamilton filter", mse=0.0837, r2=0.665)
    test = dict(mse=0.0840, r2=0.664, memory_r2=1 - 0.0840 / 0.0994, length=200)
    test["reachable_share"] = optimum.reachable_share(0.0840, 0.0994, 0.0837, 0.25, 0.155)
    metrics = dict(
        test=test,
        baselines=dict(memoryless=mem, linear_lags=dict(mse=0.09, r2=0.64, lags=2), optimal=opt),
        target=dict(memory_share=0.398),
        long_horizon=dict(ratio=None, length=2000),
        drift=dict(ratio=None),
    )
    details = verdict(metrics)["details"]
    assert not any("39.80%" in d for d in details)
    (said,) = [d for d in details if "variance" in d]
    assert "The best possible predictor (Hamilton filter) explains 6.30%" in said
    assert "33.50% no predictor can remove" in said and "reachable error can" in said
    # a memoryless baseline worse than the mean (R² -0.9): the optimum's R² is all from the past
    mem.update(r2=-0.9)
    opt.update(name="GARCH recursion", r2=0.999)
    (said,) = [d for d in verdict(metrics)["details"] if "variance" in d]
    assert "explains 99.90%" in said and "unreliable" in said
