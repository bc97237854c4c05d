"""The Python API: train → Run → predict / save / load, and atomic run directories."""

import numpy as np
import pytest

import lagnet
from lagnet.errors import LagnetError

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


@pytest.fixture
def run(tiny_run):
    """The session's tiny run (conftest.py), loaded from a copy of its directory."""
    return lagnet.load(tiny_run)


@pytest.mark.slow
def test_run_has_metrics_and_predicts_in_user_units(run):
    assert set(run.metrics["test"]) >= {"mse", "rmse", "nrmse", "r2", "memory_r2"}
    x = np.random.default_rng(0).normal(size=(3, 12))
    y2 = run.predict(x)
    y3 = run.predict(x[..., None])
    assert y2.shape == (3, 12) and y3.shape == (3, 12, 1)
    np.testing.assert_allclose(y2, y3[..., 0])
    assert np.mean(y2) > 0.3  # in the target's units (mean ≈ 1.5), not normalised (≈ 0)


def test_predict_refuses_bad_arrays(run):
    """One line naming the shape as given, the first bad value by its index, or the type."""
    with pytest.raises(LagnetError, match=r"^x: shape \(2, 5, 3\) — expected \(N, L\)"):
        run.predict(np.zeros((2, 5, 3)))
    x = np.zeros((2, 5))
    x[1, 3] = np.nan
    with pytest.raises(LagnetError, match=r"^x\[1, 3\]: nan — inputs must be finite"):
        run.predict(x)
    x[1, 3] = 1e40  # finite in float64, inf in float32 (a RuntimeWarning and 'NaN/inf')
    with pytest.raises(LagnetError, match=r"^x\[1, 3\]: 1e\+40"):
        run.predict(x)
    with pytest.raises(LagnetError, match="dtype complex128 — expected real numbers"):
        run.predict(np.ones((2, 5)) * 1j)  # the imaginary part was dropped without a word
    with pytest.raises(LagnetError, match="^x: dtype <U1"):
        run.predict([["a", "b"]])
    assert run.predict(np.ones((2, 5), bool)).shape == (2, 5)


def test_save_load_round_trip(run, tmp_path):
    path = run.save(tmp_path / "run", plots=False)
    loaded = lagnet.load(path)
    x = np.random.default_rng(1).normal(size=(2, 12))
    np.testing.assert_array_equal(run.predict(x), loaded.predict(x))
    assert loaded.config == run.config and loaded.metrics["test"] == run.metrics["test"]
    assert loaded.history["step"] == run.history["step"]


def test_a_crash_while_saving_leaves_nothing_that_looks_complete(run, tmp_path, monkeypatch):
    import lagnet.runs

    def boom(directory):
        raise RuntimeError("disk full")

    monkeypatch.setattr(lagnet.runs, "render", boom)
    with pytest.raises(RuntimeError):
        run.save(tmp_path / "out" / "run")
    assert list((tmp_path / "out").iterdir()) == []


def test_unknown_option_and_bad_load(tmp_path):
    with pytest.raises(LagnetError, match="^hiddn:"):
        lagnet.build_config(hiddn=3)
    with pytest.raises(LagnetError, match="not a run directory"):
        lagnet.load(tmp_path)


@pytest.mark.slow
def test_metrics_json_is_strict_json_when_values_are_undefined(run, tmp_path):
    """A constant target has no variance: R² is undefined, and metrics.json says null."""
    import json

    flat = lagnet.train(
        process="ar1(rho=0.1)", target="0*x[t] + 1", model="rnn", **dict(TINY, steps=10)
    )
    assert flat.metrics["test"]["memory_r2"] is None
    path = flat.save(tmp_path / "flat")  # plots and report cope with undefined values too
    assert (path / "report.html").is_file()
    m = json.loads((path / "metrics.json").read_text(), parse_constant=lambda c: 1 / 0)
    assert m["test"]["r2"] is None and m["test"]["mse"] >= 0


def test_save_never_replaces_a_directory_that_is_not_a_run(run, tmp_path):
    keep = tmp_path / "mine"
    keep.mkdir()
    (keep / "precious.txt").write_text("x")
    with pytest.raises(LagnetError, match="^out:.*not a run directory"):
        run.save(keep, plots=False)
    assert (keep / "precious.txt").read_text() == "x"
    first = run.save(tmp_path / "r", plots=False)
    assert run.save(tmp_path / "r", plots=False) == first  # an older run is replaced
