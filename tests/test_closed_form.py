"""Closed-form learners: the echo state network against reservoirpy and a NumPy ridge
reference, sparse polynomial NARX against exact polynomials, and esn / narx / auto end to end."""

import json
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from typer.testing import CliRunner

import lagnet
from lagnet.checkpoint import load_model, save_model
from lagnet.cli import app
from lagnet.config import make_config
from lagnet.errors import LagnetError
from lagnet.evaluate_again import evaluate_run
from lagnet.fitting import fit
from lagnet.models import Normalised, build_net, identity_scaling, model_config
from lagnet.models.esn import draw_reservoir, fit_readout
from lagnet.models.narx import fit_narx, frols
from lagnet.report import write_report
from lagnet.tasks import build_task

FORUM = "x[t]**2 + 0.1*x[t-1]**2"
SETS = {
    "train.pilot_paths": 64,
    "train.val_paths": 64,
    "eval.test_paths": 64,
    "eval.baseline_paths": 64,
    "eval.long_paths": 4,
}
SMALL = dict(
    length=30,
    pilot_paths=64,
    val_paths=64,
    eval=dict(test_paths=64, baseline_paths=64, long_paths=4),
)


def esn(key, c_in=2, **settings):
    cfg = model_config(kind="esn", **dict(dict(reservoir=20, density=0.5), **settings))
    return draw_reservoir(cfg, c_in, 1, key)


# ----------------------------------------------------------------------------- ESN
def test_esn_states_equal_reservoirpy(key):
    """The leaky update h_t = (1−a)h_{t−1} + a·tanh(W_in[1; x_t] + W h_{t−1}) from h = 0,
    against reservoirpy's Reservoir given the same matrices (it writes W x, so W transposed)."""
    from reservoirpy.nodes import Reservoir

    net = esn(key, leak=0.3, spectral_radius=1.1, input_scaling=0.5)
    x = np.random.default_rng(0).normal(size=(3, 25, 2)).astype(np.float32)
    ours = np.asarray(net.states(jnp.asarray(x)))
    w_in, w = np.asarray(net.w_in, np.float64), np.asarray(net.w, np.float64)
    for i in range(3):
        res = Reservoir(W=w.T, Win=w_in[1:].T, bias=w_in[0], lr=0.3)
        np.testing.assert_allclose(ours[i], res.run(x[i].astype(np.float64)), atol=2e-5)


def test_esn_leak_one_forgets_its_own_state(key):
    """With a = 1 the state is tanh of the input and W h only: no direct self-memory term."""
    net = esn(key, leak=1.0)
    x = jax.random.normal(key, (2, 8, 2))
    h = np.asarray(net.states(x))
    pre = (
        np.asarray(x[:, 1:]) @ np.asarray(net.w_in[1:])
        + np.asarray(net.w_in[0])
        + h[:, :-1] @ np.asarray(net.w)
    )
    np.testing.assert_allclose(h[:, 1:], np.tanh(pre), atol=1e-5)


@pytest.mark.parametrize("radius,density", [(0.9, 0.1), (1.3, 0.5)])
def test_esn_spectral_radius_density_and_input_scaling(radius, density):
    net = esn(
        jax.random.PRNGKey(3),
        reservoir=200,
        spectral_radius=radius,
        density=density,
        input_scaling=0.7,
    )
    w = np.asarray(net.w, np.float64)
    np.testing.assert_allclose(np.max(np.abs(np.linalg.eigvals(w))), radius, rtol=1e-5)
    share = np.mean(w != 0)  # Binomial(40 000, density): 6 standard deviations
    assert abs(share - density) < 6 * np.sqrt(density * (1 - density) / w.size)
    assert np.abs(np.asarray(net.w_in)).max() <= 0.7


def test_esn_too_sparse_reservoir_is_refused(key):
    with pytest.raises(LagnetError, match="^model.density:"):
        esn(key, reservoir=1, density=1e-9)


