"""Experiment tracking against a real local MLflow store (SQLite in a temporary directory):
what a run logs is read back with MlflowClient and compared with the run directory."""

from __future__ import annotations

import csv
import json
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import lagnet
from lagnet.cli import app
from lagnet.config import load_config
from lagnet.errors import LagnetError
from lagnet.tracking import config_params, final_metrics, flatten, make_tracker, tracked_run

pytest.importorskip("mlflow")
from mlflow.tracking import MlflowClient  # noqa: E402

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
TINY_FLAGS = [
    "--hidden",
    "6",
    "--steps",
    "30",
    "--batch",
    "16",
    "--length",
    "12",
    "--quiet",
    "--set",
    "train.val_every=10",
    "--set",
    "train.val_paths=32",
    "--set",
    "train.pilot_paths=32",
    "--set",
    "eval.test_paths=30",
    "--set",
    "eval.baseline_paths=50",
    "--set",
    "eval.long_paths=4",
]


@pytest.fixture
def store(tmp_path, monkeypatch):
    """MLFLOW_TRACKING_URI pointing at a fresh SQLite store; its URI. Run in ``tmp_path``: a
    SQLite store keeps artefacts in ``mlruns/`` where it is first made."""
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)
    return uri


def _read_history(path):
    with open(path) as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


# ----------------------------------------------------------------------------- pure pieces
def test_flatten_gives_dotted_names():
    nested = {"a": {"b": 1, "c": {"d": [1, 2]}}, "e": [{"f": 3}, {"f": 4}], "g": "x"}
    assert flatten(nested) == {"a.b": 1, "a.c.d": [1, 2], "e.0.f": 3, "e.1.f": 4, "g": "x"}


def test_final_metrics_keep_finite_numbers_only():
    metrics = {
        "test": {"mse": 0.5, "r2": float("nan"), "paths": 30},
        "per_step_mse": [1.0, 2.0],
        "verdict": {"headline": "words", "learned": True},
        "train": {"best_step": None, "steps": 20},
    }
    assert final_metrics(metrics) == {"test.mse": 0.5, "test.paths": 30.0, "train.steps": 20.0}


def test_config_params_are_the_resolved_config():
    cfg = lagnet.build_config("ar1(rho=0.1)", "x[t]**2", "gru", hidden=7, head=[8, 4])
    params = config_params(cfg)
    assert params["model.hidden"] == "7"
    assert json.loads(params["model.head"]) == [8, 4]
    assert params["process.kind"] == "arma" and params["target.formula"] == "x[t]**2"
    assert all(v != "None" for v in params.values())


# ----------------------------------------------------------------------------- bad input
def test_a_bad_track_value_is_one_line_and_exit_2(tmp_path):
    out = tmp_path / "run"
    res = CliRunner().invoke(app, ["train", "--track", "wandb", "--out", str(out), *TINY_FLAGS])
    assert res.exit_code == 2, res.output
    assert "track: wandb" in res.output and "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) == 1
    assert not out.exists()
    with pytest.raises(LagnetError, match="track"):
        lagnet.train(track="tensorflow", **TINY)


# ----------------------------------------------------------------------------- a real store
@pytest.mark.slow
def test_cli_track_mlflow_logs_params_history_and_artefacts(tmp_path, store):
    out = tmp_path / "runs" / "ar1"
    res = CliRunner().invoke(
        app, ["train", "--track", "mlflow", "--out", str(out), *TINY_FLAGS], env={"COLUMNS": "200"}
    )
    assert res.exit_code == 0, res.output
    assert "tracked: MLflow run" in res.output

    client = MlflowClient(tracking_uri=store)
    (logged,) = client.search_runs(["0"])
    assert logged.info.run_name == "ar1" and logged.info.status == "FINISHED"
    assert logged.data.params == config_params(load_config(out / "config.toml"))

    # one point per validation, at its step, equal to history.csv
    history = _read_history(out / "history.csv")
    assert [r["step"] for r in history] == [10, 20, 30]
    for name in ("val_mse", "val_r2", "loss", "lr"):
        points = sorted(client.get_metric_history(logged.info.run_id, name), key=lambda m: m.step)
        assert [m.step for m in points] == [10, 20, 30]
        np.testing.assert_allclose([m.value for m in points], [r[name] for r in history])
    assert len(client.get_metric_history(logged.info.run_id, "steps_per_s")) == 3

    # final metrics: metrics.json, flattened
    metrics = json.loads((out / "metrics.json").read_text())
    for name, value in final_metrics(metrics).items():
        assert logged.data.metrics[name] == pytest.approx(value), name
    assert logged.data.tags["lagnet.verdict"] == metrics["verdict"]["headline"]

    # artefacts: the report, config, metrics, history and every plot, byte for byte
    names = {a.path for a in client.list_artifacts(logged.info.run_id)}
    assert {"report.html", "config.toml", "metrics.json", "history.csv", "plots"} <= names
    plots = {a.path for a in client.list_artifacts(logged.info.run_id, "plots")}
    assert plots == {f"plots/{p.name}" for p in (out / "plots").iterdir()}
    got = client.download_artifacts(logged.info.run_id, "report.html", str(tmp_path))
    assert Path(got).read_bytes() == (out / "report.html").read_bytes()


