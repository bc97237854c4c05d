"""Every benchmark script still runs: each one with ``--smoke`` (the same code at a tiny size)
in a fresh process, CPU only and single-threaded, its outputs in the test's own directory."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from children import child_env

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"
FORMULA = "x[t]**2 + 0.1*x[t-1]**2"  # narx_forum.py's target


def smoke(script: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run ``benchmarks/<script> --smoke *args`` from the repository root; fail with its output
    unless it exits 0."""
    # A smoke run checks that the script works, not its speed: compile as the suite does
    # (tests/conftest.py), most of XLA's optimisations off.
    environ = child_env(JAX_DISABLE_MOST_OPTIMIZATIONS="1", **(env or {}))
    proc = subprocess.run(
        [sys.executable, str(BENCH / script), "--smoke", *args],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, (
        f"{script} --smoke exited {proc.returncode}\n"
        f"--- stdout\n{proc.stdout[-3000:]}\n--- stderr\n{proc.stderr[-3000:]}"
    )
    return proc


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def finite(v) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


@pytest.mark.slow
def test_ar1_forum_smoke():
    proc = smoke("ar1_forum.py")
    rows = json_lines(proc.stdout)
    assert len(rows) == 1, proc.stdout
    row = rows[0]
    assert row["run"] == "smoke" and row["steps"] == 10
    assert row["ms_step"] > 0
    for name in ("test_r2", "memory_r2", "long_ratio", "late_ratio"):
        assert finite(row[name]), (name, row)
    assert "smoke: OK" in proc.stdout


@pytest.mark.slow
def test_doctor_fix_smoke(tmp_path):
    proc = smoke("doctor_fix.py", "--out", str(tmp_path))
    (row,) = json_lines(proc.stdout)
    assert row["case"] == "b" and row["model"] == "window"
    assert row["cause"] == "receptive_field"  # a window of 2 cannot see 5 steps back
    assert row["changes"].get("model.window", 0) >= 6
    assert finite(row["memory_r2_before"]) and finite(row["memory_r2_after"])
    doc = json.loads((tmp_path / "b" / "doctor.json").read_text())
    assert doc["verdict"]["primary"] == "receptive_field"
    fixed = json.loads((tmp_path / "b-fixed" / "metrics.json").read_text())
    assert fixed["train"]["steps"] == 10  # the fixed run kept the smoke's size
    assert (tmp_path / "b" / "report.html").is_file()


@pytest.mark.slow
def test_narx_forum_smoke(tmp_path):
    proc = smoke("narx_forum.py", "--out", str(tmp_path))
    rows = json_lines(proc.stdout)
    assert [r["run"] for r in rows] == ["cli cold", "in-process first", "in-process warm"]
    assert all(r["formula"] == FORMULA for r in rows), rows
    assert rows[0]["test_mse"] <= 1e-10 and rows[0]["fit_s"] > 0
    metrics = json.loads((tmp_path / "run0" / "metrics.json").read_text())
    assert metrics["train"]["formula"] == FORMULA
    assert "exact recovery (formula, test MSE ≤ 1e-10): PASS" in proc.stdout


@pytest.mark.slow
def test_step_speed_smoke():
    reference = Path(os.environ.get("LAGNET_REFERENCE", ROOT.parent / "shared" / "reference"))
    proc = smoke("step_speed.py")
    (res,) = json_lines(proc.stdout)
    assert (res["batch"], res["hidden"], res["length"]) == (8, 4, 20)
    assert res["lagnet_ms"] > 0 and res["lagnet_sim_ms"] > 0
    if (reference / "jax_scan.py").is_file():
        assert res["reference_ms"] > 0 and res["speedup_vs_reference"] > 0
    else:
        assert res["reference_ms"] is None and "reference not found" in proc.stdout


@pytest.mark.slow
def test_tasks_smoke(tmp_path):
    proc = smoke("tasks.py", "--out", str(tmp_path))
    data = json.loads((tmp_path / "tasks.json").read_text())
    (row,) = data["rows"]
    assert row["task"] == "ar1-square-lag" and "error" not in row, row
    assert row["model"] == "gru" and row["steps"] == 10
    assert finite(row["r2"]) and finite(row["nrmse"]) and row["wall_s"] > 0
    assert (tmp_path / "ar1-square-lag" / "metrics.json").is_file()
    assert "| ar1-square-lag | gru |" in (tmp_path / "tasks.md").read_text()
    assert "smoke: OK" in proc.stdout


@pytest.mark.slow
def test_sweep_packing_smoke():
    proc = smoke("sweep_packing.py")
    (row,) = json_lines(proc.stdout)
    assert (row["hidden"], row["batch"], row["members"]) == (4, 8, 2)
    assert row["single_seq_steps_per_s"] > 0 and row["packed_seq_steps_per_s"] > 0
    assert row["speedup"] == pytest.approx(
        row["packed_seq_steps_per_s"] / row["single_seq_steps_per_s"], rel=0.02
    )


@pytest.mark.slow
def test_sweep_forum_smoke():
    proc = smoke("sweep_forum.py", "--modes", "commands,default")
    rows = {r["mode"]: r for r in json_lines(proc.stdout)}
    assert set(rows) == {"commands", "default"} and rows["default"]["points"] == 2
    assert rows["default"]["speedup_vs_commands"] > 0
    # the same points, trained one command after another or by the sweep: the same metrics
    assert rows["default"]["max_rel_diff_test_mse_vs_commands"] < 1e-4


@pytest.mark.slow
def test_kill_resume_smoke():
    proc = smoke("kill_resume.py")
    rows = json_lines(proc.stdout)
    kills, summary = rows[:-1], rows[-1]
    assert len(kills) == summary["kills"] >= 1 and summary["exit"] == 0
    assert all(k["lost_seconds"] >= 0 for k in kills)
    assert finite(summary["memory_r2"])


@pytest.mark.slow
def test_budgets_smoke(tmp_path):
    """The budget benchmark runs the forum command with only a budget: the table's sizes are
    picked (and said), and the row records the run."""
    proc = smoke("budgets.py", "--out", str(tmp_path))
    (row,) = json_lines(proc.stdout)
    assert row["part"] == "forum" and row["cache"] == "warm" and row["steps"] == 10
    assert "--max-seconds 10" in row["command"] and finite(row["value"])
    assert row["picked"] and "model.hidden = 16" in row["picked"][0]
    cfg = (tmp_path / "run00" / "config.toml").read_text()
    assert "hidden = 16" in cfg and "batch = 16" in cfg
    assert "smoke: OK" in proc.stdout


def test_leaderboard_diff_marks_what_changed(tmp_path):
    """Cells before → after: medians over seeds, the better side in bold past a 5% change,
    a failed cell as a dash."""
    sys.path.insert(0, str(BENCH))
    from leaderboard_diff import diff_table

    head = "task,model,seed,test_nrmse,error\n"
    (tmp_path / "b.csv").write_text(
        head + "narma10,gru,0,0.5,\nnarma10,gru,1,0.3,\nnarma10,esn,0,0.2,\nadding,gru,0,,boom\n"
    )
    (tmp_path / "a.csv").write_text(
        head + "narma10,gru,0,0.03,\nnarma10,esn,0,0.201,\nadding,gru,0,0.01,\n"
    )
    table, both = diff_table(tmp_path / "b.csv", tmp_path / "a.csv")
    rows = {line.split(" | ")[0][2:]: line for line in table.splitlines()[2:]}
    assert "0.4 → **0.03**" in rows["narma10"] and "0.2 → 0.201 |" in rows["narma10"]
    assert "— → 0.01" in rows["adding"]
    assert rows["narma10"].endswith("| esn → gru |") and both == 3


@pytest.mark.slow
def test_leaderboard_diff_smoke():
    assert "smoke: OK" in smoke("leaderboard_diff.py").stdout


@pytest.mark.slow
def test_budget_grid_smoke():
    proc = smoke("budget_grid.py")
    (row,) = json_lines(proc.stdout)
    assert row["steps"] == 10 and row["task"] == "ar1-square-lag" and finite(row["nrmse"])
    assert "smoke: OK" in proc.stdout


@pytest.mark.slow
def test_baseline_memory_smoke():
    proc = smoke("baseline_memory.py")
    (row,) = json_lines(proc.stdout)
    assert row["inputs"] == 2 and 0 < row["peak_mb"] <= row["estimate_mb"]
    assert "smoke: OK" in proc.stdout
