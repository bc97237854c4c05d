"""Sweeps refuse what would run a point twice, a field they would ignore, a metric no run has,
and a resume into a folder of another sweep (or none) — one line, exit 2, nothing written; a
search proposing values it ran already reuses their rows; a resumed search asks for no trial
beyond ``trials``, failed ones included, and goes on with the trials a killed driver left."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import lagnet as lg
from lagnet.cli import app
from lagnet.errors import LagnetError
from lagnet.sweeps import search
from lagnet.sweeps import spec as specs
from lagnet.sweeps.folder import prepare_folder
from lagnet.sweeps.units import Job, row_of
from test_sweep import read_rows, tiny_spec, write_spec


def refused(tmp_path: Path, spec: dict, *args: str, out: Path | None = None) -> str:
    """The CLI's one line for ``spec`` (a dry run unless ``out`` is given)."""
    path = write_spec(tmp_path / "refused.toml", spec)
    where = ["--dry-run"] if out is None else ["--out", str(out)]  # and the bar: none drawn
    res = CliRunner().invoke(app, ["sweep", str(path), *where, *args])
    assert res.exit_code == 2, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.output
    return lines[0].removeprefix("error: ")


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else b"/"
            for p in sorted(folder.rglob("*"))}  # fmt: skip


# ----------------------------------------------------------------------------- equal values
@pytest.mark.parametrize("values, shown", [([0.5, 0.5], "0.5"), ([0.0, 1, 1.0], "1.0")])
def test_a_grid_value_listed_twice_is_refused(tmp_path, values, shown):
    line = refused(tmp_path, tiny_spec(grid={"target.params.w": values}, seeds=[0]))
    assert line.startswith(f"grid.target.params.w: {shown} — ") and "twice" in line


@pytest.mark.parametrize("kind", ["grid", "random"])
def test_a_swept_seed_is_refused_for_seeds(tmp_path, kind):
    swept = {"grid": {"seed": [3, 4]}, "random": {"seed": {"int_uniform": [0, 9]}}}[kind]
    spec = tiny_spec(grid={}, seeds=[0], trials=2)
    spec[kind] = swept
    line = refused(tmp_path, spec)
    assert line.startswith(f"{kind}.seed: ") and "seeds" in line.split("—")[1]


@pytest.mark.parametrize("seeds", [True, "3", [0, True], 2.5, 0, [1, 1]])
def test_seeds_that_are_no_seeds_are_refused(tmp_path, seeds):
    """A count or a list of whole numbers: true and "3" were taken as 1 and 3."""
    line = refused(tmp_path, tiny_spec(seeds=seeds))
    assert line.startswith("seeds: ") and "Value error" not in line
    assert "seeds" in line.split("—")[1]


def test_random_draws_are_distinct_and_a_small_space_is_refused(tmp_path):
    narrow = {"model.hidden": {"int_uniform": [4, 6]}}
    for sample_seed in range(4):  # drawn independently, 3 of 3 values repeat 7 times in 9
        points = specs.load(tiny_spec(grid={}, random=narrow, trials=3, seeds=[0],
                                      sample_seed=sample_seed))[2]  # fmt: skip
        assert sorted(p.config.model.hidden for p in points) == [4, 5, 6]
    fewer = specs.load(tiny_spec(grid={}, random=narrow, trials=2, seeds=[0]))[2]
    more = specs.load(tiny_spec(grid={}, random=narrow, trials=3, seeds=[0]))[2]
    assert [p.id for p in more][:2] == [p.id for p in fewer]  # more trials: the same first ones
    both = {**narrow, "target.params.w": {"choice": [0.0, 0.5, 0.5]}}
    for search_ in ("random", "tpe"):
        spec = tiny_spec(grid={}, random=both, trials=7, seeds=[0], search=search_)
        assert refused(tmp_path, spec) == (
            "trials: 7 — the [random] fields have only 6 distinct points: ask for at most 6 "
            "trials, or sweep them in [grid]"
        )


# ----------------------------------------------------------------------------- the metric
def test_an_unknown_metric_is_refused_naming_the_valid_ones(tmp_path):
    line = refused(tmp_path, tiny_spec(metric="test.msee"))
    assert line.startswith("metric: test.msee — must be one of test.mse, ")
    assert "test.memory_r2" in line and "test.memoryless_r2" in line
    for metric in specs.METRICS:
        assert specs.load(tiny_spec(metric=metric))[0].metric == metric