@pytest.mark.slow
def test_api_track_nested_runs_and_failures(tmp_path, store, monkeypatch):
    """lagnet.train(track=…) without a run directory still logs the report; a sweep's parent
    run holds its points' runs; a tracker pickles; a failed run is marked FAILED."""
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "lagnet-tests")
    monkeypatch.chdir(tmp_path)
    run = lagnet.train(track="mlflow", name="solo", **TINY)
    assert run.path is None

    sweep = make_tracker("mlflow")
    cfg = lagnet.build_config(**TINY)
    with sweep.parent_run("sweep") as parent_id:
        tracked_run(sweep.child(), cfg, name="point-0")
        travelled = pickle.loads(pickle.dumps(make_tracker("mlflow", parent=parent_id)))
        tracked_run(travelled, cfg, tmp_path / "point-1")

    def broken(row):
        raise RuntimeError("a callback failed")

    with pytest.raises(RuntimeError, match="a callback failed"):
        tracked_run(make_tracker("mlflow"), cfg, callbacks=[broken], name="broken")
    # input refused once its paths are drawn (log of a negative x) opens no tracked run
    refused = lagnet.build_config(**{**TINY, "target": "log(x[t])"})
    with pytest.raises(LagnetError, match="target"):
        tracked_run(make_tracker("mlflow"), refused, tmp_path / "refused", name="refused")
    assert not (tmp_path / "refused").exists()
    # refused inside the fit (a reservoir too sparse to have an eigenvalue): discarded too
    sparse = lagnet.build_config(
        "ar1(rho=0.1)", "x[t-1]", "esn", length=20, density=1e-4, reservoir=20
    )
    with pytest.raises(LagnetError, match="^model.density"):
        tracked_run(make_tracker("mlflow"), sparse, tmp_path / "sparse", name="sparse")
    assert not (tmp_path / "sparse").exists()

    client = MlflowClient(tracking_uri=store)
    experiment = client.get_experiment_by_name("lagnet-tests")
    runs = {r.info.run_name: r for r in client.search_runs([experiment.experiment_id])}
    assert set(runs) == {"solo", "sweep", "point-0", "point-1", "broken"}  # nor the refused
    assert {a.path for a in client.list_artifacts(runs["solo"].info.run_id)} >= {
        "report.html",
        "plots",
    }
    for point in ("point-0", "point-1"):
        assert runs[point].data.tags["mlflow.parentRunId"] == parent_id
        assert runs[point].info.status == "FINISHED"
    assert "mlflow.parentRunId" not in runs["solo"].data.tags
    assert runs["sweep"].info.status == "FINISHED"
    assert runs["broken"].info.status == "FAILED"
    assert runs["point-1"].data.tags["lagnet.run_dir"] == str(tmp_path / "point-1")


# ----------------------------------------------------------------------------- tensorboard
def read_events(directory: Path) -> tuple[dict[str, list], dict[str, str]]:
    """The scalars (tag -> [(step, value)]) and texts (tag -> text) of a run directory's
    event files, read as TFRecords of ``Event`` protos (what TensorBoard itself reads)."""
    from tensorboardX.proto import event_pb2

    scalars: dict[str, list] = {}
    texts: dict[str, str] = {}
    for path in sorted(directory.glob("events.out.tfevents.*")):
        data, i = path.read_bytes(), 0
        while i < len(data):
            (n,) = struct.unpack("<Q", data[i : i + 8])  # length, then its CRC (4 bytes)
            event = event_pb2.Event()
            event.ParseFromString(data[i + 12 : i + 12 + n])
            i += 12 + n + 4  # the record, then its CRC
            for v in event.summary.value:
                if v.HasField("tensor") and v.tensor.string_val:
                    texts[v.tag.removesuffix("/text_summary")] = v.tensor.string_val[0].decode()
                elif v.HasField("simple_value"):
                    scalars.setdefault(v.tag, []).append((event.step, v.simple_value))
    return scalars, texts


