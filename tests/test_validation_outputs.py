"""Validation with several outputs weighs them alike, as training does: its R² and its choice
of the best weights read each output's error as a share of that output's variance (one
variance of all outputs' values pooled made a second output, 100 + x[t-2], read as val R²
0.9999 where the test R² was 0.74; its raw MSE let the output of largest scale choose)."""

import json

import numpy as np
import pytest

import lagnet
from lagnet.evaluation import average_metrics, verdict
from lagnet.models import batched
from lagnet.samples import error_share, exploded_paths, output_vars
from lagnet.training.loop import _validated
from lagnet.training.member import Member
from lagnet.training.steps import masked_mse


def test_the_share_is_each_outputs_own_and_ignores_offsets():
    rng = np.random.default_rng(0)
    y = rng.normal(size=(50, 20, 2)) * np.array([1.0, 30.0])
    valid = np.ones(20, bool)
    shifted = y + np.array([0.0, 100.0])
    assert np.allclose(output_vars((None, y, valid)), output_vars((None, shifted, valid)))
    v = output_vars((None, y, valid))
    assert np.isclose(error_share([0.5 * v[0], 0.1 * v[1]], v), 0.3)
    assert np.isclose(error_share([0.5, 7.0], [1.0, 0.0]), 0.5)  # a constant output: left out
    assert np.isnan(error_share([0.5], [0.0]))


def test_masked_mse_per_output_averages_to_the_pooled_one():
    rng = np.random.default_rng(1)
    pred, y = rng.normal(size=(2, 8, 10, 3)).astype(np.float32)
    valid = np.arange(10) >= 2
    per = np.asarray(masked_mse(pred, y, valid, per_output=True))
    assert per.shape == (3,)
    assert np.isclose(per.mean(), float(masked_mse(pred, y, valid)), rtol=1e-5)
    assert np.allclose(per, ((pred - y)[:, valid] ** 2).mean(axis=(0, 1)), rtol=1e-5)


def test_the_best_weights_are_chosen_on_the_share_not_the_raw_mse():
    """Output 2 has a million times output 1's variance: its raw MSE falls 10% while output
    1's error nearly doubles. The share rises: not an improvement (it was one on raw MSE)."""
    m = Member(cfg=lagnet.build_config("ar1(rho=0.5)", "x[t-1]"), task=None)
    variances = [np.array([1.0, 1e6])]

    def validate(step, mses):
        lrs = np.ones((1, 1))
        return _validated(m, 0, step, 0.0, lrs, 1, np.array([mses]), variances, [1.0], 9, 0.0)

    assert validate(1, [0.5, 1e4])
    assert not validate(2, [0.9, 9e3])
    assert m.best_step == 1 and m.best_val == pytest.approx(np.mean([0.5, 1e4]))
    assert m.history["val_r2"][-1] == pytest.approx(1 - (0.9 + 9e3 / 1e6) / 2)
    assert validate(3, [0.2, 1e4])


@pytest.mark.slow
def test_val_r2_of_two_outputs_agrees_with_the_test_r2():
    run = lagnet.train(
        "ar1(rho=0.5)",
        ["x[t-1]", "100 + x[t-2]"],
        "gru",
        hidden=8,
        steps=40,
        batch=16,
        length=30,
        val_every=20,
        eval=dict(test_paths=200, baseline_paths=200, long_paths=2),
    )
    val_r2 = run.history["val_r2"][-1] if isinstance(run.history, dict) else None
    assert val_r2 is not None and abs(val_r2 - run.metrics["test"]["r2"]) < 0.1
    best = run.metrics["train"]["best_val_r2"]  # what a sweep's val.r2 chooses on
    assert best == pytest.approx(max(run.history["val_r2"]), abs=1e-6)


def test_a_constant_output_beside_a_varying_one_flags_no_path():
    """One median and spread of all outputs' values: with half of them exactly 2.0 the spread
    was about 3e-6 and every path of the other output was taken for an exploded one (the run
    then failed: no baseline paths left)."""
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 4000, 101)).astype(np.float32)
    y = np.stack([a * b, np.full_like(a, 2.0)], axis=-1)
    valid = np.arange(101) >= 1
    assert not exploded_paths(y, valid).any()
    y[9, 60, 0] = 1e9  # exploded in the varying output: found
    y[7, 50, 1] = 1e9  # the constant one has no spread to judge by
    y[5, 40, 1] = np.nan  # but a NaN is a NaN
    assert np.flatnonzero(exploded_paths(y, valid)).tolist() == [5, 9]


def test_a_constant_output_is_left_out_of_the_averages():
    out = [dict(mse=0.4, nrmse=0.5, r2=0.75), dict(mse=1e-4, nrmse=float("nan"), r2=float("nan"))]
    avg = average_metrics(out)
    assert avg["r2"] == 0.75 and avg["nrmse"] == 0.5 and np.isclose(avg["mse"], 0.20005)
    inf = dict(mse=float("inf"), nrmse=float("inf"), r2=-float("inf"))  # predicted inf
    assert average_metrics([out[0], inf])["r2"] == -float("inf")
    nan = dict(mse=float("nan"), nrmse=float("nan"), r2=float("nan"))  # predicted NaN
    assert np.isnan(average_metrics([out[0], nan])["r2"])


def test_no_paths_predict_to_an_empty_array():
    out = batched(lambda xb: np.zeros((xb.shape[0], xb.shape[1], 2)), np.zeros((0, 7, 3)))
    assert out.shape == (0, 7, 2)


def test_a_checkpoint_without_the_best_share_resumes_on_its_best_validation():
    """A checkpoint written before best_share: its best validation (MSE 0.10) still holds; a
    first validation after resuming at MSE 5.0 replaced the best weights (best_share inf)."""
    m = Member(cfg=lagnet.build_config("ar1(rho=0.5)", "x[t-1]"), task=None)
    state = m.host_state()
    del state["best_share"]
    state.update(best_val=0.10, best_step=1000, bad_vals=2)
    m.restore(state)
    lrs, variances = np.ones((1, 1)), [np.array([2.0])]
    assert not _validated(m, 0, 2000, 0.0, lrs, 1, np.array([[5.0]]), variances, [1.0], 9, 0.0)
    assert m.best_step == 1000 and m.bad_vals == 3 and m.best_share == pytest.approx(0.05)
    assert _validated(m, 0, 3000, 0.0, lrs, 1, np.array([[0.09]]), variances, [1.0], 9, 0.0)


def test_the_verdict_names_a_constant_output_and_counts_the_others(tiny_run):
    """As metrics.json stores it (NaN as null): 'averaged over the 1 of 2 outputs that vary'."""
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    first = dict(formula="x[t]", mse=0.4, r2=0.6, memory_r2=0.5, memoryless=dict(r2=0.1))
    flat = dict(formula="2 + 0*x[t]", mse=1e-4, r2=None, memory_r2=None, memoryless=dict(r2=None))
    metrics["outputs"] = [first, flat]
    said = verdict(metrics)
    assert said["headline"].endswith("averaged over the 1 of 2 outputs that vary.")
    assert "Output 2 (2 + 0*x[t]) does not vary on the test paths" in " ".join(said["details"])
