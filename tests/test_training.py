"""The training loop on tiny tasks: it learns, is deterministic, and stops when told."""

import math

import jax.numpy as jnp
import numpy as np
import pytest

from lagnet.api import build_config
from lagnet.fitting import fit
from lagnet.tasks import build_task
from lagnet.training import lr_at, masked_mse

TINY = dict(
    hidden=8,
    head=[8],
    batch=16,
    length=12,
    steps=60,
    val_every=20,
    val_paths=64,
    pilot_paths=64,
    warmup=5,
    lr=1e-2,
)


def test_masked_mse_ignores_invalid_steps():
    pred = jnp.zeros((2, 4, 1))
    y = jnp.array([[[100.0], [1.0], [1.0], [1.0]]] * 2)
    valid = jnp.array([False, True, True, True])
    assert float(masked_mse(pred, y, valid)) == pytest.approx(1.0)


def test_lr_schedule_warms_up_then_decays():
    cfg = build_config(lr=1e-2, warmup=10, end_lr_factor=0.01).train
    lrs = [lr_at(s, 100, cfg) for s in range(100)]
    assert lrs[0] == pytest.approx(1e-3)
    assert max(lrs) == pytest.approx(1e-2)
    assert lrs[-1] < 2e-4 and all(a >= b for a, b in zip(lrs[10:], lrs[11:]))


@pytest.mark.slow
def test_learns_a_lag_below_the_constant_baseline():
    """x[t-1] from iid inputs: a constant predictor has R² 0; the model must beat it."""
    cfg = build_config("iid()", "x[t-1]", "gru", **dict(TINY, steps=210))
    res = fit(cfg, build_task(cfg))
    assert res.history["val_r2"][-1] > 0.5
    # exactly the steps asked for, though 210 is not a whole number of 20-step chunks
    assert res.info["stopped"] == "steps" and res.info["steps"] == 210
    assert res.history["step"] == [20, 40, 60, 80, 100, 120, 140, 160, 180, 200, 210]


@pytest.mark.slow
def test_same_seed_same_run():
    cfg = build_config("ar1(rho=0.5)", "x[t]*x[t-1]", "rnn", **TINY)
    a, b = fit(cfg, build_task(cfg)), fit(cfg, build_task(cfg))
    assert a.history["loss"] == b.history["loss"]
    c = fit(cfg.model_copy(update=dict(seed=1)), build_task(cfg))
    assert a.history["loss"] != c.history["loss"]


@pytest.mark.slow
def test_wall_clock_budget_stops_training():
    cfg = build_config("ar1(rho=0.1)", "x[t-1]", "gru", **dict(TINY, steps=10**6, max_seconds=3))
    res = fit(cfg, build_task(cfg))
    assert res.info["stopped"] == "max_seconds"
    assert res.info["steps"] < 10**6 and res.info["seconds"] < 15


@pytest.mark.slow
def test_fixed_data_set_and_plateau():
    cfg = build_config(
        "iid()",
        "x[t-1]",
        "lstm",
        **dict(TINY, fixed_paths=32, steps=2000, patience=2, lr=1e-6, warmup=0),
    )
    res = fit(cfg, build_task(cfg))
    assert res.info["stopped"] == "plateau" and res.info["steps"] < 2000