@pytest.fixture
def logdir(tmp_path, monkeypatch):
    pytest.importorskip("tensorboardX")
    monkeypatch.setenv("LAGNET_TENSORBOARD_DIR", str(tmp_path / "tb"))
    return tmp_path / "tb"


@pytest.mark.slow
def test_cli_track_tensorboard_writes_history_and_final_metrics(tmp_path, logdir):
    out = tmp_path / "runs" / "ar1"
    res = CliRunner().invoke(
        app,
        ["train", "--track", "tensorboard", "--out", str(out), *TINY_FLAGS],
        env={"COLUMNS": "200"},
    )
    assert res.exit_code == 0, res.output
    assert f"tracked: TensorBoard files in {logdir / 'ar1'}" in res.output
    scalars, texts = read_events(logdir / "ar1")
    history = _read_history(out / "history.csv")
    for name in ("val_mse", "val_r2", "loss", "lr"):
        points = sorted(scalars[f"history/{name}"])
        assert [s for s, _ in points] == [10, 20, 30]
        np.testing.assert_allclose([v for _, v in points], [r[name] for r in history], rtol=1e-6)
    metrics = json.loads((out / "metrics.json").read_text())
    for name, value in final_metrics(metrics).items():
        ((step, got),) = scalars[name.replace(".", "/")]
        assert step == 30 and got == pytest.approx(value, rel=1e-6), name
    assert texts["verdict"] == metrics["verdict"]["headline"]
    assert 'kind = "gru"' in texts["config"]


def test_tensorboard_runs_nest_and_never_share_a_directory(logdir):
    cfg = lagnet.build_config(**TINY)
    sweep = make_tracker("tensorboard")
    with sweep.parent_run("sweep") as parent:
        for _ in range(2):
            point = pickle.loads(pickle.dumps(sweep.child()))
            point.start(cfg, "point")
            point(dict(step=10, seconds=0.5, lr=1e-3, loss=2.0, val_mse=1.5, val_r2=0.25))
            point.end()
    assert parent == "sweep" and sweep.parent is None
    assert sorted(p.name for p in (logdir / "sweep").iterdir()) == ["point", "point-2"]
    refused = make_tracker("tensorboard")  # refused before its first validation: discarded
    refused.start(cfg, "refused")
    assert (logdir / "refused").is_dir()
    refused.discard()
    assert sorted(p.name for p in logdir.iterdir()) == ["sweep"]
    fresh = make_tracker("tensorboard", uri=str(logdir.parent / "fresh" / "tb"))
    fresh.start(cfg, "refused")
    fresh.discard()  # with the folders it made
    assert not (logdir.parent / "fresh").exists()
    scalars, texts = read_events(logdir / "sweep" / "point-2")
    assert scalars["history/val_r2"] == [(10, 0.25)] and "history/step" not in scalars
    assert "[model]" in texts["config"]
    with pytest.raises(LagnetError, match="experiment"):
        make_tracker("tensorboard", experiment="x")


# ----------------------------------------------------------------------------- status
@pytest.mark.slow
def test_a_run_stopped_by_ctrl_c_is_killed_not_finished(tmp_path, store, monkeypatch):
    """Ctrl-C or SIGTERM stops training and the run returns (its best weights so far, marked
    interrupted); the tracked run was closed FINISHED."""
    pytest.importorskip("tensorboardX")
    monkeypatch.setenv("LAGNET_TENSORBOARD_DIR", str(tmp_path / "tb"))
    cfg = lagnet.build_config(**TINY)

    def ctrl_c(row):
        if row["step"] == 10:
            raise KeyboardInterrupt

    for kind in ("mlflow", "tensorboard"):
        tracker = make_tracker(kind)
        cut = tracked_run(tracker, cfg, tmp_path / kind, callbacks=[ctrl_c])
        assert cut.metrics["train"]["stopped"] == "interrupted"
    (logged,) = MlflowClient(tracking_uri=store).search_runs(["0"])
    assert logged.info.status == "KILLED" and logged.info.run_name == "mlflow"
    assert "name" not in logged.data.params  # the run's name is MLflow's own (--out's)
    assert read_events(tmp_path / "tb" / "tensorboard")[1]["status"] == "KILLED"
