"""Sweeps: the spec is checked whole before anything runs; points become ordinary run
directories and rows of sweep.csv; packs equal their points run alone; failures are recorded and
the sweep goes on; a driver killed with SIGKILL resumes where it stopped."""

from __future__ import annotations

import csv
import json
import math
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import lagnet as lg
from children import ROOT, lagnet, start
from lagnet.cli import app
from lagnet.errors import LagnetError
from lagnet.rundir import read_status
from lagnet.sweeps import spec as specs

TINY_TRAIN = dict(
    steps=40, batch=16, length=15, val_every=20, val_paths=32, pilot_paths=32,
    checkpoint_seconds=0.05,
)  # fmt: skip
TINY_EVAL = dict(test_paths=40, baseline_paths=60, long_paths=5)


def tiny_spec(**extra) -> dict:
    spec = {
        "seeds": [0, 1],
        "base": {
            "process": {"kind": "arma", "ar": [0.3]},
            "target": {"formula": "x[t]**2 + w*x[t-1]**2", "params": {"w": 0.1}},
            "model": {"kind": "gru", "hidden": 6, "head": [8]},
            "train": dict(TINY_TRAIN),
            "eval": dict(TINY_EVAL),
        },
        "grid": {"target.params.w": [0.0, 0.5]},
    }
    spec.update(extra)
    return spec


def read_rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def write_spec(path: Path, spec: dict) -> Path:
    import tomli_w

    path.write_text(tomli_w.dumps(spec))
    return path


# ----------------------------------------------------------------------------- the spec
@pytest.mark.parametrize(
    "change, match",
    [
        ({"grid": {"model.hiden": [8]}}, "^grid.model.hiden: 8 — unknown setting"),
        ({"grid": {"model.hidden": []}}, "^grid.model.hidden: .* non-empty list"),
        ({"grid": {"train.steps": [10, -1]}}, "^grid.train.steps: -1"),
        ({"random": {"train.lr": {"gauss": [0, 1]}}, "trials": 2}, "^random.train.lr: .*one of"),
        ({"random": {"train.lr": {"log_uniform": [0, 1]}}, "trials": 2}, "low > 0"),
        ({"random": {"model.kind": {"uniform": [0, 1]}}, "trials": 2}, "^random.model.kind"),
        ({"random": {"train.lr": {"uniform": [1e-3, 1e-2]}}}, "^trials: 0"),
        ({"trials": "4"}, "^trials: 4 — .*valid integer"),  # as seeds = "three" is
        ({"trials": -1}, "^trials: -1 — must be a number of trials >= 1"),
        ({"seeds": 0}, "^seeds"),
        ({"grid": {}, "seeds": 1}, "nothing varies"),
        ({"search": "tpe"}, "^search: tpe"),
        ({"metric": "val_mse"}, "^metric"),
        ({"colour": "blue"}, "^colour"),
    ],
)
def test_a_bad_spec_is_one_line_before_anything_runs(tmp_path, change, match):
    spec = tiny_spec(**change)
    with pytest.raises(LagnetError, match=match):
        specs.load(spec)
    out = tmp_path / "never"
    res = CliRunner().invoke(
        app, ["sweep", str(write_spec(tmp_path / "s.toml", spec)), "--out", str(out)]
    )
    assert res.exit_code == 2 and not out.exists()
    assert len(res.output.strip().splitlines()) == 1, res.output


def test_points_are_the_grid_times_the_seeds_with_stable_ids():
    spec, base, points = specs.load(
        tiny_spec(grid={"target.params.w": [0.0, 0.5], "model.hidden": [4, 6]})
    )
    assert len(points) == 2 * 2 * 2 and len({p.id for p in points}) == 8
    assert {p.config.target.params["w"] for p in points} == {0.0, 0.5}
    assert {p.config.seed for p in points} == {0, 1}
    again = specs.load(tiny_spec(grid={"target.params.w": [0.0, 0.5], "model.hidden": [4, 6]}))[2]
    assert [p.id for p in again] == [p.id for p in points]
    _, _, drawn = specs.load(
        tiny_spec(grid={}, random={"train.lr": {"log_uniform": [1e-4, 1e-2]}}, trials=3)
    )
    lrs = [p.config.train.lr for p in drawn]
    assert len(drawn) == 6 and all(1e-4 <= v <= 1e-2 for v in lrs) and len(set(lrs)) == 3