def ridge_reference(z, t, ridge):
    """Ridge with an unpenalised intercept by NumPy lstsq on the augmented system
    [Xc; √λ I] W = [Yc; 0] (Xc, Yc centred)."""
    zm, tm = z.mean(axis=0), t.mean(axis=0)
    a = np.vstack([z - zm, np.sqrt(ridge) * np.eye(z.shape[1])])
    b = np.vstack([t - tm, np.zeros((z.shape[1], t.shape[1]))])
    w = np.linalg.lstsq(a, b, rcond=None)[0]
    return w, tm - zm @ w


def test_esn_readout_equals_ridge_reference_on_the_same_states(key):
    """Accumulated over chunks (7 paths, 3 at a time: the last one padded), with a washout and
    a masked step; against lstsq and scikit-learn's Ridge on the kept rows."""
    from sklearn.linear_model import Ridge

    net = esn(key)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(7, 20, 2)).astype(np.float32)
    y = np.sin(x[..., :1]) + 0.3 * np.roll(x[..., 1:], 1, axis=1) ** 2
    valid = np.arange(20) != 12
    fitted, info = fit_readout(net, x, y, valid, ridge=1e-3, washout=4, chunk=3)
    keep = valid & (np.arange(20) >= 4)
    z = np.asarray(net.features(jnp.asarray(x)), np.float64)[:, keep].reshape(-1, 22)
    t = y[:, keep].reshape(-1, 1).astype(np.float64)
    assert info["rows"] == 7 * keep.sum() == z.shape[0]
    w, b = ridge_reference(z, t, 1e-3)
    np.testing.assert_allclose(np.asarray(fitted.w_out), w, rtol=1e-5, atol=1e-5 * np.abs(w).max())
    np.testing.assert_allclose(np.asarray(fitted.b_out), b, rtol=1e-5)
    sk = Ridge(alpha=1e-3).fit(z, t)
    np.testing.assert_allclose(
        np.asarray(fitted.w_out)[:, 0], sk.coef_.ravel(), rtol=1e-4, atol=1e-5
    )
    np.testing.assert_allclose(info["train_mse"], np.mean((z @ w + b - t) ** 2), rtol=1e-5)
    # The forward pass (read-out inside the scan) is the same map as features · W_out + b.
    full = np.asarray(fitted.features(jnp.asarray(x))) @ np.asarray(fitted.w_out) + fitted.b_out
    np.testing.assert_allclose(np.asarray(fitted(jnp.asarray(x))), full, rtol=1e-5, atol=1e-5)


def test_esn_washout_and_mask_decide_which_rows_count(key):
    net = esn(key)
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(4, 15, 2)), rng.normal(size=(4, 15, 1))
    valid = np.arange(15) >= 2
    base = np.asarray(fit_readout(net, x, y, valid, ridge=1e-2, washout=6, chunk=4)[0].w_out)
    early, masked = y.copy(), y.copy()
    early[:, 5] += 10.0  # before the washout: ignored
    again = np.asarray(fit_readout(net, x, early, valid, ridge=1e-2, washout=6, chunk=4)[0].w_out)
    np.testing.assert_array_equal(base, again)
    masked[:, 6] += 10.0  # the first kept step: counts
    moved = np.asarray(fit_readout(net, x, masked, valid, ridge=1e-2, washout=6, chunk=4)[0].w_out)
    assert np.abs(moved - base).max() > 1e-3
    with pytest.raises(LagnetError, match="^model.washout:"):
        fit_readout(net, x, y, valid, ridge=1e-2, washout=15, chunk=4)


