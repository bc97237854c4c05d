"""NARMA against reservoirpy and its own equation, the divergence guard, observed data files
(round trips and every refusal), and a user's own simulator trained through ``lagnet.train``."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from reservoirpy.datasets import narma as reservoirpy_narma
from typer.testing import CliRunner

import lagnet
from lagnet import CallableProcess
from lagnet.cli import app
from lagnet.config import make_config
from lagnet.errors import LagnetError
from lagnet.processes import build_process, parse_process_spec
from lagnet.processes.data import DataConfig, DataProcess
from lagnet.processes.narma import NARMA, NARMAConfig, narma_reference
from lagnet.tasks import build_task

runner = CliRunner()


def _coefs(p: NARMA) -> tuple[float, ...]:
    return tuple(p.coefs[k] for k in "abcd")


def _loop_standard(u: np.ndarray, order: int, a, b, c, d) -> np.ndarray:
    """The Atiya–Parlos equation for one path, as written, with y = u = 0 before t = 0."""
    y = {}
    Y = lambda k: y.get(k, 0.0)  # noqa: E731
    U = lambda k: float(u[k]) if k >= 0 else 0.0  # noqa: E731
    for t in range(-1, len(u) - 1):
        y[t + 1] = (
            a * Y(t)
            + b * Y(t) * sum(Y(t - i) for i in range(order))
            + c * U(t - order + 1) * U(t)
            + d
        )
    return np.array([y[t] for t in range(len(u))])


# ----------------------------------------------------------------------------- NARMA
def test_reservoirpy_convention_equals_reservoirpy():
    rng = np.random.default_rng(0)
    order, steps = 10, 300
    u = rng.uniform(0, 0.5, (3, steps + order))  # reservoirpy's u includes `order` warm-up steps
    p = NARMA(NARMAConfig(order=order, convention="reservoirpy"))
    assert _coefs(p) == (0.2, 0.04, 1.5, 0.001)  # reservoirpy's own defaults
    ref = narma_reference(u, order, *_coefs(p), convention="reservoirpy")
    with jax.enable_x64(True):
        y64 = np.asarray(p.sample_given(u)["y"])
    assert y64.dtype == np.float64
    y32 = np.asarray(p.sample_given(u.astype(np.float32))["y"])
    for i in range(3):
        _, y_rpy = reservoirpy_narma(steps, order=order, u=u[i][:, None])
        np.testing.assert_allclose(ref[i, order:], y_rpy[:, 0], rtol=0, atol=1e-12)
        np.testing.assert_allclose(y64[i, order:], y_rpy[:, 0], rtol=0, atol=1e-12)
        np.testing.assert_allclose(y32[i, order:], y_rpy[:, 0], rtol=1e-5, atol=1e-6)
    assert np.all(y64[:, : order + 1] == 0)


def test_reservoirpy_sample_keeps_the_window_after_the_warm_up(key):
    """sample() returns u[order:] and y[order:]: y starts at 0 and follows the recursion on the
    returned inputs wherever the inputs it needs are inside the window."""
    order = 10
    p = NARMA(NARMAConfig(order=order, convention="reservoirpy"))
    out = {k: np.asarray(v, np.float64) for k, v in p.sample(key, 20, 80).items()}
    u, y = out["u"], out["y"]
    a, b, c, d = _coefs(p)
    assert np.all(y[:, 0] == 0) and np.all((u >= 0) & (u <= 0.5))
    for t in range(order, 79):
        expect = (
            a * y[:, t]
            + b * y[:, t] * y[:, t - order : t].sum(1)
            + c * u[:, t - order] * u[:, t]
            + d
        )
        np.testing.assert_allclose(y[:, t + 1], expect, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("order, b", [(10, None), (30, 0.01)])
def test_standard_convention_equals_its_equation(order, b, key):
    p = NARMA(NARMAConfig(order=order, b=b))
    assert _coefs(p) == (0.3, 0.05 if b is None else b, 1.5, 0.1)
    u = np.random.default_rng(order).uniform(0, 0.5, (2, 120))
    loop = np.stack([_loop_standard(row, order, *_coefs(p)) for row in u])
    np.testing.assert_allclose(narma_reference(u, order, *_coefs(p)), loop, rtol=0, atol=1e-12)
    with jax.enable_x64(True):
        np.testing.assert_allclose(p.sample_given(u)["y"], loop, rtol=0, atol=1e-12)
    np.testing.assert_allclose(
        p.sample_given(u.astype(np.float32))["y"], loop, rtol=1e-5, atol=1e-6
    )
    # sample(): paths start at rest, so y is the equation applied to the returned u.
    out = p.sample(key, 200, 100)  # the shape of the guard test below: one compilation
    u_s = np.asarray(out["u"], np.float64)
    np.testing.assert_allclose(
        out["y"], narma_reference(u_s, order, *_coefs(p)), rtol=1e-5, atol=1e-6
    )
    assert p.observed == ("u",) and p.series == ("u", "y")


def test_narma30_with_the_standard_coefficients_is_refused_because_every_path_diverges():
    with pytest.raises(LagnetError, match=r"^process\.order: 30 — every NARMA path diverges"):
        parse_process_spec("narma(order=30)")
    with pytest.raises(LagnetError, match=r"^process\.b: 0\.03 —"):
        NARMA(NARMAConfig(order=30, b=0.03))
    # The refusal is right: run the equation anyway, and no path stays bounded.
    u = np.random.default_rng(1).uniform(0, 0.5, (200, 300))
    with np.errstate(over="ignore", invalid="ignore"):
        y = narma_reference(u, 30, 0.3, 0.05, 1.5, 0.1)
    assert not np.any(np.all(np.abs(y) <= 10, axis=1))


def test_divergence_guard_resamples_and_counts(key):
    """A tight bound forces it: paths that stay below it are untouched, the others are redrawn
    (and still obey the equation), and the count says how many."""
    n, length = 200, 100
    raw = NARMA(NARMAConfig(order=10, bound=1e6)).sample(key, n, length)
    p = NARMA(NARMAConfig(order=10, bound=0.65))
    out = p.sample(key, n, length)
    count = p.diverged_count(key, n, length)
    over = np.max(np.abs(np.asarray(raw["y"])), axis=1) > 0.65
    assert count.paths == n and count.resampled == int(over.sum()) > 20
    assert count.unresolved == 0 and np.all(np.abs(np.asarray(out["y"])) <= 0.65)
    np.testing.assert_array_equal(np.asarray(out["u"])[~over], np.asarray(raw["u"])[~over])
    assert np.all(np.any(np.asarray(out["u"])[over] != np.asarray(raw["u"])[over], axis=1))
    u = np.asarray(out["u"], np.float64)
    np.testing.assert_allclose(out["y"], narma_reference(u, 10, *_coefs(p)), rtol=1e-5, atol=1e-6)
    # Too tight to satisfy: what is left over is counted, not hidden.
    tight = NARMA(NARMAConfig(order=10, bound=0.5))
    left = np.sum(np.max(np.abs(np.asarray(tight.sample(key, n, length)["y"])), axis=1) > 0.5)
    assert tight.diverged_count(key, n, length).unresolved == int(left) > 0


# ----------------------------------------------------------------------------- data files
@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".npz"])
def test_simulate_then_read_back(suffix, tmp_path, key):
    path = tmp_path / f"paths{suffix}"
    res = runner.invoke(
        app,
        [
            "simulate",
            "--process",
            "arma(ar=[0.5], ma=[0.3])",
            "--paths",
            "6",
            "--length",
            "40",
            "--out",
            str(path),
            "--seed",
            "3",
        ],
    )
    assert res.exit_code == 0, res.output
    truth = build_process(parse_process_spec("arma(ar=[0.5], ma=[0.3])")).sample(
        jax.random.PRNGKey(3), 6, 40
    )
    p = build_process(parse_process_spec(f'data(path="{path}")'))
    assert p.series == ("x", "e") and p.max_length == 40 and p.paths == 6 and not p.simulated
    x = np.asarray(truth["x"])
    np.testing.assert_array_equal(np.asarray(p._values[0]), x)  # exact, CSV included
    # Windows are contiguous pieces of the file's paths, at random paths and starts.
    w = p.sample(key, 30, 12)
    assert w["x"].shape == (30, 12) and w["e"].shape == (30, 12)
    starts = []
    for row, e_row in zip(np.asarray(w["x"]), np.asarray(w["e"])):
        hits = [
            (i, s)
            for i in range(6)
            for s in range(29)
            if np.array_equal(x[i, s : s + 12], row)
            and np.array_equal(np.asarray(truth["e"])[i, s : s + 12], e_row)
        ]
        assert hits, row
        starts.append(hits[0])
    assert len(set(starts)) > 20
    one = DataProcess(DataConfig(path=str(path), columns=("e",), window=10))
    assert one.series == ("e",) and one.max_length == 10 and one.paths == 24


def test_wide_csv_and_1d_npz_are_one_long_series(tmp_path, key):
    x = np.round(np.random.default_rng(0).normal(size=50), 3)
    (tmp_path / "wide.csv").write_text("date,x\n" + "".join(f"d{i},{v}\n" for i, v in enumerate(x)))
    np.savez(tmp_path / "long.npz", x=x)
    for name in ("wide.csv", "long.npz"):
        p = DataProcess(DataConfig(path=str(tmp_path / name)))  # the text column is skipped
        assert p.series == ("x",) and p.paths == 1 and p.max_length == 50
        np.testing.assert_array_equal(np.asarray(p._values[0, 0]), x.astype(np.float32))


def _text(name, text):
    def write(d):
        (d / name).write_text(text)
        return name

    return write


def _csv(text):
    return _text("bad.csv", text)


def _parquet(columns):
    def write(d):
        pq.write_table(pa.table(columns), d / "bad.parquet")
        return "bad.parquet"

    return write


def _npz(**arrays):
    def write(d):
        np.savez(d / "bad.npz", **arrays)
        return "bad.npz"

    return write


BAD = {  # writer, extra spec arguments, what the one line must say
    "nan": (_csv("x,y\n1,2\nnan,3\n"), "", ["bad.csv", "line 3", "'x'", "nan"]),
    "inf": (_csv("x,y\n1,2\n3,-inf\n"), "", ["bad.csv", "line 3", "'y'", "inf"]),
    "text": (_csv("x\n1\n2\nabc\n"), "", ["bad.csv", "line 4", "'x'", "'abc'"]),
    "empty cell": (_csv("x,y\n1,2\n,3\n"), "", ["bad.csv", "line 3", "'x'", "empty cell"]),
    "ragged row": (_csv("x,y\n1,2\n3\n"), "", ["bad.csv", "line 3", "ragged"]),
    "named text column": (
        _csv("x,name\n1,a\n"),
        ', columns=["name"]',
        ["bad.csv", "line 2", "'name'", "'a'"],
    ),
    "ragged paths": (
        _csv("path,t,x\n0,0,1\n0,1,2\n1,0,3\n"),
        "",
        ["bad.csv", "line 4", "path 1 has 1 steps", "ragged"],
    ),
    "gap in t": (_csv("path,t,x\n0,0,1\n0,2,2\n"), "", ["bad.csv", "line 3", "'t'"]),
    "rows missing": (  # named by their t, not as a path shorter than the others
        _csv("path,t,x\n0,0,1\n0,3,2\n1,0,3\n1,1,3\n1,2,3\n1,3,3\n"),
        "",
        ["bad.csv", "line 3", "path 0 goes from t=0 to t=3"],
    ),
    "t twice": (
        _csv("path,t,x\n0,0,1\n0,1,2\n0,1,2\n1,0,3\n1,1,3\n"),
        "",
        ["bad.csv", "path 0 has t=1 twice"],
    ),
    "unknown column": (_csv("x\n1\n"), ', columns=["z"]', ["process.columns: z", "bad.csv"]),
    "parquet null": (
        _parquet({"x": pa.array([1.0, None, 2.0])}),
        "",
        ["bad.parquet", "row 2", "'x'", "null"],
    ),
    "parquet nan": (_parquet({"x": [1.0, 2.0, float("nan")]}), "", ["bad.parquet", "row 3", "'x'"]),
    "parquet text": (
        _parquet({"x": [1.0], "s": ["a"]}),
        ', columns=["s"]',
        ["bad.parquet", "'s'", "string"],
    ),
    "npz nan": (
        _npz(x=np.array([[0.0, 1, 2], [3, 4, np.nan]])),
        "",
        ["bad.npz", "'x'", "[1, 2]", "path 1, step 2"],
    ),
    "npz ragged": (_npz(x=np.zeros((2, 5)), y=np.zeros((2, 4))), "", ["bad.npz", "'y'", "ragged"]),
    "npz 3-d": (_npz(x=np.zeros((2, 3, 4))), "", ["bad.npz", "'x'", "shape"]),
    "missing": (lambda d: "nope.csv", "", ["nope.csv", "no such file"]),
    "suffix": (_text("bad.txt", "x\n1\n"), "", ["bad.txt", "unknown file type"]),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_files_are_refused_in_one_line(case, tmp_path, monkeypatch):
    write, extra, needles = BAD[case]
    monkeypatch.chdir(tmp_path)
    spec = f'data(path="{write(tmp_path)}"{extra})'
    with pytest.raises(LagnetError) as err:
        parse_process_spec(spec)
    msg = str(err.value)
    assert "\n" not in msg and all(s in msg for s in needles), msg
    res = runner.invoke(
        app, ["simulate", "--process", spec, "--paths", "2", "--length", "2", "--out", "o.npz"]
    )
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert res.exit_code == 2 and len(lines) == 1 and "Traceback" not in res.output, res.output
    assert lines[0] == f"error: {msg}"


def test_too_short_series_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    np.savez("d.npz", x=np.zeros((3, 30)))
    p = DataProcess(DataConfig(path="d.npz"))
    with pytest.raises(LagnetError, match=r"^length: 31 — longer than the series in d\.npz"):
        p.sample(jax.random.PRNGKey(0), 2, 31)
    with pytest.raises(LagnetError, match=r"^train\.length: 40 —.*30 steps in d\.npz"):
        build_task(make_config(process='data(path="d.npz")', train=dict(length=40)))
    with pytest.raises(LagnetError, match=r"^eval\.long_factor: 10 —"):  # 10 × 20 > 30
        build_task(make_config(process='data(path="d.npz")', train=dict(length=20)))
    res = runner.invoke(
        app, ["train", "--process", 'data(path="d.npz")', "--length", "40", "--quiet"]
    )
    assert res.exit_code == 2 and res.output.startswith("error: train.length: 40"), res.output
    assert "Traceback" not in res.output


# ----------------------------------------------------------------------------- user simulators
TINY = dict(
    hidden=6,
    head=[8],
    batch=16,
    length=12,
    steps=20,
    val_every=10,
    val_paths=32,
    pilot_paths=32,
    eval=dict(test_paths=30, baseline_paths=50, long_paths=4),
)


def ar1_jax(key, n, length):
    e = jax.random.normal(key, (n, length))
    _, x = jax.lax.scan(lambda s, e_t: (0.5 * s + e_t, 0.5 * s + e_t), jnp.zeros(n), e.T)
    return {"x": x.T + 5.0, "e": e}  # (N, L); x around 5, so its use is visible


def ar1_numpy(rng, n, length):
    e = rng.normal(size=(n, length))
    x = np.zeros((n, length))
    for t in range(length):
        x[:, t] = (0.5 * x[:, t - 1] if t else 0.0) + e[:, t]
    return {"x": x + 5.0, "e": e}


@pytest.mark.slow
@pytest.mark.parametrize("fn, use_jax", [(ar1_jax, True), (ar1_numpy, False)])
def test_a_users_simulator_trains_through_lagnet_train(fn, use_jax, key, tmp_path):
    proc = CallableProcess(fn, series=["x", "e"], observed=["x"], jax=use_jax)
    eager = proc.sample(key, 4, 12)
    jitted = jax.jit(lambda k: proc.sample(k, 4, 12))(key)
    for s in ("x", "e"):
        assert eager[s].shape == (4, 12) and eager[s].dtype == jnp.float32
        np.testing.assert_allclose(jitted[s], eager[s], rtol=1e-6)
    x = np.asarray(eager["x"], np.float64) - 5.0
    np.testing.assert_allclose(
        x[:, 1:], 0.5 * x[:, :-1] + np.asarray(eager["e"])[:, 1:], rtol=1e-5, atol=1e-5
    )

    run = lagnet.train(process=proc, target="x[t-1]", model="gru", **TINY)
    run.save(tmp_path / "run", plots=False)
    assert run.config.process.kind == "custom" and run.config.process.jax is use_jax
    assert run.config.process.fn.endswith(fn.__name__)
    assert run.metrics["train"]["steps"] == 20 and np.isfinite(run.metrics["test"]["mse"])
    xs = run.predictions["x"]
    assert xs.shape[1:] == (12, 1) and 3 < xs.mean() < 7  # the test paths came from fn
    loaded = lagnet.load(tmp_path / "run")  # the config records it, but cannot rebuild it
    assert loaded.config.process == run.config.process
    with pytest.raises(LagnetError, match="lives in Python"):
        build_task(loaded.config)


def test_a_users_simulator_is_checked(key):
    with pytest.raises(LagnetError, match="latent"):
        lagnet.train(
            process=CallableProcess(ar1_jax, series=["x", "e"], observed=["x"]),
            target="x[t]",
            inputs=["e"],
            **TINY,
        )
    bad = {
        "names": (lambda k, n, L: {"x": jnp.zeros((n, L))}, "fn returned these series"),
        "shape": (
            lambda k, n, L: {"x": jnp.zeros((n, L + 1)), "e": jnp.zeros((n, L))},
            r"process \(.*\)\.x: shape \(4, 13\)",
        ),
        "nan": (
            lambda k, n, L: {"x": jnp.full((n, L), jnp.nan), "e": jnp.zeros((n, L))},
            "path 0, step 0 — NaN or infinite",
        ),
        "type": (lambda k, n, L: [jnp.zeros((n, L))], "must return a dict"),
    }
    for fn, message in bad.values():
        for use_jax in (True, False):
            with pytest.raises(LagnetError, match=message):
                CallableProcess(fn, series=["x", "e"], jax=use_jax).sample(key, 4, 12)
    with pytest.raises(LagnetError, match="^observed: z"):
        CallableProcess(ar1_jax, series=["x", "e"], observed=["z"])
    with pytest.raises(LagnetError, match="^series: x y"):
        CallableProcess(ar1_jax, series=["x y"])
