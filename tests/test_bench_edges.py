"""``lagnet bench`` at its edges: failed cells (exit 1, named), a task or model given twice
(refused), and ``--set`` of a setting only some of the benched families have."""

import csv

import pytest
from typer.testing import CliRunner

import lagnet.leaderboard as leaderboard
from lagnet.cli import app
from lagnet.errors import LagnetError
from lagnet.leaderboard import bench, cell_config

runner = CliRunner()


@pytest.fixture
def cells(monkeypatch):
    """Cells that build their real config but do not train: each row carries the config;
    a model named in ``failing`` fails."""
    seen, failing = [], set()

    def fake_run_cell(cell, max_seconds, overrides=()):
        cfg, notes = cell_config(cell.task, cell.model, cell.seed, max_seconds, overrides)
        seen.append(cfg)
        row = dict(task=cell.task, model=cell.model, seed=cell.seed, notes=notes, error="")
        if cell.model in failing:
            return {**row, "error": f"LagnetError: {cell.model} broke"}
        return {**row, "test_nrmse": 0.5, "test_r2": 0.75, "time_to_best_s": 1.0}

    monkeypatch.setattr(leaderboard, "run_cell", fake_run_cell)
    return seen, failing


def _bench_cli(tmp_path, *args):
    return runner.invoke(
        app,
        ["bench", *args, "--max-seconds", "2", "--out", str(tmp_path / "b")],
        terminal_width=400,
    )


# 1. a failed cell: the files are written, each failure named on one line, exit 1


def test_cli_bench_exits_1_naming_each_failed_cell(tmp_path, cells):
    _, failing = cells
    failing.add("esn")
    res = _bench_cli(tmp_path, "--tasks", "memory-k(k=3),delayed-xor", "--models", "esn,gru")
    assert res.exit_code == 1, res.output
    assert "2/4 cells complete" in res.output
    lines = [line for line in res.output.splitlines() if line.startswith("failed: ")]
    assert lines == [
        "failed: memory-k(k=3) × esn (seed 0) — LagnetError: esn broke",
        "failed: delayed-xor × esn (seed 0) — LagnetError: esn broke",
    ]
    assert "[red]" not in res.output  # the progress line prints no raw markup
    with open(tmp_path / "b" / "leaderboard.csv") as f:
        assert len(list(csv.DictReader(f))) == 4
    assert (tmp_path / "b" / "leaderboard.md").exists()
    assert (tmp_path / "b" / "leaderboard.png").exists()


def test_cli_bench_exits_0_when_every_cell_ran(tmp_path, cells):
    res = _bench_cli(tmp_path, "--tasks", "memory-k(k=3)", "--models", "esn,gru")
    assert res.exit_code == 0, res.output
    assert "failed" not in res.output and "cells complete" not in res.output


@pytest.mark.slow
def test_cli_bench_every_cell_failing_for_real_exits_1(tmp_path):
    """The user's trial: an ESN too sparse to have an eigenvalue fails as it is built."""
    args = ["--tasks", "memory-k(k=3),delayed-xor", "--models", "esn"]
    args += ["--set", "model.reservoir=20", "--set", "model.density=0.0001"]
    res = _bench_cli(tmp_path, *args)
    assert res.exit_code == 1, res.output
    assert "0/2 cells complete" in res.output
    failed = [line for line in res.output.splitlines() if line.startswith("failed: ")]
    assert len(failed) == 2 and all("no non-zero eigenvalue" in line for line in failed)
    assert (tmp_path / "b" / "leaderboard.md").exists()


# 2. a task or model given twice: refused before anything runs


@pytest.mark.parametrize(
    "tasks, models, field, value",
    [
        ("narma10,narma10", "gru", "tasks", "narma10"),
        ("narma10", "gru,esn,gru", "models", "gru"),
    ],
)
def test_cli_bench_refuses_a_repeat(tmp_path, cells, tasks, models, field, value):
    seen, _ = cells
    res = _bench_cli(tmp_path, "--tasks", tasks, "--models", models)
    assert res.exit_code == 2, res.output
    assert res.output.strip().count("\n") == 0
    assert f"{field}: {value} — given twice" in res.output
    assert not seen and not (tmp_path / "b").exists()


def test_bench_refuses_two_spellings_of_one_task(tmp_path, cells):
    with pytest.raises(LagnetError) as e:
        bench(["memory-k", "memory-k(k=10)"], ["gru"], out=tmp_path / "b")
    assert e.value.field == "tasks" and e.value.value == "memory-k(k=10)"
    assert "as memory-k" in str(e.value)
    bench(["memory-k(k=3)", "memory-k(k=4)"], ["gru"], out=tmp_path / "b")  # two tasks


# 3. --set of a model setting: to the families that have it, a note for the others


def test_cli_bench_applies_a_model_setting_to_the_families_that_have_it(tmp_path, cells):
    seen, _ = cells
    args = ["--tasks", "memory-k(k=3)", "--models", "esn,gru", "--set", "model.reservoir=20"]
    res = _bench_cli(tmp_path, *args)
    assert res.exit_code == 0, res.output
    assert "note: model.reservoir = 20 applies to esn only; gru runs without it" in res.output
    assert res.output.count("applies to esn only") == 1
    by_kind = {cfg.model.kind: cfg for cfg in seen if cfg.seed == 0}
    assert by_kind["esn"].model.reservoir == 20
    assert not hasattr(by_kind["gru"].model, "reservoir")


def test_bench_api_applies_a_model_setting_the_same_way(tmp_path, cells, capsys):
    seen, _ = cells
    said = []
    rows = bench(
        ["memory-k(k=3)"],
        ["gru", "esn", "lstm"],
        max_seconds=2,
        out=tmp_path / "b",
        overrides=["model.reservoir=20", "model.hidden=8"],
        on_note=said.append,
    )
    assert [r["model"] for r in rows] == ["gru", "esn", "lstm"]
    assert said == [
        "model.reservoir = 20 applies to esn only; gru and lstm run without it",
        "model.hidden = 8 applies to gru and lstm only; esn runs without it",
    ]
    ran = {cfg.model.kind: cfg.model for cfg in seen[-3:]}
    assert ran["esn"].reservoir == 20 and ran["gru"].hidden == ran["lstm"].hidden == 8
    # without on_note, the note goes to stderr as `note: …`
    bench(["memory-k(k=3)"], ["esn", "gru"], max_seconds=2, out=tmp_path / "c",
          overrides=["model.reservoir=20"])  # fmt: skip
    assert "note: model.reservoir = 20 applies to esn only" in capsys.readouterr().err


def test_cli_bench_refuses_a_setting_no_listed_family_has(tmp_path, cells):
    seen, _ = cells
    args = ["--tasks", "memory-k(k=3)", "--models", "gru,lstm", "--set", "model.reservoir=20"]
    res = _bench_cli(tmp_path, *args)
    assert res.exit_code == 2, res.output
    assert res.output.strip() == "error: model.reservoir: 20 — not a setting of gru or lstm"
    assert not seen and not (tmp_path / "b").exists()
    with pytest.raises(LagnetError) as e:
        bench(["memory-k(k=3)"], ["esn"], out=tmp_path / "b", overrides=["model.bogus=1"])
    assert (e.value.field, str(e.value)) == ("model.bogus", "model.bogus: 1 — not a setting of esn")


def test_cell_config_still_refuses_an_unknown_setting():
    with pytest.raises(LagnetError) as e:
        cell_config("memory-k(k=3)", "gru", 0, 2.0, ["model.bogus=1"])
    assert e.value.field == "model.bogus"
