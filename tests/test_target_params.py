"""Formula parameters (``target.params``): values equal the formula with the number written in,
one compilation serves every value (jit and vmap over them), clean refusals, and the way in from
a config file, ``--set`` and Python."""

import pickle

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from typer.testing import CliRunner

import lagnet
from conftest import TINY_FLAGS
from lagnet.cli import app
from lagnet.config import config_to_toml, load_config, make_config, merge
from lagnet.errors import LagnetError
from lagnet.targets import _evaluate, compile_target
from lagnet.tasks import build_task

N, L = 4, 16


@pytest.fixture
def paths():
    rng = np.random.default_rng(0)
    return {"x": jnp.asarray(rng.normal(size=(N, L)), jnp.float32)}


def written_in(formula, values):
    """The formula with each parameter replaced by its number (parameters are single letters
    here, and no other name in these formulas contains them as a word)."""
    import re

    for name, value in values.items():
        formula = re.sub(rf"\b{name}\b", f"({value!r})", formula)
    return formula


# formulas (one, or one per output) and parameter values
CASES = [
    ("x[t]**2 + w*x[t-1]**2", {"w": 0.1}),
    ("x[t]**2 - w*x[t-1]**2", {"w": 0.5}),
    ("where(x[t] > c, w*x[t-1], -x[t-1]) + mean(x, 3, lag=1)*v", {"w": 2.0, "c": 0.3, "v": 0.7}),
    ("abs(x[t])**w + exp(-w*x[t-2])", {"w": 0.75}),
    ("y[t] = w*y[t-1] + x[t]", {"w": 0.5}),
    ("y[t] = a*y[t-1] + b*sum(y, 3, lag=1)*x[t] + c", {"a": 0.3, "b": 0.05, "c": 0.1}),
    (("x[t]*w", "mean(x, 3) + v*x[t-1]"), {"w": -1.5, "v": 3.0}),
    (("y[t] = w*y[t-1] + x[t]", "x[t-2]*w"), {"w": 0.9}),
]


@pytest.mark.parametrize("formula, values", CASES, ids=[str(c[0])[:40] for c in CASES])
def test_values_equal_the_formula_with_the_numbers_written_in(paths, formula, values):
    target = compile_target(formula, ("x",), params=values)
    assert target.params == tuple(sorted(values)) and target.defaults == values
    literal = (
        written_in(formula, values)
        if isinstance(formula, str)
        else [written_in(f, values) for f in formula]
    )
    want, want_valid = compile_target(literal, ("x",)).numpy(paths)
    y, valid = target.numpy(paths)  # the defaults
    np.testing.assert_array_equal(valid, want_valid)
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-6)
    # Other values, given at the call: the same as compiling them in.
    other = {k: v * 1.5 - 0.05 for k, v in values.items()}
    want2, _ = compile_target(
        written_in(formula, other)
        if isinstance(formula, str)
        else [written_in(f, other) for f in formula],
        ("x",),
    ).numpy(paths)
    y2, _ = target.numpy(paths, {k: jnp.float32(v) for k, v in other.items()})
    np.testing.assert_allclose(y2, want2, rtol=1e-5, atol=1e-6)


def test_jit_over_a_parameter_compiles_once(paths):
    target = compile_target("x[t]**2 + w*x[t-1]**2", ("x",), params={"w": 0.1})
    traces = []

    @jax.jit
    def f(w):
        traces.append(1)  # runs only while tracing
        return target(paths, {"w": w})[0]

    x = np.asarray(paths["x"], np.float64)
    x1 = np.concatenate([np.zeros((N, 1)), x[:, :-1]], axis=1)
    for w in (0.0, 0.1, 0.25, 0.5, 1.0):
        y = np.asarray(f(w))
        np.testing.assert_allclose(y[:, 1:, 0], (x**2 + w * x1**2)[:, 1:], rtol=1e-5)
    assert len(traces) == 1


def test_eager_calls_and_other_defaults_share_one_compilation(paths):
    # The compiled evaluation is keyed on the formula, not on the parameters' values.
    formula = "x[t]*w + x[t-3]*v"
    compile_target(formula, ("x",), params={"w": 0.0, "v": 0.0})(paths)  # warm the cache
    before = _evaluate._cache_size()
    for w in (0.1, 0.2, 0.3):
        target = compile_target(formula, ("x",), params={"w": w, "v": 2 * w})
        target(paths)
        target(paths, {"v": -w})
    assert _evaluate._cache_size() == before


def test_vmap_over_a_parameter(paths):
    target = compile_target("y[t] = w*y[t-1] + x[t]", ("x",), params={"w": 0.0})
    ws = jnp.asarray([0.0, 0.3, 0.9])
    ys, valid = jax.vmap(lambda w: target(paths, {"w": w}))(ws)
    assert ys.shape == (3, N, L, 1)
    for i, w in enumerate(np.asarray(ws)):
        alone, _ = target(paths, {"w": float(w)})
        np.testing.assert_allclose(np.asarray(ys[i]), np.asarray(alone), rtol=1e-6, atol=1e-7)
    # and against the recursion by hand
    x, y = np.asarray(paths["x"], np.float64), np.zeros((N, L))
    for t in range(L):
        y[:, t] = 0.9 * (y[:, t - 1] if t else 0.0) + x[:, t]
    np.testing.assert_allclose(np.asarray(ys[2])[:, 2:, 0], y[:, 2:], rtol=1e-5)


