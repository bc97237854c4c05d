"""A sweep's units: which points may share a program, what a pack's members are validated on,
a point stopped by a signal (it stops the sweep, and --resume goes on with it), and run
directories shipped to and from a cluster's worker."""

from __future__ import annotations

import json
import signal
import time

import numpy as np
import pytest
import tomli_w

from children import lagnet, start
from lagnet.api import build_config
from lagnet.samples import exploded_paths, pilot_sample
from lagnet.sweeps.outputs import read_csv
from lagnet.sweeps.spec import load
from lagnet.sweeps.units import Job, make_units, pack_dirs, row_of, unpack_dirs
from lagnet.tasks import build_task, with_inputs
from lagnet.training import Member, train_pack
from test_sweep import tiny_spec


def _jobs(spec: dict) -> list[Job]:
    return [Job(p.id, p.values, p.seed, p.config) for p in load(spec)[2]]


def test_points_with_a_wall_clock_budget_train_alone():
    """A pack's members share one clock: packed, 4 points of a 4 s budget trained 50 steps
    each (to MSE 2.7) where alone they trained 8000-12000 (to 1e-4)."""
    spec = tiny_spec(grid={}, seeds=[0, 1, 2])
    assert [len(u) for u in make_units(_jobs(spec), pack=True)] == [3]
    spec["base"]["train"]["max_seconds"] = 4.0
    assert [len(u) for u in make_units(_jobs(spec), pack=True)] == [1, 1, 1]


def test_a_point_stopped_by_a_signal_is_interrupted_not_complete():
    job = _jobs(tiny_spec(grid={}, seeds=[0, 1]))[0]
    metrics = {"train": {"stopped": "interrupted", "signal": "SIGTERM"}, "test": {"mse": 0.5}}
    row = row_of(job, metrics, 1.0)
    assert row["status"] == "interrupted" and row["signal"] == "SIGTERM"
    assert row_of(job, {"train": {"stopped": "steps"}, "test": {}}, 1.0)["status"] == "complete"


def test_shipped_directories_replace_the_driver_s_copies_whole(tmp_path):
    """A worker's run directory replaces the driver's (a stale checkpoint does not stay in a
    finished run); only unfinished runs travel to a worker, without their locks."""
    jobs = _jobs(tiny_spec(grid={}, seeds=[0, 1]))
    worker, driver = tmp_path / "worker", tmp_path / "driver"
    for root, files in ((worker, ["config.toml", "metrics.json"]), (driver, ["config.toml"])):
        for j in jobs:
            (root / j.id).mkdir(parents=True)
            for f in [*files, ".lock"]:
                (root / j.id / f).write_text(f"{root.name} {f}")
    (driver / jobs[0].id / "checkpoint.safetensors").write_text("stale")
    (driver / jobs[1].id / "status.json").write_text(json.dumps({"status": "complete"}))
    unpack_dirs(pack_dirs(worker, jobs), driver)
    assert sorted(p.name for p in (driver / jobs[0].id).iterdir()) == [
        "config.toml",
        "metrics.json",
    ]
    assert (driver / jobs[0].id / "config.toml").read_text() == "worker config.toml"
    assert sorted(p.name for p in driver.iterdir()) == sorted(j.id for j in jobs)
    (driver / jobs[1].id / "status.json").write_text(json.dumps({"status": "complete"}))
    unpack_dirs(pack_dirs(driver, jobs, unfinished=True), tmp_path / "again")
    assert [p.name for p in (tmp_path / "again").iterdir()] == [jobs[0].id]
    assert pack_dirs(tmp_path / "none", jobs) == b""


@pytest.mark.slow
def test_pack_members_are_validated_on_their_own_paths():
    """Seed 2's target is NaN on 2 of its 256 validation paths: packed beside seed 0, seed 0
    keeps all 256 of its own (it lost 2, and its validation MSE moved by 1.5e-3)."""

    def member(seed):
        cfg = build_config("arma(ar=[0.3])", "sqrt(x[t] + 3.6)", "gru", hidden=6, steps=40,
                           batch=16, length=15, val_every=20, val_paths=256, pilot_paths=256)  # fmt: skip
        cfg = cfg.model_copy(update=dict(seed=seed))
        task = build_task(cfg)
        return Member(with_inputs(cfg, task), task)

    x, y, valid = pilot_sample(member(2).cfg, member(2).task)
    assert int(exploded_paths(np.asarray(y), np.asarray(valid)).sum()) == 2
    alone = [train_pack([member(s)])[0] for s in (0, 2)]
    packed = train_pack([member(0), member(2)])
    for a, p in zip(alone, packed):
        np.testing.assert_allclose(p.history["val_mse"], a.history["val_mse"], rtol=1e-5)


@pytest.mark.slow
def test_a_signal_stops_the_sweep_at_the_point_it_interrupted_and_resume_goes_on(tmp_path):
    spec = tiny_spec(grid={}, seeds=[0, 1])
    spec["base"]["train"]["steps"] = 3000
    path = tmp_path / "s.toml"
    path.write_text(tomli_w.dumps(spec))
    out = tmp_path / "sw"
    args = ("sweep", str(path), "--out", str(out), "--workers", "1", "--no-pack", "--quiet")
    proc = start(*args)
    t0 = time.monotonic()
    while not list((out / "points").glob("*/checkpoint.safetensors")):
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        assert time.monotonic() - t0 < 300
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 143, stderr[-2000:]
    assert f"--out {out} --resume" in stderr
    (row,) = read_csv(out / "sweep.csv")  # the second point never started
    assert row["status"] == "interrupted"
    steps_before = json.loads((out / "points" / row["id"] / "metrics.json").read_text())
    assert steps_before["train"]["steps"] < 3000
    res = lagnet(*args, "--resume")
    assert res.returncode == 0, res.stderr[-2000:]
    rows = read_csv(out / "sweep.csv")
    assert [r["status"] for r in rows] == ["complete", "complete"]
    first = json.loads((out / "points" / row["id"] / "metrics.json").read_text())
    assert first["train"]["steps"] == 3000


@pytest.mark.slow
def test_a_pool_worker_that_died_idle_is_replaced_and_its_call_made(monkeypatch):
    """A worker that dies before its call is sent (killed while idle) is replaced: the call
    is made by the next one (it raised BrokenPipeError out of the sweep)."""
    import operator

    from lagnet.sweeps import executors

    made = []

    class Dying(executors._Worker):
        def __init__(self, ctx):
            super().__init__(ctx)
            made.append(self)
            if len(made) == 1:
                self.proc.kill()
                self.proc.join()

    monkeypatch.setattr(executors, "_Worker", Dying)
    results = list(executors.Pool(None, 1)._calls([("k", operator.add, (1, 2))]))
    assert results == [("k", "ok", 3)] and len(made) == 2


def test_a_sweep_may_choose_on_the_validation_paths():
    """``metric = "val.mse"`` (the best validation MSE) chooses without looking at the test
    paths; the summary says which paths chose."""
    from lagnet.sweeps.outputs import summary

    spec = tiny_spec(grid={}, seeds=[0, 1], metric="val.mse")
    job = _jobs(spec)[0]
    row = row_of(
        job, {"train": {"best_val_mse": 0.25, "best_val_r2": 0.9}, "test": {"mse": 0.3}}, 1.0
    )
    assert row["val.mse"] == 0.25 and load(spec)[0].metric == "val.mse"
    assert row["val.r2"] == 0.9 and load(tiny_spec(grid={}, metric="val.r2"))[0].maximize
    assert "chosen on the validation paths" in summary([row], [], "val.mse", False)
    assert "flatter it" in summary([row], [], "test.mse", False)
