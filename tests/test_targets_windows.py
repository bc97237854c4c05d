"""The formula language beyond lags: moving windows and ewm against NumPy loops and pandas,
recursion (NARMA-10 against a Python loop), several outputs, their clean refusals, and a
two-output run end to end."""

import pickle

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from lagnet.errors import LagnetError
from lagnet.targets import compile_target


@pytest.fixture
def x():
    return np.random.default_rng(0).normal(size=(3, 12)).astype(np.float32)


def lag(a, k):
    """NumPy reference for a series k steps back, zeros before the start; float64."""
    out = np.zeros(a.shape)
    if k < a.shape[1]:
        out[:, k:] = a[:, : a.shape[1] - k]
    return out


# ----------------------------------------------------------------------------- windows
def window_ref(a, k, lag, f):
    """NumPy loop: f over a[t-lag-k+1 .. t-lag] at each t where that window is inside the path."""
    out = np.full(a.shape, np.nan)
    for i in range(a.shape[0]):
        for t in range(k - 1 + lag, a.shape[1]):
            out[i, t] = f(a[i, t - lag - k + 1 : t - lag + 1].astype(np.float64))
    return out


WINDOW_CASES = [  # function, k, lag — lengths with one and with several binary digits
    ("sum", 1, 0),
    ("sum", 10, 0),
    ("sum", 7, 3),
    ("mean", 4, 0),
    ("mean", 13, 2),
    ("std", 2, 0),
    ("std", 10, 1),
    ("std", 16, 0),
    ("max", 3, 0),
    ("max", 11, 4),
    ("min", 5, 0),
    ("min", 9, 2),
]
NUMPY = {"sum": np.sum, "mean": np.mean, "std": np.std, "max": np.max, "min": np.min}


@pytest.mark.slow
@pytest.mark.parametrize(
    "fn, k, lag", WINDOW_CASES, ids=[f"{f}-{k}-{g}" for f, k, g in WINDOW_CASES]
)
def test_window_functions_match_numpy_loop(fn, k, lag):
    x = np.random.default_rng(3).normal(size=(3, 40)).astype(np.float32)
    formula = f"{fn}(x, {k}, lag={lag})" if lag else f"{fn}(x, {k})"
    target = compile_target(formula, series=("x",))
    assert target.max_lag == k - 1 + lag == target.warmup
    y, valid = target.numpy({"x": x})
    np.testing.assert_array_equal(valid, np.arange(40) >= k - 1 + lag)
    want = window_ref(x, k, lag, NUMPY[fn])
    np.testing.assert_allclose(y[:, valid, 0], want[:, valid], rtol=1e-5, atol=1e-5)
    assert np.all(y[:, ~valid] == 0)


def test_window_std_is_stable_far_from_zero():
    # Mean 1000, std 0.01: E[x²] - E[x]² in float32 is off by orders of magnitude here
    # (measured 8000%); merging (mean, M2) pairs stays within 0.4%.
    x = (1000 + 0.01 * np.random.default_rng(4).normal(size=(4, 64))).astype(np.float32)
    y, valid = compile_target("std(x, 8)").numpy({"x": x})
    np.testing.assert_allclose(y[:, valid, 0], window_ref(x, 8, 0, np.std)[:, valid], rtol=2e-2)


