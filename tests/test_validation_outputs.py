"""Validation with several outputs weighs them alike, as training does: its R² and its choice
of the best weights read each output's error as a share of that output's variance (one
variance of all outputs' values pooled made a second output, 100 + x[t-2], read as val R²
0.9999 where the test R² was 0.74; its raw MSE let the output of largest scale choose)."""

import numpy as np
import pytest

import lagnet
from lagnet.samples import error_share, output_vars
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
