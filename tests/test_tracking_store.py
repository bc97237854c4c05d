"""A tracker's store is checked before anything trains: a bad MLflow store, experiment or
TensorBoard directory is one line naming the setting and its value (exit code 2), in
seconds, and writes nothing; a run discarded after tracking began leaves no trace."""

from __future__ import annotations

import logging
import socket
import time
import warnings

import pytest
from typer.testing import CliRunner

import lagnet
from lagnet.cli import app
from lagnet.errors import LagnetError
from lagnet.tracking import make_tracker, tracked_run
from test_tracking import TINY_FLAGS

pytest.importorskip("mlflow")
from mlflow.entities import ViewType  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402


@pytest.fixture
def clean_env(tmp_path, monkeypatch):
    """A working directory of its own and no MLflow or TensorBoard settings."""
    for var in (
        "MLFLOW_TRACKING_URI",
        "MLFLOW_EXPERIMENT_NAME",
        "MLFLOW_EXPERIMENT_ID",
        "LAGNET_TENSORBOARD_DIR",
        "MLFLOW_ALLOW_FILE_STORE",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("not a folder\n")
    return tmp_path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _store_with_a_deleted_experiment(db) -> str:
    uri = f"sqlite:///{db}"
    with warnings.catch_warnings():  # SQLAlchemy 2.1 deprecates a loader MLflow's store uses
        warnings.simplefilter("ignore", DeprecationWarning)
        client = MlflowClient(tracking_uri=uri)
        client.delete_experiment(client.create_experiment("gone"))
    return uri


# (track, environment, the variable named, its value as shown); {cwd} is the test's folder
CASES = {
    "server down": ("mlflow", {"MLFLOW_TRACKING_URI": "http://127.0.0.1:{port}"}, 0),
    "tb under a file": ("tensorboard", {"LAGNET_TENSORBOARD_DIR": "afile/tb"}, 0),
    "sqlite under a file": ("mlflow", {"MLFLOW_TRACKING_URI": "sqlite:///{cwd}/afile/m.db"}, 0),
    "plain path": ("mlflow", {"MLFLOW_TRACKING_URI": "mystore"}, 0),
    "no such id": ("mlflow", {"MLFLOW_EXPERIMENT_ID": "999"}, 0),
    "id not a number": ("mlflow", {"MLFLOW_EXPERIMENT_ID": "abc"}, 0),
    "id in a store": (
        "mlflow",
        {"MLFLOW_TRACKING_URI": "sqlite:///{cwd}/kept.db", "MLFLOW_EXPERIMENT_ID": "999"},
        1,
    ),
    "deleted name": (
        "mlflow",
        {"MLFLOW_TRACKING_URI": "sqlite:///{cwd}/kept.db", "MLFLOW_EXPERIMENT_NAME": "gone"},
        1,
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_store_is_one_line_naming_it_before_training(clean_env, monkeypatch, case):
    """Each of these trained for nothing and ended in a raw exception and exit code 1; a
    server that did not answer took 4 min 16 s to say so."""
    track, env, named = CASES[case]
    if named:  # the last variable is the one at fault, in a store that exists
        _store_with_a_deleted_experiment(clean_env / "kept.db")
    port = _free_port()
    for var, value in env.items():
        monkeypatch.setenv(var, value.format(cwd=clean_env, port=port))
    var, value = list(env.items())[-1]
    before = sorted(p.name for p in clean_env.iterdir())
    t0 = time.perf_counter()
    res = CliRunner().invoke(
        app, ["train", "--track", track, "--out", str(clean_env / "run"), *TINY_FLAGS]
    )
    seconds = time.perf_counter() - t0
    assert res.exit_code == 2, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1, res.output
    assert lines[0].startswith(f"error: {var}: {value.format(cwd=clean_env, port=port)} — ")
    assert sorted(p.name for p in clean_env.iterdir()) == before  # nothing written
    assert seconds < 30  # not MLflow's minutes of retries


def test_the_api_and_a_sweep_refuse_a_bad_store_too(clean_env, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{_free_port()}")
    with pytest.raises(LagnetError, match="^MLFLOW_TRACKING_URI: http://127.0.0.1"):
        lagnet.train(track="mlflow", steps=5)
    with pytest.raises(LagnetError, match="^uri: mystore — a folder is MLflow's file store"):
        make_tracker("mlflow", uri="mystore")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow's own way out: honoured
    assert make_tracker("mlflow", uri="mystore").uri.startswith("file://")
    spec = {"seeds": [0], "base": {"train": {"steps": 5}}, "grid": {"model.hidden": [4, 6]}}
    with pytest.raises(LagnetError, match="^MLFLOW_TRACKING_URI"):
        lagnet.sweep(spec, clean_env / "sw", track="mlflow")
    assert not (clean_env / "sw").exists()


def test_input_refused_after_tracking_began_leaves_no_trace(clean_env, monkeypatch):
    """A reservoir too sparse is refused inside the fit, after the run was opened: MLflow's
    INFO lines ("Creating initial MLflow database tables...") came before the one error
    line, and a soft-deleted run and its new experiment stayed in the store."""
    uri = f"sqlite:///{clean_env / 'fresh.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "only-this-run")
    said: list[logging.LogRecord] = []
    catch = logging.Handler()
    catch.emit = said.append
    logging.getLogger("mlflow").addHandler(catch)
    logging.getLogger("alembic").addHandler(catch)
    sparse = lagnet.build_config(
        "ar1(rho=0.1)", "x[t-1]", "esn", length=20, density=1e-4, reservoir=20
    )
    try:
        with pytest.raises(LagnetError, match="^model.density"):
            tracked_run(make_tracker("mlflow"), sparse, clean_env / "sparse")
    finally:
        logging.getLogger("mlflow").removeHandler(catch)
        logging.getLogger("alembic").removeHandler(catch)
    assert [r.getMessage() for r in said if r.levelno < logging.WARNING] == []
    client = MlflowClient(tracking_uri=uri)
    names = {e.name for e in client.search_experiments(view_type=ViewType.ALL)}
    assert names == {"Default"}  # the experiment made for the run is gone, not deleted
    assert client.search_runs(["0"], run_view_type=ViewType.ALL) == []
    assert not (clean_env / "sparse").exists() and not (clean_env / "mlruns").exists()