def test_dry_run_lists_points_and_packs(tmp_path):
    path = write_spec(tmp_path / "s.toml", tiny_spec())
    res = CliRunner().invoke(app, ["sweep", str(path), "--dry-run", "--pack"])
    assert res.exit_code == 0, res.output
    assert "4 points in 1 unit (1 pack of" in res.output and "estimated time" in res.output
    res = CliRunner().invoke(app, ["sweep", str(path), "--dry-run", "--no-pack"])
    assert "4 points in 4 units (0 packs" in res.output


def test_a_point_too_short_for_the_baseline_is_refused_before_anything_runs(tmp_path):
    """lagnet.run refuses paths not longer than the linear-lags baseline's lags; a sweep's
    dry run accepted such a point, and a pack trained it and failed in its evaluation."""
    spec = tiny_spec(grid={"train.length": [2, 20]})
    spec["base"]["target"] = {"formula": "x[t-1]"}
    res = CliRunner().invoke(
        app, ["sweep", str(write_spec(tmp_path / "s.toml", spec)), "--dry-run"]
    )
    assert res.exit_code == 2 and res.output.startswith("error: train.length: 2 — must be above")


def test_the_time_estimate_follows_the_sizes_and_the_budget():
    """Steps at the fitted rate, a budget caps a point, workers share the points. (How close
    it comes is measured, not tested: the forum sweep estimated 177 s and took 198 s.)"""
    from lagnet.sweeps.core import estimate, step_seconds

    def points(**train):
        spec = tiny_spec(grid={}, seeds=[0, 1, 2, 3])
        spec["base"]["train"] = dict(spec["base"]["train"], **train)
        return specs.load(spec)[2]

    assert step_seconds(32, 101, 64) > step_seconds(32, 101, 8)
    assert step_seconds(128, 101, 32) > step_seconds(32, 101, 32)
    long = points(steps=100_000)  # about 4 × 100 000 × 1.6 ms at batch 16, length 15, width 6
    assert estimate(long, 1) == pytest.approx(4 * (1e5 * step_seconds(16, 15, 6) + 3) + 8)
    assert estimate(long, 2) < estimate(long, 1)
    capped = points(steps=100_000, max_seconds=5.0)
    assert estimate(capped, 1) == pytest.approx(4 * (5 + 3) + 8)


# ----------------------------------------------------------------------------- packing
def test_packs_group_one_shape_and_stay_within_the_memory_bound():
    from lagnet.sweeps.units import Job, make_units, pack_memory

    spec = tiny_spec(grid={"target.params.w": [0.0, 0.5], "model.hidden": [4, 6]})
    jobs = [Job(p.id, p.values, p.seed, p.config) for p in specs.load(spec)[2]]
    units = make_units(jobs, pack=True)
    assert sorted(len(u) for u in units) == [4, 4]  # two shapes (hidden), 2 w × 2 seeds each
    for u in units:
        assert len({j.config.model.hidden for j in u}) == 1
    bound = pack_memory(jobs[0].config, 3)  # room for three members of the first shape
    assert max(len(u) for u in make_units(jobs, pack=True, limit_bytes=bound)) <= 3
    assert all(len(u) == 1 for u in make_units(jobs, pack=False))


@pytest.mark.slow
def test_a_pack_gives_each_point_the_metrics_it_has_alone(tmp_path):
    """Seeds and formula parameters differ; one compiled program for the pack; each point's
    weights and test metrics equal those of the point run alone (to float tolerance)."""
    from lagnet.training import steps

    spec = tiny_spec(grid={"target.params.w": [0.0, 0.5]})
    steps._CACHE.clear()  # this worker's earlier tests compiled programs of their own
    packed = lg.sweep(spec, tmp_path / "packed", workers=1, pack=True)
    assert packed.units == [[r["id"] for r in packed.rows]]
    alone = lg.sweep(spec, tmp_path / "alone", workers=1, pack=False)
    for a, b in zip(packed.rows, alone.rows):
        assert a["id"] == b["id"] and a["status"] == b["status"] == "complete"
        for m in ("test.mse", "test.r2", "test.memory_r2"):
            if a[m] is None:  # memory_r2 is undefined when nothing needs memory (w = 0)
                assert b[m] is None
                continue
            assert math.isclose(a[m], b[m], rel_tol=2e-3, abs_tol=1e-6), (m, a[m], b[m])
    # a point evaluated against another formula keeps only the parameters that formula reads
    from lagnet.evaluate_again import evaluate_run

    cfg, ev = evaluate_run(packed.out / "points" / packed.rows[0]["id"], "x[t]**2")
    assert cfg.target.params == {} and math.isfinite(ev.metrics["test"]["mse"])
    page = packed._repr_html_()  # in a notebook: a row per configuration, the plots inline
    assert page.count("data:image/png;base64,") == 1 and "2/2" in page and "best test.mse" in page
    # alone, the four points of one shape shared one compiled program (w is an argument)
    assert sorted(json.loads(k)["members"] for k in steps._CACHE) == [1, 4]