def test_long_window_matches_numpy_loop():
    x = np.random.default_rng(5).normal(size=(2, 600)).astype(np.float32)
    y, valid = compile_target("mean(x, 300, lag=5) + max(x, 257)").numpy({"x": x})
    want = window_ref(x, 300, 5, np.mean) + window_ref(x, 257, 0, np.max)
    np.testing.assert_allclose(y[:, valid, 0], want[:, valid], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("alpha, offset", [(0.3, 0), (0.05, 2), (1.0, 0)])
def test_ewm_matches_pandas(alpha, offset):
    x = np.random.default_rng(6).normal(size=(3, 50)).astype(np.float32)
    formula = f"ewm(x, {alpha}, lag={offset})" if offset else f"ewm(x, {alpha})"
    target = compile_target(formula)
    assert target.max_lag == offset  # valid from the ewm's own start: m_0 = x_0
    y, valid = target.numpy({"x": x})
    want = np.stack(
        [
            pd.Series(row.astype(np.float64)).ewm(alpha=alpha, adjust=False).mean().to_numpy()
            for row in x
        ]
    )
    np.testing.assert_array_equal(valid, np.arange(50) >= offset)
    np.testing.assert_allclose(y[:, valid, 0], lag(want, offset)[:, valid], rtol=1e-5, atol=1e-6)


def test_max_and_min_window_form_versus_elementwise(x):
    y, valid = compile_target("max(x, 3) - min(x[t], 0.5)").numpy({"x": x})
    want = window_ref(x, 3, 0, np.max) - np.minimum(x, 0.5)
    np.testing.assert_allclose(y[:, valid, 0], want[:, valid], rtol=1e-6)
    assert compile_target("max(x[t], 3)").max_lag == 0  # an expression: elementwise


# ----------------------------------------------------------------------------- recursion
NARMA10 = "y[t] = 0.3*y[t-1] + 0.05*y[t-1]*sum(y, 10, lag=1) + 1.5*u[t-9]*u[t] + 0.1"


def narma10_loop(u, init):
    """The NARMA-10 equation (Atiya & Parlos 2000) step by step in float64; y = init before
    t = 0 and u = 0 before t = 0, as the formula language reads them."""
    n, length = u.shape
    y = np.zeros((n, length))
    for i in range(n):
        yy = lambda s: y[i, s] if s >= 0 else init  # noqa: E731
        uu = lambda s: u[i, s] if s >= 0 else 0.0  # noqa: E731
        for t in range(length):
            y[i, t] = (
                0.3 * yy(t - 1)
                + 0.05 * yy(t - 1) * sum(yy(t - j) for j in range(1, 11))
                + 1.5 * uu(t - 9) * uu(t)
                + 0.1
            )
    return y


@pytest.mark.parametrize("init", [0.0, 0.2])
def test_narma10_matches_python_loop(init):
    u = np.random.default_rng(7).uniform(0, 0.5, size=(4, 120)).astype(np.float32)
    target = compile_target(NARMA10, series=("u", "x"), init=init)
    assert target.series == ("u",) and target.recursive
    assert target.max_lag == 10 and target.warmup == 11  # the recursion masks one step more
    y, valid = target.numpy({"u": u})
    np.testing.assert_array_equal(valid, np.arange(120) >= 11)
    want = narma10_loop(u.astype(np.float64), init)
    np.testing.assert_allclose(y[:, valid, 0], want[:, valid], rtol=1e-5, atol=1e-6)
    if init:  # the initial value reaches the valid steps through the recursion
        y0, _ = compile_target(NARMA10).numpy({"u": u})
        assert np.abs(y0[:, 11, 0] - y[:, 11, 0]).min() > 1e-3


def test_recursion_with_windows_and_ewm_of_itself():
    x = np.random.default_rng(8).normal(size=(3, 60)).astype(np.float32)
    f = "z[t] = 0.4*mean(z, 3, lag=1) + 0.2*ewm(z, 0.3, lag=2) - 0.1*std(z, 4, lag=2) + x[t-1]"
    target = compile_target(f, init=0.5)
    assert target.max_lag == 5 and target.warmup == 6
    y, valid = target.numpy({"x": x})
    z = np.zeros(x.shape)
    m = np.zeros(x.shape)  # z's ewm, m_0 = z_0
    for i in range(3):
        zz = lambda s: z[i, s] if s >= 0 else 0.5  # noqa: E731
        mm = lambda s: m[i, s] if s >= 0 else 0.5  # noqa: E731
        for t in range(60):
            z[i, t] = (
                0.4 * np.mean([zz(t - j) for j in (1, 2, 3)])
                + 0.2 * mm(t - 2)
                - 0.1 * np.std([zz(t - j) for j in (2, 3, 4, 5)])
                + (x[i, t - 1] if t >= 1 else 0.0)
            )
            m[i, t] = z[i, t] if t == 0 else 0.3 * z[i, t] + 0.7 * m[i, t - 1]
    np.testing.assert_allclose(y[:, valid, 0], z[:, valid], rtol=1e-5, atol=1e-5)


# ----------------------------------------------------------------------------- several outputs
def test_several_outputs_stack_the_single_formulas():
    rng = np.random.default_rng(9)
    paths = {
        "x": rng.normal(size=(3, 30)).astype(np.float32),
        "h": rng.normal(size=(3, 30)).astype(np.float32),
    }  # h: latent, still readable
    formulas = ["x[t]**2", "sum(h, 4, lag=1)", "s[t] = 0.5*s[t-1] + x[t]"]
    target = compile_target(formulas, series=("x", "h"), init=1.0)
    assert target.outputs == 3 and target.formulas == tuple(formulas)
    assert target.series == ("h", "x") and target.max_lag == 4 and target.warmup == 5
    y, valid = target.numpy(paths)
    assert y.shape == (3, 30, 3) and y.dtype == np.float32 and valid.shape == (30,)
    np.testing.assert_array_equal(valid, np.arange(30) >= 5)  # one mask, the strictest rule
    for o, f in enumerate(formulas):
        alone, _ = compile_target(f, init=1.0).numpy(paths)
        np.testing.assert_allclose(y[:, valid, o], alone[:, valid, 0], rtol=1e-6)
    assert compile_target(["x[t]"]).outputs == 1  # a list of one is one output
    back = pickle.loads(pickle.dumps(target))
    assert back == target and back.init == 1.0 and back.numpy(paths)[0].shape == y.shape


def test_jit_of_recursive_multi_output_target_matches_eager(x):
    target = compile_target(["y[t] = 0.5*y[t-1] + x[t]*ewm(x, 0.2)", "std(x, 3)"])
    paths = {"x": jnp.asarray(x)}
    y_jit, valid_jit = jax.jit(lambda p: target(p))(paths)
    y, valid = target(paths)
    np.testing.assert_allclose(np.asarray(y_jit), np.asarray(y), rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(valid_jit), np.asarray(valid))


# formula (or list), known series, field, pieces the message must contain
RICH_INVALID = [
    ("y[t] = y[t] + x[t]", ("x",), "target.formula", ["y[t]", "column 8", "k >= 1"]),
    ("y[t] = 0.5*y[t-0] + x[t]", ("x",), "target.formula", ["y[t-0]", "column 12"]),
    ("y[t] = sum(y, 3) + x[t]", ("x",), "target.formula", ["sum(y, 3)", "column 8", "lag=1"]),
    ("y[t] = ewm(y, 0.5) + x[t]", ("x",), "target.formula", ["ewm(y, 0.5)", "column 8"]),
    ("x[t] = 0.5*x[t-1]", ("x",), "target.formula", ["'x'", "column 1", "clashes"]),
    ("y[t] = z[t] = x[t]", ("x",), "target.formula", ["more than one '='", "column 13"]),
    ("y[t-1] = x[t]", None, "target.formula", ["y[t-1]", "column 1", "NAME[t]"]),
    ("y[t] += x[t]", None, "target.formula", ["augmented", "column 1"]),
    ("x[t]; x[t-1]", None, "target.formula", ["';'", "column 5", "list"]),
    ("import os", None, "target.formula", ["statement 'import os'", "column 1"]),
    ("2 * sum(x[t], 3)", None, "target.formula", ["'x[t]'", "column 5", "bare series name"]),
    ("sum(x, 0)", None, "target.formula", ["window length '0'", "column 1"]),
    ("mean(x, 2.5)", None, "target.formula", ["window length '2.5'", "column 1"]),
    ("x[t] + std(x, 3, lag=-1)", None, "target.formula", ["lag '-1'", "column 8"]),
    ("max(x, 3, step=2)", None, "target.formula", ["keyword argument 'step'", "column 11"]),
    ("ewm(x, 1.5)", None, "target.formula", ["alpha '1.5'", "column 1", "(0, 1]"]),
    ("sum(z, 3)", ("x",), "target.formula", ["unknown series 'z'", "column 5"]),
    ("sum(x, 6000, lag=5000)", None, "target.formula", ["looks back 10999", "column 1"]),
    (["x[t]", "x[t+1]"], None, "target.formula[1]", ["x[t+1]", "column 1"]),
    ([], None, "target.formula", ["1 to 64"]),
]


@pytest.mark.parametrize(
    "formula, known, field, pieces", RICH_INVALID, ids=[str(c[0]) for c in RICH_INVALID]
)
def test_windows_recursion_and_lists_refuse_cleanly(formula, known, field, pieces):
    with pytest.raises(LagnetError) as info:
        compile_target(formula, series=known)
    assert info.value.field == field
    for piece in pieces:
        assert piece in info.value.reason, (piece, info.value.reason)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("init", [float("nan"), True, "0"])
def test_bad_initial_value_is_refused(init):
    with pytest.raises(LagnetError) as info:
        compile_target("y[t] = y[t-1] + x[t]", init=init)
    assert info.value.field == "target.init"


@pytest.mark.slow
def test_two_outputs_train_evaluate_and_report(tmp_path):
    import json

    import lagnet

    run = lagnet.train(
        process="ar1(rho=0.5)",
        target=["x[t]**2", "mean(x, 3)"],
        model="gru",
        hidden=8,
        steps=30,
        batch=16,
        length=20,
        val_every=10,
        val_paths=32,
        pilot_paths=32,
        eval=dict(test_paths=40, long_paths=8, long_factor=2, baseline_paths=40),
        out=tmp_path / "run",
    )
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert m["target"]["formula"] == ["x[t]**2", "mean(x, 3)"] and m["target"]["outputs"] == 2
    outs = m["outputs"]
    assert [o["formula"] for o in outs] == ["x[t]**2", "mean(x, 3)"]
    # The headline averages the outputs; each output's numbers are its own.
    assert m["test"]["mse"] == pytest.approx(np.mean([o["mse"] for o in outs]))
    assert m["test"]["r2"] == pytest.approx(np.mean([o["r2"] for o in outs]))
    assert outs[0]["memory_r2"] is None  # x[t]**2 needs no memory
    assert m["test"]["memory_r2"] == pytest.approx(outs[1]["memory_r2"])
    # mean(x, 3) is linear in the last 3 inputs: the linear baseline gets it exactly.
    assert outs[1]["linear_lags"]["r2"] == pytest.approx(1.0, abs=1e-6)
    x = run.predictions["x"]
    y, valid = run.predictions["y"], run.predictions["valid"]
    np.testing.assert_allclose(
        y[:, valid, 1], window_ref(x[..., 0], 3, 0, np.mean)[:, valid], rtol=1e-4, atol=1e-5
    )
    assert run.predict(x[:2]).shape == (2, 20, 2)
    html = (tmp_path / "run" / "report.html").read_text()
    assert "x[t]**2; mean(x, 3)" in html and "long-horizon R²" in html
    assert len(list((tmp_path / "run" / "plots").glob("*.png"))) == 5