# ----------------------------------------------------------------------------- NARX
def test_frols_recovers_a_sparse_polynomial_in_two_inputs():
    """y = 0.5 + 2·x₁[t−2]·x₀[t] − 0.3·x₀[t−1]³ among all 84 monomials of degree ≤ 3 in 6
    lagged inputs: exactly these three terms, the coefficients by least squares, and error
    reduction ratios that add up to the whole of yᵀy."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(50, 40, 2))
    y = np.zeros((50, 40, 1))
    y[:, 2:, 0] = 0.5 + 2 * x[:, :-2, 1] * x[:, 2:, 0] - 0.3 * x[:, 1:-1, 0] ** 3
    valid = np.arange(40) >= 2
    net, info = fit_narx(x, y, valid, window=3, degree=3, max_terms=10, tol=1e-12)
    assert info["candidate_terms"] == 84 and info["terms"] == 3
    assert net.formula(["a", "b"]) == "2*a[t]*b[t-2] - 0.3*a[t-1]**3 + 0.5"
    np.testing.assert_allclose(sorted(np.asarray(net.coef)[:, 0]), [-0.3, 0.5, 2.0], rtol=1e-6)
    from lagnet.models.narx import candidate_exponents, lagged, monomials

    z = lagged(x, 3, np)[:, valid].reshape(-1, 6)
    chosen, errs = frols(monomials(z, candidate_exponents(6, 3)), y[:, valid, 0].ravel(), 10, 1e-12)
    assert len(chosen) == 3 and abs(sum(errs) - 1.0) < 1e-10


def test_a_washout_longer_than_the_paths_is_refused_only_where_a_fit_follows():
    """A fit on paths no longer than the washout has no row to fit on: refused up front.
    Evaluating a fitted reservoir on such paths is fine (its washout was spent in the fit)."""
    cfg = make_config(
        dict(
            process="ar1(rho=0.1)",
            target=dict(formula="x[t-1]"),
            model=dict(kind="esn", washout=50),
            train=dict(length=40),
        )
    )
    with pytest.raises(LagnetError, match="^model.washout: 50"):
        build_task(cfg)
    assert build_task(cfg, fitting=False).c_out == 1


@pytest.mark.slow
def test_narx_learns_the_forum_target_exactly():
    """AR(1) ρ = 0.1, f = x_t² + 0.1·x_{t−1}²: MSE ≤ 1e-10 on fresh paths, and the printed
    formula has exactly the two true terms with coefficients within 1e-6."""
    cfg = make_config(
        dict(
            process="ar1(rho=0.1)",
            target=dict(formula=FORUM),
            model=dict(kind="narx"),
            train=dict(length=30, pilot_paths=64, val_paths=64),
        )
    )
    task = build_task(cfg)
    result = fit(cfg, task)
    x, y, valid = task.sample(jax.random.PRNGKey(77), 64, 30)
    pred = np.asarray(result.model(x))
    assert np.mean((pred - np.asarray(y))[:, np.asarray(valid)] ** 2) <= 1e-10
    formula = result.info["formula"]
    assert len(re.split(r" [+-] ", formula)) == 2
    # What the printed formula computes, resolved into the six monomials of degree ≤ 2 in
    # (x[t], x[t-1]): the two true ones with their coefficients, the others zero.
    xs = np.asarray(x[..., 0], np.float64)
    yf, vf = lagnet.compile_target(formula).numpy({"x": xs})
    a, b = xs[:, 1:].ravel(), xs[:, :-1].ravel()
    basis = np.stack([np.ones_like(a), a, b, a * a, a * b, b * b], axis=1)
    coef = np.linalg.lstsq(basis, yf[:, 1:, 0].ravel().astype(np.float64), rcond=None)[0]
    np.testing.assert_allclose(coef, [0, 0, 0, 1, 0, 0.1], atol=1e-6)


def test_narx_refuses_too_many_candidates():
    with pytest.raises(LagnetError, match="^model.narx_degree:"):
        fit_narx(
            np.zeros((2, 300, 1)),
            np.zeros((2, 300, 1)),
            np.ones(300, bool),
            window=200,
            degree=3,
            max_terms=5,
            tol=0.0,
        )


# ----------------------------------------------------------------------------- end to end
# Every run below has the same path count and length, so the simulation and prediction
# compile once for the whole file; only the CLI run draws plots.
def round_trips(run, path):
    loaded = lagnet.load(path)
    x = np.random.default_rng(5).normal(size=(3, 30))
    np.testing.assert_array_equal(run.predict(x), loaded.predict(x))
    return json.loads((path / "model.json").read_text())


def save_with_report(run, path):
    run.save(path, plots=False)
    write_report(path)
    return (path / "report.html").read_text()


@pytest.mark.slow
def test_cli_train_narx_prints_and_saves_the_recovered_formula(tmp_path):
    out = tmp_path / "narx"
    res = CliRunner().invoke(
        app,
        [
            "train",
            "--process",
            "ar1(rho=0.1)",
            "--target",
            FORUM,
            "--model",
            "narx",
            "--quiet",
            "--length",
            "30",
            "--out",
            str(out),
            *[a for k, v in SETS.items() for a in ("--set", f"{k}={v}")],
        ],
    )
    assert res.exit_code == 0, res.output
    assert f"recovered formula: {FORUM}" in res.output
    assert "recovered formula" in (out / "report.html").read_text()
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test"]["mse"] <= 1e-10 and metrics["train"]["formula"] == FORUM
    run = lagnet.load(out)
    x = np.random.default_rng(5).normal(size=(3, 30))
    np.testing.assert_allclose(
        run.predict(x)[:, 1:], x[:, 1:] ** 2 + 0.1 * x[:, :-1] ** 2, rtol=1e-6
    )
    meta = json.loads((out / "model.json").read_text())
    assert meta["model"]["kind"] == "narx" and meta["structure"]["terms"] == 2


@pytest.mark.slow
def test_train_esn_end_to_end_beats_the_memoryless_baseline(tmp_path):
    run = lagnet.train("ar1(rho=0.5)", "x[t-1]*x[t-2]", "esn", reservoir=60, washout=5, **SMALL)
    m = run.metrics
    assert m["train"]["stopped"] == "closed form" and m["test"]["memory_r2"] > 0.5
    assert "closed form" in save_with_report(run, tmp_path / "esn")
    assert round_trips(run, tmp_path / "esn")["model"]["kind"] == "esn"
    # the washout is spent in the fit: the trained reservoir evaluates on paths no longer
    cfg, ev = evaluate_run(tmp_path / "esn", length=5, paths=16)
    assert cfg.train.length == 5 and np.isfinite(ev.metrics["test"]["r2"])


@pytest.mark.slow
def test_train_auto_keeps_the_best_candidate(tmp_path):
    """A target no polynomial fits exactly: all three candidates run; the one with the lowest
    validation MSE is kept and saved under its own kind."""
    run = lagnet.train(
        "ar1(rho=0.5)",
        "abs(x[t-1])",
        "auto",
        reservoir=40,
        washout=5,
        max_seconds=60,
        steps=20,
        val_every=10,
        batch=16,
        hidden=6,
        head=[8],
        **SMALL,
    )
    cands = run.metrics["train"]["candidates"]
    assert [c["kind"] for c in cands] == ["narx", "esn", "gru"]
    assert all(c["val_mse"] is not None for c in cands)
    best = min(cands, key=lambda c: c["val_mse"])
    assert [c["kind"] for c in cands if c["kept"]] == [best["kind"]]
    assert run.metrics["train"]["kind"] == best["kind"]
    assert "auto candidate gru" in save_with_report(run, tmp_path / "auto")
    assert round_trips(run, tmp_path / "auto")["model"]["kind"] == best["kind"]


def test_a_network_chosen_by_auto_is_saved_under_its_own_kind(tmp_path):
    cfg = model_config(kind="auto", hidden=6, head=(8,))
    net = build_net(model_config(kind="gru", hidden=6, head=(8,)), 1, 1, jax.random.PRNGKey(0))
    model = Normalised(net, *identity_scaling(1), *identity_scaling(1))
    save_model(model, cfg, tmp_path, {}, kind="gru")  # the kind auto chose (metrics train.kind)
    loaded, meta = load_model(tmp_path)
    assert meta["model"]["kind"] == "gru" and meta["model"]["hidden"] == 6
    assert "reservoir" not in meta["model"]  # the gru's own settings only
    x = jax.random.normal(jax.random.PRNGKey(1), (2, 7, 1))
    np.testing.assert_array_equal(np.asarray(model(x)), np.asarray(loaded(x)))


@pytest.mark.slow
def test_auto_trains_no_network_when_narx_is_exact():
    run = lagnet.train("ar1(rho=0.1)", FORUM, "auto", reservoir=30, washout=5, **SMALL)
    info = run.metrics["train"]
    assert info["kind"] == "narx" and info["formula"] == FORUM
    assert info["candidates"][-1]["note"] == "skipped: narx is exact to float32 rounding"


# ----------------------------------------------------------------------------- NARX search
def narx_data(target, length=40, paths=200, seed=0):
    from lagnet.models.family import FitData

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(paths + 100, length, 1))
    y = target(x)
    return FitData(
        x[:paths],
        y[:paths],
        np.ones(length, bool),
        jax.random.PRNGKey(0),
        None,
        ("x",),
        64,
        val=(x[paths:], y[paths:]),
    )


def lag(x, k):
    return np.pad(x, ((0, 0), (k, 0), (0, 0)))[:, : x.shape[1]]


def test_narx_chooses_window_degree_and_terms_on_validation():
    """Left unset, the search finds the smallest model that is exact: the window that reaches
    the deepest lag, the degree of the polynomial, one term per monomial."""
    from lagnet.models.narx_fit import fit as fit_narx_searched

    data = narx_data(lambda x: x**2 + 0.5 * lag(x, 3) - 0.2 * x * lag(x, 1))
    net, info = fit_narx_searched(model_config(kind="narx"), data)
    assert info["chosen"] == {"window": 5, "narx_degree": 2, "narx_terms": 3}
    assert info["formula"] == "x[t]**2 + 0.5*x[t-3] - 0.2*x[t]*x[t-1]"
    assert info["search"]["val_mse"] < 1e-20


def test_narx_keeps_the_settings_given_and_chooses_the_rest():
    from lagnet.models.narx_fit import fit as fit_narx_searched

    data = narx_data(lambda x: x + 0.5 * lag(x, 1) ** 3)
    net, info = fit_narx_searched(model_config(kind="narx", narx_degree=3, window=2), data)
    assert info["chosen"] == {"narx_terms": 2} and info["window"] == 2
    assert info["formula"] == "0.5*x[t-1]**3 + x[t]"  # the larger term first
    # Given everything: no search at all.
    net, info = fit_narx_searched(
        model_config(kind="narx", narx_degree=1, window=2, narx_terms=1), data
    )
    assert "chosen" not in info and info["terms"] == 1


def test_narx_search_keeps_to_the_time_budget():
    """Past half the run's budget no further (window, degree) is started: the cheapest one is
    always tried, and the record says how many of how many."""
    import dataclasses

    from lagnet.models.narx_fit import fit as fit_narx_searched

    data = narx_data(lambda x: x**2 + 0.5 * lag(x, 3))
    _, full = fit_narx_searched(model_config(kind="narx"), data)
    assert full["search"]["trials"] == full["search"]["of"] == 12  # 4 windows × 3 degrees
    quick = dataclasses.replace(data, seconds=1e-9)
    _, info = fit_narx_searched(model_config(kind="narx"), quick)
    assert info["search"]["trials"] == 1 and info["search"]["of"] == 12
    assert info["chosen"]["narx_degree"] == 1 and info["chosen"]["window"] == 2  # the cheapest