# ----------------------------------------------------------------------------- the folder
def test_resume_refuses_a_folder_that_is_not_a_sweep(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    line = refused(tmp_path, tiny_spec(), "--resume", out=out)
    assert line.startswith(f"out: {out.resolve()} — exists and is not a sweep folder")
    assert tree(out) == {"notes.txt": b"mine"}


def test_resume_of_a_missing_folder_starts_it(tmp_path):
    out = prepare_folder(tmp_path / "new", tiny_spec(), resume=True)
    assert (out / "spec.toml").is_file() and (out / "points").is_dir()


@pytest.mark.parametrize(
    "change, sets, named",
    [
        ({"base": {**tiny_spec()["base"], "model": {"kind": "gru", "hidden": 12, "head": [8]}}},
         [], "model.hidden = 12"),
        ({}, ["--set", "train.steps=80"], "train.steps = 80"),
        ({"seeds": [0, 1, 2]}, [], "seeds = [0, 1, 2]"),
        ({"grid": {"target.params.w": [0.0, 0.25]}}, [], "grid.target.params.w = [0.0, 0.25]"),
        ({"metric": "test.r2"}, [], "metric = test.r2"),
    ],
)  # fmt: skip
def test_resume_refuses_a_folder_of_another_spec_naming_what_differs(tmp_path, change, sets, named):
    out = prepare_folder(tmp_path / "sw", tiny_spec(), resume=False)
    (out / "points" / "p1-s0").mkdir()
    before = tree(out)
    line = refused(tmp_path, tiny_spec(**change), "--resume", *sets, out=out)
    assert line.startswith(f"spec: {named} — {out} holds a different spec (")
    assert tree(out) == before


def test_resume_takes_the_same_spec_with_its_sets_and_more_trials(tmp_path):
    sets = ["train.steps=80"]
    out = prepare_folder(tmp_path / "sw", tiny_spec(), resume=False, sets=sets)
    assert 'sets = [\n    "train.steps=80",\n]' in (out / "spec.toml").read_text()
    with pytest.raises(LagnetError, match=r"^spec: train.steps = 40 — .* \(train.steps = 80 there"):
        prepare_folder(out, tiny_spec(), resume=True)
    assert prepare_folder(out, tiny_spec(), resume=True, sets=sets) == out
    written = dict(tiny_spec(), seeds=2)  # written otherwise, the same sweep
    written["base"] = dict(written["base"], train=dict(written["base"]["train"], steps=80))
    assert prepare_folder(out, written, resume=True) == out
    # a random search given more trials goes on with the same first draws: spec.toml says so
    drawn = tiny_spec(grid={}, random={"train.lr": {"log_uniform": [1e-3, 1e-2]}}, trials=2)
    out = prepare_folder(tmp_path / "drawn", drawn, resume=False)
    prepare_folder(out, dict(drawn, trials=3), resume=True)
    assert "trials = 3" in (out / "spec.toml").read_text()


@pytest.mark.slow
def test_a_finished_sweep_resumes_only_with_its_spec_and_has_every_metric_named(tmp_path):
    spec = tiny_spec(seeds=[0])
    out = tmp_path / "sw"
    first = lg.sweep(spec, out, workers=1, pack=False)
    assert [r["status"] for r in first.rows] == ["complete", "complete"]
    columns = {k for r in first.rows for k, v in r.items() if k.startswith("test.")}
    assert columns <= set(specs.METRICS), columns - set(specs.METRICS)
    before = tree(out)
    with pytest.raises(LagnetError, match="^spec: train.steps = 80 "):
        lg.sweep(spec, out, workers=1, resume=True, sets=["train.steps=80"])
    assert tree(out) == before
    again = lg.sweep(spec, out, workers=1, resume=True)
    assert [r["id"] for r in again.rows] == [r["id"] for r in first.rows]
    assert tree(out)["points"] == before["points"]


# ----------------------------------------------------------------------------- tpe
class FakeRuns:
    """An executor that records its units and finishes each point at once: test.mse = 1 +
    model.hidden / 100 (or failed, with ``fail``), its run directory written as a run's."""

    def __init__(self, fail: bool = False):
        self.units, self.fail = [], fail

    def __call__(self, root, workers, ray, process, units):
        self.root = Path(root)
        return self

    def run(self, units):
        self.units.append([j.id for u in units for j in u])
        for unit in units:
            yield unit, [self.finish(j) for j in unit]

    def finish(self, job) -> dict:
        d = self.root / job.id
        d.mkdir(parents=True, exist_ok=True)
        metrics = {"test": {"mse": 1 + job.config.model.hidden / 100}, "train": {}}
        (d / "metrics.json").write_text(json.dumps(metrics))
        status = "failed" if self.fail else "complete"
        (d / "status.json").write_text(json.dumps({"status": status}))
        return row_of(job, None if self.fail else metrics, 0.0, "boom")


def study_of(out: Path):
    import optuna

    return optuna.load_study(study_name="lagnet", storage=f"sqlite:///{out / 'optuna.db'}")


def tpe_spec(trials: int, **random) -> dict:
    random = random or {"model.hidden": {"int_uniform": [4, 6]}}
    return tiny_spec(grid={}, seeds=[0, 1], search="tpe", trials=trials, random=random)


@pytest.mark.slow
def test_tpe_runs_values_proposed_again_once_and_tells_them_alike(tmp_path, monkeypatch):
    pytest.importorskip("optuna")
    runs = FakeRuns()
    monkeypatch.setattr(search, "make_executor", runs)
    monkeypatch.setattr(search, "suggest", lambda trial, name, dist: trial.suggest_int(name, 5, 5))
    progress = []
    out = tmp_path / "sw"
    result = lg.sweep(tpe_spec(2), out, workers=2, on_row=lambda r, d, t: progress.append((d, t)))
    ids = [specs.point_id({"model.hidden": 5}, seed) for seed in (0, 1)]
    assert runs.units == [ids]  # one batch of two trials: each point once
    assert len(result.rows) == 2 and len(read_rows(out / "sweep.csv")) == 2
    assert progress[-1] == (2, 2)
    lg.sweep(tpe_spec(3), out, workers=1, resume=True)  # its third trial repeats them again
    assert runs.units[1:] == [[]]
    trials = study_of(out).trials
    assert [t.state.name for t in trials] == ["COMPLETE"] * 3
    assert {t.value for t in trials} == {1.05}


@pytest.mark.slow
def test_a_resumed_tpe_search_asks_for_no_trial_beyond_trials(tmp_path, monkeypatch):
    """Failed trials count; trials left running by a killed driver go on, and count."""
    pytest.importorskip("optuna")
    runs = FakeRuns(fail=True)
    monkeypatch.setattr(search, "make_executor", runs)
    out = tmp_path / "sw"
    lg.sweep(tpe_spec(2), out, workers=1)
    lg.sweep(tpe_spec(2), out, workers=1, resume=True)
    assert [t.state.name for t in study_of(out).trials] == ["FAIL", "FAIL"]
    assert len(runs.units) == 2  # the first sweep's two batches; the resume ran nothing
    # a driver killed while its third trial ran, its first point finished: the resume runs
    # the trial's other point, and tells the trial
    study = study_of(out)
    left = study.ask()
    hidden = left.suggest_int("model.hidden", 4, 6)
    runs.fail = False
    base = specs.load(tpe_spec(3))[1]
    finished = specs.point(base, {"model.hidden": hidden}, 0)
    runs.finish(Job(finished.id, finished.values, 0, finished.config))
    lg.sweep(tpe_spec(3), out, workers=1, resume=True)
    trials = study_of(out).trials
    assert [t.state.name for t in trials] == ["FAIL", "FAIL", "COMPLETE"]
    assert trials[2].value == pytest.approx(1 + hidden / 100)
    assert runs.units[2:] == [[specs.point_id({"model.hidden": hidden}, 1)]]


@pytest.mark.slow
def test_a_tracked_tpe_search_logs_each_point(tmp_path, monkeypatch):
    """``track`` reaches a tpe search as it does a grid (it was silently left out): one parent
    run, a child run per point."""
    from contextlib import contextmanager

    pytest.importorskip("optuna")
    monkeypatch.setattr(search, "make_executor", FakeRuns())
    opened, logged = [], []

    @contextmanager
    def parent(track, out):
        opened.append(track)
        yield "parent"

    monkeypatch.setattr(search, "tracked", parent)
    monkeypatch.setattr(search, "track_row", lambda t, row, root: logged.append((t, row["id"])))
    result = lg.sweep(tpe_spec(2), tmp_path / "sw", workers=1, track="mlflow")
    assert opened == ["mlflow"] and {t for t, _ in logged} == {"parent"}
    assert sorted(i for _, i in logged) == sorted(r["id"] for r in result.rows)