def test_names_only_needs_values_at_the_call(paths):
    target = compile_target("x[t]*w", params=("w",))
    assert target.params == ("w",) and target.defaults == {}
    with pytest.raises(LagnetError, match="needs a number") as info:
        target(paths)
    assert info.value.field == "target.params.w"
    y, _ = target.numpy(paths, {"w": 2.0})
    np.testing.assert_allclose(y[..., 0], 2 * np.asarray(paths["x"]), rtol=1e-6)


def test_target_with_params_pickles_compares_and_reads_well(paths):
    target = compile_target("x[t]**2 + w*x[t-1]**2", params={"w": 0.1})
    assert pickle.loads(pickle.dumps(target)) == target
    assert target != compile_target("x[t]**2 + w*x[t-1]**2", params={"w": 0.2})
    assert hash(target) == hash(compile_target("x[t]**2 + w*x[t-1]**2", params={"w": 0.1}))
    assert repr(target) == (
        "Target('x[t]**2 + w*x[t-1]**2', series=('x',), max_lag=1, params={'w': 0.1})"
    )
    names_only = compile_target("x[t]*w", params=["w"])
    assert pickle.loads(pickle.dumps(names_only)).params == ("w",)


# formula, series, params, the error's field, pieces of its reason
REFUSED = [
    ("x[t] + w*x[t-1]", ("x",), None, "target.formula", ["unknown name 'w'", "target.params"]),
    ("x[t] + w*x[t-1]", None, None, "target.formula", ["bare name 'w'", "target.params"]),
    ("x[t] + v*x[t-1]", ("x",), {"w": 1}, "target.formula", ["unknown name 'v'", "parameters: w"]),
    ("x[t]", ("x",), {"w": 1}, "target.params.w", ["not used by the formula", "typo"]),
    (["x[t]", "x[t-1]"], ("x",), {"w": 1}, "target.params.w", ["not used"]),
    ("x[t]*x", ("x",), {"x": 1}, "target.params.x", ["series of the process"]),
    ("x[t]*w[t]", ("x",), {"w": 1}, "target.formula", ["'w' at column 6 is a parameter"]),
    ("sum(w, 3) + x[t]", None, {"w": 1}, "target.formula", ["'w' at column 5 is a parameter"]),
    ("ewm(x, w)", None, {"w": 0.5}, "target.formula", ["alpha 'w'", "not a parameter"]),
    ("x[t-w]", None, {"w": 1}, "target.formula", ["lag 'w'", "literal"]),
    ("w[t] = 0.5*w[t-1] + x[t]", None, {"w": 1}, "target.formula", ["clashes with a parameter"]),
    ("w*2 + 1", None, {"w": 1}, "target.formula", ["reads no series"]),
    ("x[t]*w", None, {"w": float("nan")}, "target.params.w", ["finite"]),
    ("x[t]*w", None, {"w": 10**400}, "target.params.w", ["finite"]),
    ("x[t]*w", None, {"w": True}, "target.params.w", ["number"]),
    ("x[t]*w", None, {"w": "0.5"}, "target.params.w", ["number"]),
    ("x[t]*sum", None, {"sum": 1}, "target.params.sum", ["function of the formula language"]),
    ("x[t]*e", None, {"e": 1}, "target.params.e", ["constant of the formula language"]),
    ("x[t]*t", None, {"t": 1}, "target.params.t", ["time"]),
    ("x[t]", None, {"lambda": 1}, "target.params.lambda", ["Python keyword"]),
    ("x[t]", None, {"1w": 1}, "target.params", ["letter"]),
    ("x[t]", None, {"__class__": 1}, "target.params", ["letter"]),
    ("x[t]", None, {"ш": 1}, "target.params", ["ASCII"]),
    ("x[t]", None, "w", "target.params", ["table of names"]),
]


@pytest.mark.parametrize(
    "formula, series, params, field, pieces", REFUSED, ids=[f"{c[0]}|{c[2]}" for c in REFUSED]
)
def test_refusals_name_the_field(formula, series, params, field, pieces):
    with pytest.raises(LagnetError) as info:
        compile_target(formula, series, params=params)
    assert info.value.field == field, str(info.value)
    for piece in pieces:
        assert piece in info.value.reason, (piece, info.value.reason)
    assert "\n" not in str(info.value)


def test_call_refuses_unknown_or_non_scalar_values(paths):
    target = compile_target("x[t]*w", params={"w": 0.1})
    with pytest.raises(LagnetError, match="not a parameter of the formula") as info:
        target(paths, {"W": 0.5})  # a typo
    assert info.value.field == "target.params.W"
    with pytest.raises(LagnetError, match="scalar"):
        target(paths, {"w": jnp.ones(3)})
    with pytest.raises(LagnetError, match="it has none"):
        compile_target("x[t]")(paths, {"w": 1.0})


