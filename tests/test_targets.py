"""The formula language: values against NumPy, jit, clean refusals of bad or hostile input,
formulas in a config and on the command line, and a task's sample as one program (windows,
recursion and several outputs: test_targets_windows.py)."""

import dataclasses
import pickle
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lagnet.errors import LagnetError
from lagnet.targets import Target, compile_target

N, L = 3, 12


@pytest.fixture
def x():
    return np.random.default_rng(0).normal(size=(N, L)).astype(np.float32)


def lag(a, k):
    """NumPy reference for a series k steps back, zeros before the start; float64."""
    out = np.zeros(a.shape)
    if k < a.shape[1]:
        out[:, k:] = a[:, : a.shape[1] - k]
    return out


def sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


# formula, reference as a function of x(k) = the series k steps back, max_lag
CASES = [
    ("x[t]**2 + 0.1*x[t-1]**2", lambda x: x(0) ** 2 + 0.1 * x(1) ** 2, 1),
    ("abs(x[t-2])", lambda x: np.abs(x(2)), 2),
    ("x[t]*x[t-3]", lambda x: x(0) * x(3), 3),
    ("tanh(x[t] - x[t-5])", lambda x: np.tanh(x(0) - x(5)), 5),
    ("where(x[t] > 0, x[t-1], -x[t-1])", lambda x: np.where(x(0) > 0, x(1), -x(1)), 1),
    ("clip(x[t], -1, 1)", lambda x: np.clip(x(0), -1, 1), 0),
    ("max(x[t], x[t-2])", lambda x: np.maximum(x(0), x(2)), 2),
    ("min(x[t], x[t-1], x[t-2])", lambda x: np.minimum(np.minimum(x(0), x(1)), x(2)), 2),
    ("exp(x[t])", lambda x: np.exp(x(0)), 0),
    ("log(abs(x[t]) + 1)", lambda x: np.log(np.abs(x(0)) + 1), 0),
    ("sqrt(abs(x[t-1]))", lambda x: np.sqrt(np.abs(x(1))), 1),
    ("sin(x[t]) + cos(x[t-1])", lambda x: np.sin(x(0)) + np.cos(x(1)), 1),
    ("sigmoid(x[t])", lambda x: sigmoid(x(0)), 0),
    ("relu(x[t-1])", lambda x: np.maximum(x(1), 0), 1),
    ("x[t] / (1 + x[t-1]**2)", lambda x: x(0) / (1 + x(1) ** 2), 1),
    ("-x[t] + +x[t-1] - -x[t-2]", lambda x: -x(0) + x(1) + x(2), 2),
    ("x[t]**3 - 2*x[t]", lambda x: x(0) ** 3 - 2 * x(0), 0),
    ("(1 + x[t]**2)**-1", lambda x: 1 / (1 + x(0) ** 2), 0),
    ("abs(x[t])**0.5 + x[t]**(2*3)", lambda x: np.abs(x(0)) ** 0.5 + x(0) ** 6, 0),
    ("2**x[t]", lambda x: 2.0 ** x(0), 0),
    ("pi*x[t] + e", lambda x: np.pi * x(0) + np.e, 0),
    ("3 + 4*x[t-4]", lambda x: 3 + 4 * x(4), 4),
    ("(x[t] < 0) + 2*(x[t-1] >= 0.5)", lambda x: (x(0) < 0) + 2.0 * (x(1) >= 0.5), 1),
    ("(x[t] <= x[t-1]) - (x[t] > x[t-1])", lambda x: (x(0) <= x(1)) - 1.0 * (x(0) > x(1)), 1),
    ("(x[t] == x[t]) + (x[t] != x[t-1])", lambda x: 1.0 + (x(0) != x(1)), 1),
    ("x[t] > 0 and x[t-1] > 0", lambda x: 1.0 * ((x(0) > 0) & (x(1) > 0)), 1),
    ("not x[t] > 0 or x[t-1] > 1", lambda x: 1.0 * (~(x(0) > 0) | (x(1) > 1)), 1),
    ("x[t - 0] + x[t+0]", lambda x: 2 * x(0), 0),
    ("x[t]\n  + x[t-1]", lambda x: x(0) + x(1), 1),
    ("  x[t]*(exp(1) - e)", lambda x: x(0) * 0.0, 0),
]


