"""The contract every model passes: shapes, causality, determinism, save/load, streaming."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lagnet.checkpoint import load_model, save_model
from lagnet.config import ModelConfig
from lagnet.models import Normalised, build_net, count_parameters

C_IN, C_OUT, N, L = 2, 1, 3, 9

MODELS = {
    "rnn-tanh": ModelConfig(kind="rnn", hidden=6, activation="tanh"),
    "rnn-relu": ModelConfig(kind="rnn", hidden=6, activation="relu"),
    "gru": ModelConfig(kind="gru", hidden=6),
    "lstm": ModelConfig(kind="lstm", hidden=6),
    "gru-2layers-noskip": ModelConfig(kind="gru", hidden=5, layers=2, skip=False),
    "forum": ModelConfig(kind="rnn", hidden=10, head=(20,), head_activation="identity", skip=False),
    "linear-head": ModelConfig(kind="lstm", hidden=4, head=()),
}


def make(cfg, seed=0):
    net = build_net(cfg, C_IN, C_OUT, jax.random.PRNGKey(seed))
    return Normalised(net, jnp.array([0.5, -1.0]), jnp.array([2.0, 0.5]), jnp.array([3.0]),
                      jnp.array([4.0]))


@pytest.fixture(params=list(MODELS), ids=list(MODELS))
def cfg(request):
    return MODELS[request.param]


def inputs(seed=1):
    return jax.random.normal(jax.random.PRNGKey(seed), (N, L, C_IN))


def test_shape_and_dtype(cfg):
    y = make(cfg)(inputs())
    assert y.shape == (N, L, C_OUT)
    assert y.dtype == jnp.float32
    assert np.all(np.isfinite(np.asarray(y)))


def test_causal(cfg):
    """Perturbing x[:, t+1:] leaves the outputs up to t unchanged — and does change later ones."""
    model, x = make(cfg), inputs()
    t = 4
    x2 = x.at[:, t + 1:].add(jax.random.normal(jax.random.PRNGKey(9), (N, L - t - 1, C_IN)))
    y, y2 = np.asarray(model(x)), np.asarray(model(x2))
    np.testing.assert_array_equal(y[:, : t + 1], y2[:, : t + 1])
    assert np.abs(y[:, t + 1:] - y2[:, t + 1:]).max() > 1e-6


def test_uses_the_past(cfg):
    """Changing x at t=0 changes the output at t=3: the model has memory at all."""
    model, x = make(cfg), inputs()
    y, y2 = np.asarray(model(x)), np.asarray(model(x.at[:, 0].add(1.0)))
    assert np.abs(y[:, 3] - y2[:, 3]).max() > 1e-7


def test_deterministic_under_seed(cfg):
    a, b, c = make(cfg, 0), make(cfg, 0), make(cfg, 1)
    x = inputs()
    np.testing.assert_array_equal(np.asarray(a(x)), np.asarray(b(x)))
    assert np.abs(np.asarray(a(x)) - np.asarray(c(x))).max() > 1e-6


def test_save_load_round_trip(cfg, tmp_path):
    model = make(cfg)
    save_model(model, cfg, tmp_path, {})
    loaded, meta = load_model(tmp_path)
    x = inputs()
    np.testing.assert_array_equal(np.asarray(model(x)), np.asarray(loaded(x)))
    assert meta["parameters"] == count_parameters(model.net)
    np.testing.assert_array_equal(np.asarray(loaded.y_std), [4.0])


def test_streaming_step_equals_full_forward(cfg):
    model, x = make(cfg), inputs()
    state, outs = model.init_state(N), []
    for t in range(L):
        y_t, state = model.step(x[:, t], state)
        outs.append(y_t)
    np.testing.assert_allclose(np.stack(outs, 1), np.asarray(model(x)), rtol=1e-5, atol=1e-5)


def test_normalisation_is_inside_the_model():
    """Predictions are in the user's units: y = net((x - mean)/std) * y_std + y_mean."""
    cfg = MODELS["gru"]
    model, x = make(cfg), inputs()
    z = (x - model.x_mean) / model.x_std
    np.testing.assert_allclose(np.asarray(model(x)), np.asarray(model.net(z) * 4.0 + 3.0),
                               rtol=1e-6)


def test_forum_network_shape():
    """The forum's network: RNN(1→10, tanh) → Dense(10→20) → Dense(20→1), identity head."""
    net = build_net(MODELS["forum"], 1, 1, jax.random.PRNGKey(0))
    assert count_parameters(net) == (10 + 100 + 10 + 10) + (10 * 20 + 20) + (20 + 1)
    assert [w.shape for w in net.head.weights] == [(10, 20), (20, 1)]