def test_a_free_worker_takes_the_shape_it_compiled_else_one_nobody_holds():
    """A local pool hands each shape to one worker: a second worker starts on another shape
    instead of compiling the first one again at the same moment."""
    from types import SimpleNamespace

    from lagnet.sweeps.executors import _next
    from lagnet.sweeps.units import Job, make_units, pack_key

    spec = tiny_spec(grid={"model.hidden": [4, 6]})  # 2 shapes × 2 seeds, each point alone
    jobs = [Job(p.id, p.values, p.seed, p.config) for p in specs.load(spec)[2]]
    units = make_units(jobs, pack=False)
    groups = {i: pack_key(u[0].config) for i, u in enumerate(units)}
    assert [groups[i] == groups[0] for i in range(4)] == [True, True, False, False]
    queue = [(i, None, None, 0) for i in range(4)]
    a, b = SimpleNamespace(group=None), SimpleNamespace(group=None)
    for w in (a, b):  # how the pool starts: each free worker in turn
        w.group = groups[_next(queue, w, [a, b], groups)[0]]
    assert a.group != b.group  # not both on the first shape
    assert groups[_next(queue, b, [a, b], groups)[0]] == b.group  # b keeps to its own shape
    assert groups[_next(queue, b, [a, b], groups)[0]] == a.group  # none left: the first
    # without groups (or of no group: a closed-form point), the queue's order
    queue = [(i, None, None, 0) for i in range(3)]
    assert [_next(queue, a, [a, b], {})[0] for _ in range(3)] == [0, 1, 2]