@pytest.mark.parametrize("formula, ref, max_lag", CASES, ids=[c[0][:40] for c in CASES])
def test_values_match_numpy(x, formula, ref, max_lag):
    target = compile_target(formula, series=("x",))
    assert target.series == ("x",)
    assert target.max_lag == max_lag
    assert target.outputs == 1
    y, valid = target({"x": jnp.asarray(x)})
    assert y.shape == (N, L, 1) and y.dtype == jnp.float32
    assert valid.shape == (L,) and valid.dtype == jnp.bool_
    np.testing.assert_array_equal(np.asarray(valid), np.arange(L) >= max_lag)
    want = np.broadcast_to(ref(lambda k: lag(x, k)), (N, L))
    v = np.asarray(valid)
    np.testing.assert_allclose(np.asarray(y)[:, v, 0], want[:, v], rtol=2e-5, atol=1e-6)
    assert np.all(np.asarray(y)[:, ~v] == 0)


@pytest.mark.slow
def test_long_sum_is_not_deep_nesting():
    # 200 terms are one left-leaning chain, not 200 levels of nesting.
    x = np.random.default_rng(2).normal(size=(2, 250)).astype(np.float32)
    target = compile_target("+".join(f"x[t-{k}]" for k in range(200)))
    assert target.max_lag == 199
    y, valid = target.numpy({"x": x})
    want = sum(lag(x, k) for k in range(200))
    np.testing.assert_allclose(y[:, valid, 0], want[:, valid], rtol=1e-4, atol=1e-4)


def test_jit_matches_eager(x):
    target = compile_target("where(x[t] > 0, x[t-1]**2, tanh(x[t-2]))")
    paths = {"x": jnp.asarray(x)}
    y_jit, valid_jit = jax.jit(lambda p: target(p))(paths)
    y, valid = target(paths)
    np.testing.assert_allclose(np.asarray(y_jit), np.asarray(y), rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(valid_jit), np.asarray(valid))


def test_two_series(x):
    e = np.random.default_rng(1).normal(size=(N, L)).astype(np.float32)
    target = compile_target("x[t]*e[t-2]", series=("x", "e"))
    assert target.series == ("e", "x") and target.max_lag == 2
    y, valid = target.numpy({"x": x, "e": e, "unused": np.zeros((1, 1))})
    assert isinstance(y, np.ndarray) and isinstance(valid, np.ndarray)
    np.testing.assert_allclose(y[:, 2:, 0], x[:, 2:] * e[:, :-2], rtol=1e-6)


def test_float64_input_gives_float32(x):
    y, _ = compile_target("0.1*x[t]")({"x": x.astype(np.float64)})
    assert y.dtype == jnp.float32


def test_lag_longer_than_path_is_all_invalid(x):
    y, valid = compile_target("log(x[t-20])").numpy({"x": x})
    assert not valid.any() and np.all(y == 0)


def test_nan_at_valid_steps_is_kept(x):
    # Folding log(-1) at compile time must not warn (warnings are errors) nor hide the NaN.
    y, _ = compile_target("log(-1)*x[t]").numpy({"x": x})
    assert np.isnan(y).all()


def test_missing_or_misshapen_paths(x):
    target = compile_target("x[t]*e[t]")
    with pytest.raises(LagnetError, match="missing series"):
        target({"x": x})
    with pytest.raises(LagnetError, match="one shape"):
        target({"x": x, "e": x[:, :5]})


