"""The contract every model passes — shapes, causality, memory, determinism, save/load,
streaming, learning a tiny task — and the checks particular to one family (LRU scan against its
loop, receptive fields, Transformer at 10× its training length)."""

from __future__ import annotations

import functools

import equinox as eqx
import jax
import numpy as np
import pytest
from scipy import stats

import lagnet
from lagnet.checkpoint import load_model, save_model
from lagnet.errors import LagnetError
from lagnet.models import FAMILIES, build_net, count_parameters, model_config, predict
from model_contract import C_IN, C_OUT, CHECKS, N, entries, inputs, missing_from_contract

MODELS = entries()  # every registered family's contract examples


def test_every_family_is_in_the_contract():
    """A family registered without contract examples would skip every check below."""
    assert missing_from_contract() == []
    kinds = {e.cfg.kind for e in MODELS.values()}
    assert kinds == {f.kind for f in FAMILIES if not f.candidates}


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__.removeprefix("check_"))
@pytest.mark.parametrize("name", list(MODELS))
def test_contract(name, check, tmp_path):
    check(MODELS[name], tmp_path)


@functools.cache
def trained(name: str) -> lagnet.Run:
    """A tiny run: learn x[t]·x[t-1] on AR(1) paths, 200 steps of 32 paths of 30 steps;
    evaluation also runs at 10× that length. Cached: the Transformer test reads it again."""
    return lagnet.train(
        process="ar1(rho=0.3)",
        target="x[t]*x[t-1]",
        model=MODELS[name].cfg,
        steps=200,
        length=30,
        batch=32,
        lr=1e-2,
        val_every=100,
        val_paths=128,
        pilot_paths=256,
        eval=dict(test_paths=200, baseline_paths=500, long_paths=20),
    )


@pytest.mark.slow
@pytest.mark.parametrize("name", list(MODELS))
def test_trains_below_the_constant_baseline(name):
    """The product needs the previous step, so neither a constant (MSE = Var y) nor the
    current input alone predicts it; every family must get below half the variance."""
    m = trained(name).metrics
    assert m["test"]["mse"] < 0.5 * m["target"]["variance"]
    # The premise: E[y | x_t] = ρ·x_t² explains only 2ρ²/(1+ρ²) ≈ 0.17 of the variance.
    assert m["baselines"]["memoryless"]["r2"] < 0.3


# ----------------------------------------------------------------------------- families
def _lru(seed=0, **settings):
    cfg = model_config(**{"kind": "lru", "hidden": 8, "lru_state": 16, **settings})
    return build_net(cfg, C_IN, C_OUT, jax.random.PRNGKey(seed))


@pytest.mark.slow
def test_lru_parallel_scan_equals_its_loop():
    """associative_scan and the step-by-step lax.scan give the same states, also with
    eigenvalues next to the unit circle on a long path (the whole network's parallel forward
    is held to its step-by-step form by the streaming contract)."""
    layer = _lru(lru_r_min=0.9, lru_r_max=0.999).blocks[0].lru
    u = jax.random.normal(jax.random.PRNGKey(1), (N, 300, 8))
    parallel = eqx.filter_jit(lambda m, u: m.states(u))(layer, u)
    loop = eqx.filter_jit(lambda m, u: m.states_loop(u))(layer, u)
    assert np.abs(np.asarray(loop)).max() > 1.0  # states of the size the check is relative to
    np.testing.assert_allclose(np.asarray(parallel), np.asarray(loop), rtol=1e-5, atol=1e-5)


def test_lru_initialisation_on_the_ring():
    """|λ| uniform on the ring [r_min, r_max] (|λ|² uniform in [r_min², r_max²]), arg λ uniform
    in [0, 2π), γ = sqrt(1 - |λ|²)."""
    r_min, r_max = 0.4, 0.9
    layer = _lru(lru_state=2000, lru_r_min=r_min, lru_r_max=r_max).blocks[0].lru
    re, im = (np.asarray(a, np.float64) for a in layer.eigenvalues)
    lam = re + 1j * im
    r2 = np.abs(lam) ** 2
    assert r2.min() >= r_min**2 - 1e-6 and r2.max() <= r_max**2 + 1e-6
    assert stats.kstest(r2, stats.uniform(r_min**2, r_max**2 - r_min**2).cdf).pvalue > 1e-3
    phase = np.mod(np.angle(lam), 2 * np.pi)
    assert stats.kstest(phase, stats.uniform(0, 2 * np.pi).cdf).pvalue > 1e-3
    np.testing.assert_allclose(np.exp(np.asarray(layer.gamma_log)), np.sqrt(1 - r2), rtol=1e-4)