def test_config_round_trip_and_set(tmp_path):
    cfg, _ = merge(values={"target.formula": "x[t]**2 + w*x[t-1]**2"}, sets=["target.params.w=0.5"])
    assert cfg.target.params == {"w": 0.5}
    path = tmp_path / "config.toml"
    path.write_text(config_to_toml(cfg))
    assert "[target.params]" in path.read_text()
    again = load_config(path)
    assert again == cfg and again.target.params == {"w": 0.5}
    # No parameters: no empty table in the file.
    assert "params" not in config_to_toml(make_config())
    # --set on top of a file's table replaces one value and keeps the others.
    two, _ = merge(
        make_config({"target": {"formula": "x[t]*w + v", "params": {"w": 1, "v": 2}}}),
        sets=["target.params.v=3"],
    )
    assert two.target.params == {"v": 3.0, "w": 1.0}
    with pytest.raises(LagnetError) as info:
        merge(cfg, sets=["target.params.w=nan"])
    assert info.value.field == "target.params.w"


def test_task_samples_with_the_config_values_or_given_ones(key):
    cfg = make_config(
        {
            "process": "ar1(rho=0.5)",
            "target": {"formula": "x[t] + w*x[t-1]", "params": {"w": 0.25}},
        }
    )
    task = build_task(cfg, length=10)
    assert {k: float(v) for k, v in task.param_values().items()} == {"w": 0.25}
    assert task.param_values()["w"].dtype == jnp.float32
    x, y, valid = task.sample(key, 3, 10)
    xs = np.asarray(x[..., 0])
    np.testing.assert_allclose(np.asarray(y)[:, 1:, 0], xs[:, 1:] + 0.25 * xs[:, :-1], rtol=1e-5)
    _, y2, _ = jax.jit(lambda w: task.sample(key, 3, 10, {"w": w}))(-1.0)
    np.testing.assert_allclose(np.asarray(y2)[:, 1:, 0], xs[:, 1:] - xs[:, :-1], rtol=1e-5)
    with pytest.raises(LagnetError) as info:
        build_task(merge(cfg, sets=["target.params.x=1"])[0])
    assert info.value.field == "target.params.x"


def test_tasks_differing_in_a_parameter_share_one_simulation_each_with_its_value(key):
    """A sweep over w builds one task per point: one compiled simulation serves them all, and
    each samples with its own w; another process or formula gets a program of its own."""
    from lagnet.tasks import simulation

    def task_of(w, rho=0.5, formula="x[t] + w*x[t-1]"):
        cfg = {"process": f"ar1(rho={rho})", "target": {"formula": formula, "params": {"w": w}}}
        return build_task(make_config(cfg), length=10)

    tasks = [task_of(w) for w in (0.25, -1.0, 3.0)]
    assert len({id(simulation(t)) for t in tasks}) == 1
    xs = None
    for task, w in zip(tasks, (0.25, -1.0, 3.0)):
        x, y, _ = task.sample(key, 3, 10)
        xs = np.asarray(x[..., 0]) if xs is None else xs
        np.testing.assert_array_equal(np.asarray(x[..., 0]), xs)  # the same paths
        np.testing.assert_allclose(np.asarray(y)[:, 1:, 0], xs[:, 1:] + w * xs[:, :-1], rtol=1e-5)
    assert simulation(tasks[0])._cache_size() == 1
    assert simulation(task_of(0.25, rho=0.6)) is not simulation(tasks[0])
    assert simulation(task_of(0.25, formula="x[t] - w*x[t-1]")) is not simulation(tasks[0])


def test_python_api_maps_params_to_target_params():
    cfg = lagnet.build_config(target="x[t]**2 + w*x[t-1]**2", params={"w": 0.1})
    assert cfg.target.params == {"w": 0.1}
    with pytest.raises(LagnetError) as info:
        lagnet.build_config(target="x[t]*w", params=0.1)
    assert info.value.field == "target.params"


def test_cli_refuses_an_unused_parameter_in_one_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(
        app, ["train", "--target", "x[t]**2 + w*x[t-1]**2", "--set", "target.params.v=0.5"]
    )
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: target.formula:"), res.output
    assert "unknown name 'w'" in lines[0] and list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_cli_set_trains_with_the_parameter(tmp_path):
    out = tmp_path / "run"
    args = ["train", "--process", "ar1(rho=0.1)", "--target", "x[t]**2 + w*x[t-1]**2"]
    res = CliRunner().invoke(
        app, [*args, "--set", "target.params.w=0.5", "--out", str(out), *TINY_FLAGS]
    )
    assert res.exit_code == 0, res.output
    saved = load_config(out / "config.toml")
    assert saved.target.params == {"w": 0.5}
    assert build_task(saved).param_values()["w"] == np.float32(0.5)
