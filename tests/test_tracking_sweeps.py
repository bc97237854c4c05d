"""A tracked sweep: one parent run carrying the spec and the sweep's outputs, a child run per
point tagged with its values, and a resumed sweep going on in the same parent run, each point
logged once."""

from __future__ import annotations

import warnings

import pytest

import lagnet as lg
from test_sweep import tiny_spec
from test_tracking import read_events

pytest.importorskip("mlflow")
from mlflow.tracking import MlflowClient  # noqa: E402


def _spec() -> dict:
    spec = tiny_spec(seeds=[0])
    spec["base"]["train"].update(steps=20, val_every=10)
    return spec


@pytest.mark.slow
def test_a_resumed_sweep_goes_on_in_its_parent_run(tmp_path, monkeypatch):
    """Each --resume opened a new, empty parent run ("sweep s1" three times after two
    resumes); the parent had no spec and no outputs, the children only an opaque id."""
    monkeypatch.chdir(tmp_path)  # where the store puts its artefacts (mlruns/)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)
    out = tmp_path / "s1"

    def stop_after_one(row, done, total):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        lg.sweep(_spec(), out, workers=1, track="mlflow", on_row=stop_after_one)
    for _ in range(2):
        result = lg.sweep(_spec(), out, workers=1, track="mlflow", resume=True)
    assert len(result.rows) == 2 and not result.failed

    with warnings.catch_warnings():  # SQLAlchemy 2.1 deprecates a loader MLflow's store uses
        warnings.simplefilter("ignore", DeprecationWarning)
        client = MlflowClient(tracking_uri=uri)
        runs = client.search_runs(["0"])
        (parent,) = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
        children = [r for r in runs if r.data.tags.get("mlflow.parentRunId")]
        outputs = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert parent.info.run_name == "sweep-s1" and parent.info.status == "FINISHED"
    assert sorted(r.info.run_name for r in children) == sorted(r["id"] for r in result.rows)
    assert {r.data.tags["mlflow.parentRunId"] for r in children} == {parent.info.run_id}
    assert sorted(r.data.tags["lagnet.sweep.target.params.w"] for r in children) == ["0.0", "0.5"]
    assert parent.data.params["spec.grid.target.params.w"] == "[0.0, 0.5]"
    assert {"spec.toml", "sweep.csv", "summary.md", "sweep.html", "plots"} <= outputs


@pytest.mark.slow
def test_a_tensorboard_sweep_has_a_directory_of_its_own(tmp_path, monkeypatch):
    """A sweep's directory was named with a space ("sweep t1"), and a second sweep of the same
    name wrote into the first one's."""
    pytest.importorskip("tensorboardX")
    monkeypatch.chdir(tmp_path)
    logdir = tmp_path / "tb"
    monkeypatch.setenv("LAGNET_TENSORBOARD_DIR", str(logdir))
    first = lg.sweep(_spec(), tmp_path / "a" / "t 1", workers=1, track="tensorboard")
    lg.sweep(_spec(), tmp_path / "a" / "t 1", workers=1, track="tensorboard", resume=True)
    lg.sweep(_spec(), tmp_path / "b" / "t 1", workers=1, track="tensorboard")
    assert sorted(p.name for p in logdir.iterdir()) == ["sweep-t-1", "sweep-t-1-2"]
    points = sorted(r["id"] for r in first.rows)
    for sweep in ("sweep-t-1", "sweep-t-1-2"):  # each point once; the summary as text
        assert sorted(p.name for p in (logdir / sweep).iterdir() if p.is_dir()) == points
        assert "summary" in read_events(logdir / sweep)[1]