@pytest.mark.slow
def test_divergence_guard_restores_best_weights():
    """A huge learning rate without clipping blows up; the guard restores the last good
    weights and lowers the rate, gives up after repeated blow-ups, and never returns NaN."""
    cfg = build_config(
        "ar1(rho=0.1)",
        "1000*x[t]**2",
        "rnn",
        **dict(TINY, lr=1e6, clip=1e9, warmup=0, end_lr_factor=1.0, steps=100),
        normalize=False,
        activation="relu",
    )
    res = fit(cfg, build_task(cfg))
    assert res.info["divergences"] == 5 and res.info["stopped"] == "diverged"
    import jax

    leaves = jax.tree_util.tree_leaves(res.model)
    assert all(np.all(np.isfinite(np.asarray(v))) for v in leaves)

    cfg = cfg.model_copy(update=dict(train=cfg.train.model_copy(update=dict(lr=10.0))))
    res = fit(cfg, build_task(cfg))  # a rate the guard can tame by lowering it
    assert 1 <= res.info["divergences"] <= 4 and res.info["stopped"] == "steps"
    assert math.isfinite(res.info["best_val_mse"])


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_with_the_best_weights():
    """A KeyboardInterrupt mid-training ends the loop, not the run, with the state of the last
    complete chunk (the one a checkpoint would hold): here the one before the second
    validation, whose callback was interrupted."""
    cfg = build_config("iid()", "x[t-1]", "gru", **dict(TINY, steps=1000))
    calls = []

    def interrupt(event):
        calls.append(event["step"])
        if len(calls) == 2:
            raise KeyboardInterrupt

    res = fit(cfg, build_task(cfg), [interrupt])
    assert res.info["stopped"] == "interrupted" and res.info["steps"] == 20
    assert res.info["best_step"] == 20 and res.history["step"] == [20]


@pytest.mark.slow
def test_validation_falls_exactly_every_val_every_steps():
    cfg = build_config("iid()", "x[t-1]", "rnn", **dict(TINY, steps=90, val_every=30))
    assert fit(cfg, build_task(cfg)).history["step"] == [30, 60, 90]


def test_a_target_that_is_nan_on_the_paths_is_refused():
    from lagnet.errors import LagnetError

    cfg = build_config("ar1(rho=0.1)", "sqrt(x[t-1])", "rnn", **TINY)
    with pytest.raises(LagnetError, match="^target.formula: sqrt"):
        fit(cfg, build_task(cfg))


def test_under_a_budget_a_chunk_is_at_most_a_tenth_of_it():
    from lagnet.config import TrainConfig
    from lagnet.training.loop import budget_chunk

    tc = TrainConfig(max_seconds=15.0, batch=128, val_every=100)
    # a forward pass over 512 validation paths in 0.5 s: a step ~ 3 × 0.5 × 128/512 = 0.375 s,
    # a tenth of the budget is 4 steps (a divisor of val_every)
    assert budget_chunk(50, tc, 0.5, 512) == 4
    assert budget_chunk(50, tc, 1e-3, 512) == 50  # a fast model keeps its chunk
    assert budget_chunk(50, tc, 100.0, 512) == 1  # never below one step
    odd = TrainConfig(max_seconds=15.0, batch=128, val_every=7)
    assert budget_chunk(7, odd, 0.5, 512) == 1  # 4 does not divide 7: the next divisor down


@pytest.mark.slow
def test_a_large_target_is_not_taken_for_an_exploded_one():
    """Validation sees the target in the user's units: a target near 2e6 (prices in cents) is
    not 'exploded' — the threshold is in standard deviations. Left out, every path gave a
    validation MSE of 0 and the first weights were kept."""
    y = jnp.full((3, 4, 1), 2e6) + jnp.arange(12.0).reshape(3, 4, 1)
    pred, valid = y + 1.0, jnp.ones(4, bool)
    scale = (jnp.full((1,), 2e6), jnp.full((1,), 3.0))
    assert float(masked_mse(pred, y, valid, scale)) == pytest.approx(1.0)
    blown = y.at[0, 2, 0].set(2e6 + 1e9)  # 3e8 standard deviations out: left out
    assert float(masked_mse(pred, blown, valid, scale)) == pytest.approx(1.0)


@pytest.mark.slow
def test_a_run_on_a_large_target_validates_and_keeps_its_best_weights():
    import lagnet

    run = lagnet.train(process="ar1(rho=0.5)", target="x[t-1] + 2e6", model="gru", hidden=8,
                       steps=120, length=20, batch=16, val_every=20, val_paths=64,
                       pilot_paths=64, eval=dict(test_paths=64, long_paths=4, baseline_paths=100))  # fmt: skip
    val = run.history["val_mse"]
    assert min(val) > 0 and val[-1] < val[0] and run.metrics["train"]["best_step"] > 20