def test_target_is_frozen_hashable_picklable_and_reads_well():
    target = compile_target("x[t]**2 + 0.1*x[t-1]**2")
    assert isinstance(target, Target)
    with pytest.raises(dataclasses.FrozenInstanceError):
        target.max_lag = 3  # type: ignore[misc]
    assert target == compile_target("x[t]**2 + 0.1*x[t-1]**2")
    assert hash(target) == hash(compile_target("x[t]**2 + 0.1*x[t-1]**2"))
    assert pickle.loads(pickle.dumps(target)) == target
    assert repr(target) == "Target('x[t]**2 + 0.1*x[t-1]**2', series=('x',), max_lag=1)"


# formula, known series, pieces the message must contain (token and column)
INVALID = [
    ("x[t] + x[t+1]", None, ["future value x[t+1]", "column 8", "present and past"]),
    ("x[t] + y[t-1]", ("x", "e"), ["unknown series 'y'", "column 8", "known: e, x"]),
    ("x[t] + y", ("x",), ["unknown name 'y'", "column 8"]),
    ("foo(x[t])", None, ["function 'foo'", "column 1", "allowed: abs"]),
    ("2*x", None, ["bare name 'x'", "column 3", "x[t]"]),
    ("x[t] * t", None, ["bare 't'", "column 8"]),
    ("x[3]", None, ["x[3]", "column 1"]),
    ("x[t] + x[t-1.5]", None, ["1.5", "x[t-1.5]", "column 8", "whole number"]),
    ("x[t-k]", None, ["'k'", "x[t-k]", "column 1", "literal"]),
    ("x[t] + * 2", None, ["syntax error", "column 8"]),
    ("x[t] +", None, ["syntax error", "column 7", "end of formula"]),
    ("", None, ["empty", "column 1"]),
    ("   ", None, ["empty", "column 1"]),
    ("x[t]^2", None, ["'^'", "column 5", "**"]),
    ("x[t] % 2", None, ["'%'", "column 6"]),
    ("~x[t]", None, ["'~'", "column 1"]),
    ("x[t] is x[t]", None, ["'is'", "column 6"]),
    ("0 < x[t] < 1", None, ["chained comparison", "column 1"]),
    ("clip(x[t], 1)", None, ["function 'clip'", "column 1", "takes 3", "got 2"]),
    ("max(x[t])", None, ["function 'max'", "column 1", "at least 2"]),
    ("abs", None, ["function 'abs'", "column 1", "called"]),
    ("x[t-20000]", None, ["lag 20000", "x[t-20000]", "larger than 10000"]),
    ("x[t][t]", None, ["subscript 'x[t][t]'", "column 1"]),
    ("x[t:1]", None, ["x[t:1]", "column 1"]),
    ("e[t] + e", None, ["bare 'e'", "column 8", "ambiguous"]),
    ("2 + pi", None, ["reads no series"]),
    ("True * x[t]", None, ["True", "column 1"]),
    ("1e999 * x[t]", None, ["1e999", "column 1", "too large"]),
    ("x[t] # note", None, ["'#'", "column 6"]),
    ("x[t] + é", None, ["bare name 'é'", "column 8"]),  # columns count characters
    ("abs(x[t], y=1)", None, ["keyword argument 'y'", "column 11"]),
]


@pytest.mark.parametrize("formula, known, pieces", INVALID, ids=[c[0] for c in INVALID])
def test_invalid_formulas_name_token_and_column(formula, known, pieces):
    with pytest.raises(LagnetError) as info:
        compile_target(formula, series=known)
    err = info.value
    assert err.field == "target.formula"
    for piece in pieces:
        assert piece in err.reason, (piece, err.reason)
    assert "\n" not in str(err)