RECEPTIVE = {  # config, the steps an output sees (the current one included) by construction
    "window": (model_config(kind="window", window=6, hidden=8), 6),
    "tcn": (model_config(kind="tcn", hidden=8, layers=3, tcn_kernel=3), 1 + 2 * 2 * (2**3 - 1)),
    # each of the 2 layers reaches context - 1 = 4 steps back
    "transformer": (model_config(kind="transformer", hidden=8, heads=2, context=5), 1 + 2 * 4),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(RECEPTIVE))
def test_receptive_field(name):
    """y_t depends on x_{t-RF+1} and not on x_{t-RF}."""
    cfg, rf = RECEPTIVE[name]
    net = build_net(cfg, C_IN, C_OUT, jax.random.PRNGKey(0))
    from lagnet.runs import receptive_field

    assert receptive_field(net) == rf  # what a run reports in metrics["model"]
    x, t = inputs(length=40), 35
    y = np.asarray(predict(net, x))[:, t]
    far = np.asarray(predict(net, x.at[:, t - rf].add(1.0)))[:, t]
    near = np.asarray(predict(net, x.at[:, t - rf + 1].add(1.0)))[:, t]
    np.testing.assert_array_equal(far, y)
    assert np.abs(near - y).max() > 1e-6


@pytest.mark.slow
def test_transformer_runs_at_ten_times_its_training_length():
    """Trained on 30 steps, the Transformer keeps its accuracy on 300-step paths: ALiBi
    positions depend on distance only and attention stays within ``context`` steps."""
    m = trained("transformer").metrics
    assert m["long_horizon"]["length"] == 300
    assert m["long_horizon"]["mse"] < 1.5 * m["test"]["mse"]
    assert m["long_horizon"]["mse"] < 0.5 * m["target"]["variance"]


def test_window_checkpoint_remembers_a_defaulted_window(tmp_path):
    model = MODELS["window"].make(0)
    assert model.net.window == 5
    save_model(model, MODELS["window"].cfg, tmp_path, {})
    loaded, meta = load_model(tmp_path)
    assert meta["window"] == 5 and loaded.net.window == 5


@pytest.mark.parametrize(
    "cfg, field",
    [
        (model_config(kind="transformer", hidden=10, heads=4), "model.heads"),
        (model_config(kind="lru", lru_r_min=0.9, lru_r_max=0.5), "model.lru_r_min"),
    ],
)
def test_inconsistent_settings_are_refused(cfg, field):
    with pytest.raises(LagnetError) as err:
        build_net(cfg, 1, 1, jax.random.PRNGKey(0))
    assert err.value.field == field


# ----------------------------------------------------------------------------- rnn specifics
def test_normalisation_is_inside_the_model():
    """Predictions are in the user's units: y = net((x - mean)/std) * y_std + y_mean."""
    model, x = MODELS["gru"].make(0), inputs()
    z = (x - model.x_mean) / model.x_std
    np.testing.assert_allclose(
        np.asarray(predict(model, x)), np.asarray(predict(model.net, z) * 4.0 + 3.0), rtol=1e-6
    )


def test_forum_network_shape():
    """The forum's network: RNN(1→10, tanh) → Dense(10→20) → Dense(20→1), identity head."""
    net = build_net(MODELS["forum"].cfg, 1, 1, jax.random.PRNGKey(0))
    assert count_parameters(net) == (10 + 100 + 10 + 10) + (10 * 20 + 20) + (20 + 1)
    assert [w.shape for w in net.head.weights] == [(10, 20), (20, 1)]
