"""Memory capacity against theory: a delay line of N steps holds exactly N past inputs, a
reservoir of N units at most N (Jaeger 2001), and the read-out's arithmetic on states built
by hand."""

import numpy as np
import pytest

import lagnet
from lagnet.capacity import capacity_curve, memory_capacity
from lagnet.errors import LagnetError

TINY = dict(
    batch=16,
    length=30,
    steps=5,
    val_every=5,
    val_paths=16,
    pilot_paths=16,
    eval=dict(test_paths=16, baseline_paths=40, long_paths=2),
)


def _iid(rng, n, length):
    return rng.standard_normal((n, length, 1))


def test_capacity_curve_of_states_built_by_hand():
    """s_t = [z_t, z_{t-1}, z_{t-2}] holds lags 0–2 exactly; s_t = z_t + z_{t-1} (one unit)
    gives corr² = 1/2 for each of the two lags; nothing else is recoverable."""
    rng = np.random.default_rng(0)
    z_fit, z_test = _iid(rng, 40, 300), _iid(rng, 40, 300)

    def delay(z):
        return np.concatenate([z, np.roll(z, 1, axis=1), np.roll(z, 2, axis=1)], axis=2)

    mc = capacity_curve(delay(z_fit), z_fit, delay(z_test), z_test, lags=6, t0=6)
    np.testing.assert_allclose(mc[:3], 1.0, atol=1e-9)
    assert max(mc[3:]) < 2e-3

    def summed(z):
        return z + np.roll(z, 1, axis=1)

    mc = capacity_curve(summed(z_fit), z_fit, summed(z_test), z_test, lags=4, t0=4)
    np.testing.assert_allclose(mc[:2], 0.5, atol=0.02)
    assert max(mc[2:]) < 2e-3


@pytest.mark.slow
def test_window_model_is_a_delay_line():
    """A window model sees the last N inputs: MC = N (to 2%), one per lag, none beyond."""
    window = 8
    run = lagnet.train("ar1(rho=0.5)", "x[t]", "window", window=window, hidden=4, head=[4], **TINY)
    mc = memory_capacity(run)
    assert mc["lags"] == 2 * window and len(mc["per_lag"]) == 2 * window + 1
    assert mc["total"] == pytest.approx(window, rel=0.02)
    assert min(mc["per_lag"][:window]) > 0.99 and max(mc["per_lag"][window:]) < 0.01
    assert "inputs" in mc["state"]


@pytest.mark.slow
def test_reservoir_of_n_units_holds_at_most_n():
    """An ESN of 20 units: 1 < MC ≤ 20, read from the reservoir (not from x_t beside it)."""
    run = lagnet.train(
        "ar1(rho=0.5)",
        "x[t-1]",
        "esn",
        reservoir=20,
        density=0.5,
        washout=3,
        spectral_radius=0.9,
        **TINY,
    )
    mc = memory_capacity(run, lags=40)
    assert mc["width"] == 20 and mc["state"] == "reservoir"
    assert 1.0 < mc["total"] <= 20.0
    assert mc["per_lag"][0] > 0.5  # the current input is in the state
    assert min(mc["per_lag"]) >= 0.0 and max(mc["per_lag"]) <= 1.0


@pytest.mark.slow
def test_undeclared_recurrence_reads_what_step_carries():
    """The LRU declares no states: its streaming state is read, and bounded by its width."""
    run = lagnet.train(
        "ar1(rho=0.5)", "x[t-1]", "lru", hidden=4, layers=1, lru_state=3, head=[4], **TINY
    )
    mc = memory_capacity(run, lags=8, paths=20)
    assert mc["state"] == "recurrent state" and mc["width"] == 6  # Re and Im of 3 states
    assert 0.0 < mc["total"] <= 6.0


def test_bad_lags_are_refused(tiny_run_dir):
    """The field and the value named, before any work (the shared tiny GRU run)."""
    run = lagnet.load(tiny_run_dir[0])
    bad = [("lags", -1), ("lags", 1.5), ("lags", True), ("paths", "10")]
    bad += [("seed", -1), ("seed", 2**32), ("seed", 1.5), ("seed", "3")]  # 2**32 was seed 0's
    for field, value in bad:
        with pytest.raises(LagnetError, match=field):
            memory_capacity(run, **{field: value})