HOSTILE = [
    ("__import__('os')", "function '__import__'"),
    ("x.__class__", "attribute access"),
    ("x[t].__class__.__bases__", "attribute access"),
    ("abs.__call__(x[t])", "attribute access"),
    ("(lambda: 1)()", "lambda"),
    ("[x[t] for x in y]", "comprehension"),
    ("x[t]**99999999", "exponent"),
    ("9**9**9**9", "exponent"),
    ("x[t]**(1/0)", "exponent"),
    ("(" * 5000 + "x[t]" + ")" * 5000, "characters long"),
    ("(" * 300 + "x[t]" + ")" * 300, "nested"),
    ("abs(" * 150 + "x[t]" + ")" * 150, "deeper than 100"),
    ("-" * 10000 + "x[t]", "characters long"),
    ("-" * 1990 + "x[t]", "deeper than 100"),
    ("x[t]+" * 20000 + "x[t]", "characters long"),
    ("open('f')", "function 'open'"),
    ('"abc"', "string"),
    ("f'{x}'", "f-string"),
    ("x[t] if 1 else 2", "where(c, a, b)"),
    ("(y := x[t])", "':='"),
    ("max(*x[t])", "starred"),
    ("{x[t]: 1}", "dict"),
    ("x[t], x[t-1]", "tuple"),
    ("x[t]\x00", "control character"),
    (None, "must be a string"),
]


@pytest.mark.parametrize("formula, piece", HOSTILE, ids=[repr(h[0])[:40] for h in HOSTILE])
def test_hostile_formulas_fail_fast_and_cleanly(formula, piece):
    start = time.perf_counter()
    with pytest.raises(LagnetError) as info:
        compile_target(formula)
    assert time.perf_counter() - start < 1.0
    assert piece in info.value.reason
    assert "\n" not in str(info.value)


def test_message_of_multiline_formula_is_one_line():
    with pytest.raises(LagnetError) as info:
        compile_target("x[t]\n+ y[t]", series=("x",))
    assert "\n" not in str(info.value) and "column 8" in str(info.value)


def test_config_takes_one_formula_or_a_list(tmp_path):
    from lagnet.config import config_to_toml, load_config, make_config

    one = make_config({"target": {"formula": "x[t]"}})
    assert one.target.formula == "x[t]" and one.target.init == 0.0
    many = make_config({"target": {"formula": ["x[t]", "y[t] = y[t-1] + x[t]"], "init": 2}})
    assert many.target.formula == ("x[t]", "y[t] = y[t-1] + x[t]")
    (tmp_path / "c.toml").write_text(config_to_toml(many))
    assert load_config(tmp_path / "c.toml") == many
    for bad in ([], ["x[t]", 3], 3):
        with pytest.raises(LagnetError) as info:
            make_config({"target": {"formula": bad}})
        assert info.value.field == "target.formula"


def test_cli_target_given_twice_is_two_outputs(tmp_path):
    from typer.testing import CliRunner

    from lagnet.cli import app

    # Refused while the task is built, before any training: the message names the entry.
    res = CliRunner().invoke(
        app, ["train", "--target", "x[t]", "--target", "x[t+1]", "--out", str(tmp_path / "run")]
    )
    assert res.exit_code == 2
    assert "target.formula[1]: x[t+1]" in " ".join(res.output.split())


def test_a_task_samples_as_one_program_what_it_samples_op_by_op():
    """Outside a trace a simulated task's sample is one compiled program per shape; it gives
    the values the simulation and the formula give step by step, and bad shapes still get
    the process's error."""
    from lagnet.config import RunConfig
    from lagnet.tasks import build_task, simulation

    cfg = RunConfig.model_validate(
        {"process": {"kind": "arma", "ar": [0.5]}, "target": {"formula": "x[t]**2 + 0.3*x[t-2]"}}
    )
    task = build_task(cfg)
    key = jax.random.PRNGKey(4)
    x, y, valid = task.sample(key, 7, 30)
    x0, y0, valid0 = task._sample(key, 7, 30, None)
    np.testing.assert_allclose(np.asarray(x), np.asarray(x0), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(y), np.asarray(y0), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(np.asarray(valid), np.asarray(valid0))
    assert simulation(task)._cache_size() == 1
    task.sample(jax.random.PRNGKey(5), 7, 30)
    assert simulation(task)._cache_size() == 1  # same shape: the same program
    for n in (0, -3, "7", 2.5, True):
        with pytest.raises(LagnetError, match="^n: "):
            task.sample(key, n, 30)