# ----------------------------------------------------------------------------- a whole sweep
@pytest.mark.slow
def test_the_issue_spec_works_as_written(tmp_path):
    spec = write_spec(
        tmp_path / "spec.toml",
        {
            "seeds": [0, 1],
            "base": {
                "process": {"kind": "arma", "ar": [0.3]},
                "target": {"formula": "x[t-1]*x[t]"},
                "train": {"steps": 300},
            },
            "grid": {"model.hidden": [8, 16]},
        },
    )
    out = tmp_path / "sw"
    res = lagnet("sweep", str(spec), "--out", str(out), "--quiet", timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "4/4 runs complete" in res.stdout
    rows = read_rows(out / "sweep.csv")
    assert len(rows) == 4 and {r["status"] for r in rows} == {"complete"}
    head = list(rows[0])
    assert head[:5] == ["model.hidden", "seed", "test.mse", "test.r2", "test.memory_r2"]
    assert {"seconds", "status", "error"} <= set(head)
    for r in rows:
        assert (out / "points" / r["id"] / "report.html").is_file()
        assert float(r["test.r2"]) > 0.5  # x[t-1]*x[t] is learnable in 300 steps
    assert (out / "summary.md").read_text().count("**") == 2
    assert (out / "plots" / "sweep_curves.png").is_file()
    page = (out / "sweep.html").read_text()
    assert all(f"points/{r['id']}/report.html" in page for r in rows)


@pytest.mark.slow
def test_failures_are_recorded_and_the_sweep_goes_on(tmp_path):
    """On the local pool: a point that raises (its target is NaN: sqrt of a negative
    parameter), points that diverge (a learning rate of 1e30) and a point whose worker is
    killed with SIGKILL every time it starts are recorded; every other point completes."""
    spec = tiny_spec(
        seeds=[0],
        base=dict(
            tiny_spec()["base"],
            target={"formula": "x[t]**2 + sqrt(w)*x[t-1]**2", "params": {"w": 0.1}},
        ),
        grid={"target.params.w": [0.1, 0.2, -1.0], "train.lr": [5e-3, 1e30]},
    )
    out = tmp_path / "sw"
    path = write_spec(tmp_path / "s.toml", spec)
    victim = next(
        p for p in specs.load(spec)[2] if p.values == {"target.params.w": 0.2, "train.lr": 5e-3}
    )
    proc = start("sweep", str(path), "--out", str(out), "--workers", "2", "--quiet", "--no-pack")
    kills, seen = 0, set()
    status_file = out / "points" / victim.id / "status.json"
    while proc.poll() is None:
        status = read_status(status_file.parent) if status_file.exists() else None
        if status and status["status"] == "running" and status["pid"] not in seen:
            seen.add(status["pid"])
            try:
                os.kill(status["pid"], signal.SIGKILL)
                kills += 1
            except ProcessLookupError:
                pass
        time.sleep(0.05)
    stdout, stderr = proc.communicate()
    assert proc.returncode == 1, stderr[-3000:]
    rows = {r["id"]: r for r in read_rows(out / "sweep.csv")}
    by_values = {
        (p.values["target.params.w"], p.values["train.lr"]): rows[p.id]["status"]
        for p in specs.load(spec)[2]
    }
    assert by_values == {
        (0.1, 5e-3): "complete",
        (0.2, 5e-3): "killed",
        (-1.0, 5e-3): "failed",
        (0.1, 1e30): "diverged",
        (0.2, 1e30): "diverged",
        (-1.0, 1e30): "failed",
    }, by_values
    assert kills == 3  # the first try and two retries
    assert (
        "NaN or infinite"
        in rows[[p.id for p in specs.load(spec)[2] if p.values["target.params.w"] == -1.0][0]][
            "error"
        ]
    )
    summary = (out / "summary.md").read_text()
    assert "Not complete (5)" in summary and victim.id in summary


@pytest.mark.slow
def test_a_driver_killed_with_sigkill_resumes_where_it_stopped(tmp_path):
    spec = tiny_spec(grid={"target.params.w": [0.0, 0.25, 0.5]}, seeds=[0])
    spec["base"]["train"]["steps"] = 400
    path = write_spec(tmp_path / "s.toml", spec)
    out = tmp_path / "sw"
    proc = start("sweep", str(path), "--out", str(out), "--workers", "1", "--quiet")
    t0 = time.monotonic()
    while (
        not any((p / "checkpoint.safetensors").exists() for p in (out / "points").glob("*"))
        or not (out / "sweep.csv").exists()
    ):
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        assert time.monotonic() - t0 < 300
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    done_before = [r for r in read_rows(out / "sweep.csv") if r["status"] == "complete"]
    assert 1 <= len(done_before) < 3
    mtimes = {
        r["id"]: (out / "points" / r["id"] / "metrics.json").stat().st_mtime for r in done_before
    }
    res = lagnet("sweep", str(path), "--out", str(out), "--resume", "--quiet")
    assert res.returncode == 0, res.stderr[-2000:]
    rows = read_rows(out / "sweep.csv")
    assert len(rows) == 3 and {r["status"] for r in rows} == {"complete"}
    for pid, mtime in mtimes.items():  # finished points were not run again
        assert (out / "points" / pid / "metrics.json").stat().st_mtime == mtime
    again = lagnet("sweep", str(path), "--out", str(out), "--quiet")
    assert again.returncode == 2 and "--resume" in again.stderr


@pytest.mark.slow
def test_tpe_search_stores_its_study_and_resumes(tmp_path):
    spec = tiny_spec(grid={}, seeds=[0], search="tpe", trials=3,
                     random={"train.lr": {"log_uniform": [1e-3, 3e-2]}})  # fmt: skip
    first = lg.sweep(spec, tmp_path / "sw", workers=1)
    assert (tmp_path / "sw" / "optuna.db").is_file() and len(first.rows) == 3
    spec["trials"] = 4
    again = lg.sweep(spec, tmp_path / "sw", workers=1, resume=True)
    assert len(again.rows) == 4
    import optuna

    study = optuna.load_study(
        study_name="lagnet", storage=f"sqlite:///{tmp_path / 'sw' / 'optuna.db'}"
    )
    assert len(study.trials) == 4 and np.isfinite(study.best_value)


def test_the_forum_sweep_example_is_valid_and_shown_as_it_is():
    from docs_blocks import blocks
    from lagnet.config import tomllib  # tomli before Python 3.11

    shown = blocks((ROOT / "docs" / "sweeps.md").read_text(), "toml")[0]
    example = (ROOT / "examples" / "forum_sweep.toml").read_text()
    assert tomllib.loads(shown) == tomllib.loads(example)
    spec, base, points = specs.load(ROOT / "examples" / "forum_sweep.toml")
    assert sorted({p.values["target.params.w"] for p in points}) == [0, 0.1, 0.25, 0.5, 1]
    assert len(points) == 15 and base.target.formula == "x[t]**2 + w*x[t-1]**2"
