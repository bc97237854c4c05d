"""What a sweep shows of its runs: a curve per configuration with the true number of seeds
(configurations are not pooled as if they were seeds), one seed's value without a ``± 0``,
the wall time of a point kept by a resume, and a dry run's points with their values."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

import lagnet as lg
from lagnet.cli import app
from lagnet.sweeps import outputs
from lagnet.sweeps import spec as specs
from lagnet.sweeps.folder import finished_row
from lagnet.sweeps.outputs import read_csv, summary, write_csv
from lagnet.sweeps.result import SweepResult
from lagnet.sweeps.units import Job
from test_sweep import tiny_spec, write_spec


def grid_rows(a_values, b_values, seeds) -> list[dict]:
    """Complete rows of a sweep over fields a and b: test.r2 = a/10 + b/100 + seed/1000."""
    return [
        {
            "id": f"p{a}-{b}-s{s}",
            "values": {"a": a, "b": b},
            "seed": s,
            "status": "complete",
            "seconds": 1.0,
            "test.r2": a / 10 + b / 100 + s / 1000,
        }
        for a in a_values
        for b in b_values
        for s in seeds
    ]


def drawn(monkeypatch, rows, fields, tmp_path):
    """The figure plot_curves draws for ``rows`` (caught before it is saved)."""
    figures = []
    monkeypatch.setattr(outputs, "save_figure", lambda fig, path: figures.append(fig))
    assert outputs.plot_curves(rows, fields, ["test.r2"], None, tmp_path / "c.png")
    (fig,) = figures
    return fig._suptitle.get_text(), fig.axes


def test_curves_are_one_per_configuration_and_the_title_gives_the_true_seeds(monkeypatch, tmp_path):
    """One seed, fields a (2 values) × b (4): each curve against a was the mean over b's 4
    configurations, titled "mean over 4 seeds" with a band of their spread."""
    title, (ax_a, ax_b) = drawn(monkeypatch, grid_rows([1, 2], [1, 2, 3, 4], [0]), ["a", "b"],
                                tmp_path)  # fmt: skip
    assert title.startswith("1 seed") and "4 seeds" not in title, title
    assert len(ax_a.lines) == 4 and len(ax_b.lines) == 2  # a curve per configuration of the other
    assert [ln.get_label() for ln in ax_b.lines] == ["a=1", "a=2"]
    assert [list(ln.get_ydata()) for ln in ax_b.lines][0] == pytest.approx(
        [0.11, 0.12, 0.13, 0.14]
    )  # each point one run, not a mean across a's values
    assert not ax_a.collections and not ax_b.collections  # one run a point: no band


def test_a_band_is_drawn_over_seeds_only(monkeypatch, tmp_path):
    title, (ax_a, _) = drawn(monkeypatch, grid_rows([1, 2], [1, 2], [0, 1, 2]), ["a", "b"],
                             tmp_path)  # fmt: skip
    assert title.startswith("mean over 3 seeds"), title
    assert len(ax_a.lines) == 2 and len(ax_a.collections) == 2  # a band per configuration
    mean = list(ax_a.lines[0].get_ydata())
    assert mean == pytest.approx([0.111, 0.211])  # b=1, mean over seeds 0, 1, 2


def test_too_many_configurations_pool_into_one_curve_named_for_what_it_pools(monkeypatch, tmp_path):
    rows = grid_rows([1, 2], list(range(1, outputs.MAX_CURVES + 2)), [0])
    title, (ax_a, ax_b) = drawn(monkeypatch, rows, ["a", "b"], tmp_path)
    n = outputs.MAX_CURVES + 1
    assert [ln.get_label() for ln in ax_a.lines] == [
        f"pooled: mean over {n} configurations of b × 1 seed"
    ]
    assert len(ax_a.collections) == 1 and len(ax_b.lines) == 2
    assert title.startswith("1 seed") and "pooled" in title, title


def test_one_seed_is_shown_as_one_run_not_as_zero_uncertainty():
    rows = grid_rows([1, 2], [1], [0])
    rows[0]["test.r2"] = 0.4163
    md = summary(rows, ["a", "b"], "test.r2", True)
    assert "| 1 | 1 | **0.4163 (1 seed)** |" in md and "± 0" not in md, md
    assert md.splitlines()[2].startswith("One seed:")
    two = summary(grid_rows([1], [1], [0, 1]), ["a", "b"], "test.r2", True)
    assert re.search(r"\| \*\*0\.1105 ± 0\.0064\*\* \|", two), two  # t(1): 12.71 × 0.0005
    spec = specs.load(tiny_spec(seeds=[0]))[0]
    page = SweepResult(None, rows, spec, ["a", "b"])._repr_html_()
    assert "0.4163 (1 seed)" in page and "± 0<" not in page


def test_a_finished_point_keeps_the_wall_time_the_sweep_recorded(tmp_path):
    """A resume rebuilt a finished point's row with metrics.json's train seconds (training
    alone), so a resume changed the seconds column: 3.41 became 2.34."""
    spec = tiny_spec(seeds=[0], grid={"target.params.w": [0.0]})
    p = specs.load(spec)[2][0]
    job = Job(p.id, p.values, p.seed, p.config)
    point = tmp_path / "points" / p.id
    point.mkdir(parents=True)
    (point / "status.json").write_text(
        json.dumps({"status": "complete", "started": 100.0, "updated": 104.5})
    )
    (point / "metrics.json").write_text(json.dumps({"train": {"seconds": 2.34}, "test": {}}))
    assert finished_row(job, tmp_path / "points")["seconds"] == 4.5  # no record: the status's
    row = dict(finished_row(job, tmp_path / "points"), seconds=3.41)
    write_csv([row], ["target.params.w"], tmp_path / "sweep.csv")
    assert finished_row(job, tmp_path / "points")["seconds"] == 3.41


def test_a_dry_run_lists_each_points_values_beside_its_id(tmp_path):
    spec = tiny_spec(grid={"target.params.w": [0.0, 0.5], "model.hidden": [4, 6]})
    path = write_spec(tmp_path / "s.toml", spec)
    res = CliRunner().invoke(app, ["sweep", str(path), "--dry-run", "--no-pack"])
    assert res.exit_code == 0, res.output
    for p in specs.load(spec)[2]:
        line = next(ln for ln in res.output.splitlines() if p.id in ln)
        w, h = p.values["target.params.w"], p.values["model.hidden"]
        assert f"target.params.w={w}, model.hidden={h}, seed={p.seed}" in line, line
    packed = CliRunner().invoke(app, ["sweep", str(path), "--dry-run", "--pack"])
    assert packed.output.count("pack of 4:") == 2 and "model.hidden=6, seed=1" in packed.output


@pytest.mark.slow
def test_a_resumed_sweep_keeps_its_seconds_column(tmp_path):
    out = tmp_path / "sw"
    spec = tiny_spec(seeds=[0])
    lg.sweep(spec, out, workers=1)
    before = {r["id"]: r["seconds"] for r in read_csv(out / "sweep.csv")}
    lg.sweep(spec, out, workers=1, resume=True)
    after = {r["id"]: r["seconds"] for r in read_csv(out / "sweep.csv")}
    assert after == before and all(s > 0 for s in after.values()), (before, after)
    md = (out / "summary.md").read_text()
    # 2 configurations × 3 metrics, less w = 0's memory_r2: x[t]**2 needs no memory (null, —)
    assert md.count("(1 seed)") == 5 and "± 0" not in md, md
    assert "| 0.0 |" in md and md.split("| 0.0 |")[1].split("\n")[0].count("—") == 1, md


def test_an_r2_band_stops_at_1_and_a_wide_rate_is_drawn_on_a_log_axis(monkeypatch, tmp_path):
    """Two seeds far apart drew a test.r2 band to 1.97; a rate from 0.005 to 1e6 was drawn on
    a linear axis, every small rate in one corner."""
    rows = grid_rows([1, 2], [1], [0, 1])
    for r, v in zip(rows, (0.2, 0.99, 0.3, 0.98)):
        r["test.r2"] = v
    for r in rows:
        r["values"]["a"] = {1: 0.005, 2: 1e6}[r["values"]["a"]]
    _, (ax_a, _) = drawn(monkeypatch, rows, ["a", "b"], tmp_path)
    (band,) = ax_a.collections
    assert band.get_paths()[0].vertices[:, 1].max() <= 1.0
    assert ax_a.get_xscale() == "log"


def test_a_tpe_dry_run_says_its_trials_cannot_be_listed(tmp_path):
    """It printed '0 points in 0 units (0 packs of same-shape points)'."""
    spec = tiny_spec(grid={}, seeds=[0], search="tpe", trials=3,
                     random={"train.lr": {"log_uniform": [1e-3, 3e-2]}})  # fmt: skip
    path = write_spec(tmp_path / "s.toml", spec)
    res = CliRunner().invoke(app, ["sweep", str(path), "--out", str(tmp_path / "o"), "--dry-run"])
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "search = tpe: 3 trials × 1 seed(s)" in text and "0 points" not in text
    assert not (tmp_path / "o").exists()
