"""The contract every model family passes, generated from the family registry: each family
declares contract examples (``Family.examples``), and every check below runs on every one of
them — shapes, causality, memory, determinism, save/load, streaming. A family registered
without examples is named by ``missing_from_contract`` (and a test fails).

Legend: N paths, L time steps, C channels.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from lagnet.checkpoint import load_model, save_model
from lagnet.models import FAMILIES, Normalised, count_parameters, family, model_config, predict
from lagnet.models.family import FitData

C_IN, C_OUT, N, L = 2, 1, 3, 9
SCALES = (jnp.array([0.5, -1.0]), jnp.array([2.0, 0.5]), jnp.array([3.0]), jnp.array([4.0]))


@dataclass(frozen=True)
class Entry:
    """One contract example: ``cfg`` is what ``save_model`` records and what the training test
    trains; ``make(seed)`` returns a model for (C_IN, C_OUT) channels with fixed, non-trivial
    scalings."""

    name: str
    cfg: object
    make: Callable[[int], Normalised]


def entry(name: str, kind: str, settings: dict) -> Entry:
    settings = dict(settings)
    max_lag = settings.pop("max_lag", None)
    cfg = model_config(kind=kind, **settings)
    fam = family(kind)

    def make(seed: int) -> Normalised:
        if fam.trained:
            net = fam.build(cfg, C_IN, C_OUT, jax.random.PRNGKey(seed), max_lag=max_lag)
            return Normalised(net, *SCALES)
        # A closed-form family is fitted to a tiny sample drawn from the seed —
        # y = tanh(x₀[t]) + x₀[t−1]·x₁[t−3], not a polynomial, so the seed moves the fit.
        rng = np.random.default_rng(seed)
        x = rng.normal(size=(16, 20, C_IN)).astype(np.float32)
        y = np.zeros((16, 20, C_OUT), np.float32)
        y[:, 3:, 0] = np.tanh(x[:, 3:, 0]) + x[:, 2:-1, 0] * x[:, :-3, 1]
        data = FitData(
            x=x,
            y=y,
            valid=np.arange(20) >= 3,
            key=jax.random.PRNGKey(seed),
            memory_hint=max_lag,
            inputs=("a", "b"),
            batch=16,
        )
        net, _ = fam.fit(cfg, data)
        return Normalised(net, *SCALES)

    return Entry(name, cfg, make)


def entries() -> dict[str, Entry]:
    """Every contract example of every registered family (choosers have none: they make
    models of other families)."""
    return {
        name: entry(name, f.kind, settings)
        for f in FAMILIES
        if not f.candidates
        for name, settings in f.examples.items()
    }


def missing_from_contract() -> list[str]:
    """Registered families that would skip the contract: no example declared."""
    return [f.kind for f in FAMILIES if not f.candidates and not f.examples]


def inputs(seed=1, length=L):
    return jax.random.normal(jax.random.PRNGKey(seed), (N, length, C_IN))


@eqx.filter_jit
def step(model, x_t, state):
    """``model.step`` compiled once per model structure (run eagerly, a parallel scan or an
    attention block dispatches hundreds of small operations)."""
    return model.step(x_t, state)


# ----------------------------------------------------------------------------- the checks
def check_shape_and_dtype(e: Entry, tmp_path) -> None:
    y = predict(e.make(0), inputs())
    assert y.shape == (N, L, C_OUT)
    assert y.dtype == jnp.float32
    assert np.all(np.isfinite(np.asarray(y)))


def check_causal(e: Entry, tmp_path) -> None:
    """Perturbing x[:, t+1:] leaves the outputs up to t unchanged — and does change later ones."""
    model, x = e.make(0), inputs()
    t = 4
    x2 = x.at[:, t + 1 :].add(jax.random.normal(jax.random.PRNGKey(9), (N, L - t - 1, C_IN)))
    y, y2 = np.asarray(predict(model, x)), np.asarray(predict(model, x2))
    np.testing.assert_array_equal(y[:, : t + 1], y2[:, : t + 1])
    assert np.abs(y[:, t + 1 :] - y2[:, t + 1 :]).max() > 1e-6


def check_uses_the_past(e: Entry, tmp_path) -> None:
    """Changing x at t=0 changes the output at t=3: the model has memory at all."""
    model, x = e.make(0), inputs()
    y, y2 = np.asarray(predict(model, x)), np.asarray(predict(model, x.at[:, 0].add(1.0)))
    assert np.abs(y[:, 3] - y2[:, 3]).max() > 1e-7


def check_deterministic_under_seed(e: Entry, tmp_path) -> None:
    a, b, c = e.make(0), e.make(0), e.make(1)
    x = inputs()
    ya, yb, yc = (np.asarray(predict(m, x)) for m in (a, b, c))
    np.testing.assert_array_equal(ya, yb)
    assert np.abs(ya - yc).max() > 1e-6


def check_save_load_round_trip(e: Entry, tmp_path) -> None:
    model = e.make(0)
    save_model(model, e.cfg, tmp_path, {})
    loaded, meta = load_model(tmp_path)
    x = inputs()
    np.testing.assert_array_equal(np.asarray(predict(model, x)), np.asarray(predict(loaded, x)))
    assert meta["parameters"] == count_parameters(model.net)
    np.testing.assert_array_equal(np.asarray(loaded.y_std), [4.0])


def check_streaming_step_equals_full_forward(e: Entry, tmp_path) -> None:
    model, x = e.make(0), inputs()
    state, outs = model.init_state(N), []
    for t in range(L):
        y_t, state = step(model, x[:, t], state)
        outs.append(y_t)
    np.testing.assert_allclose(
        np.stack(outs, 1), np.asarray(predict(model, x)), rtol=1e-5, atol=1e-5
    )


CHECKS = (
    check_shape_and_dtype,
    check_causal,
    check_uses_the_past,
    check_deterministic_under_seed,
    check_save_load_round_trip,
    check_streaming_step_equals_full_forward,
)
