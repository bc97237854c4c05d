"""Named tasks (`lagnet tasks`, `--task`) and the leaderboard (`lagnet bench`)."""

import csv

import jax
import numpy as np
import pytest
from typer.testing import CliRunner

from lagnet.cli import app
from lagnet.errors import LagnetError
from lagnet.leaderboard import bench, cell_config, markdown
from lagnet.registry import TASKS, task_config
from lagnet.tasks import build_task

runner = CliRunner()


@pytest.mark.slow
@pytest.mark.parametrize("name", list(TASKS))
def test_every_task_builds_and_samples(name):
    """Each named task is a valid config whose process, target and inputs fit together, and
    its data are finite with a non-constant target on the valid steps."""
    cfg = task_config(name)
    task = build_task(cfg)
    x, y, valid = (np.asarray(a) for a in task.sample(jax.random.PRNGKey(0), 8, cfg.train.length))
    assert x.shape == (8, cfg.train.length, len(cfg.target.inputs))
    assert np.all(np.isfinite(x)) and np.all(np.isfinite(y[:, valid]))
    assert valid.sum() > cfg.train.length // 2
    assert np.std(y[:, valid]) > 0
    assert TASKS[name].description and TASKS[name].reference


def test_task_parameters():
    assert task_config("memory-k(k=7)").target.formula == "x[t-7]"
    assert task_config("ar1-square-lag(w=0.5)").target.formula == "x[t]**2 + 0.5*x[t-1]**2"
    assert task_config("ar1-square-lag").target.formula == "x[t]**2 + 0.1*x[t-1]**2"
    assert task_config("delayed-xor(a=1, b=3)").target.formula == "(x[t-1] > 0) != (x[t-3] > 0)"


@pytest.mark.parametrize(
    "spec, field",
    [
        ("nope", "task"),
        ("memory-k(q=3)", "task.q"),
        ("memory-k(k='a')", "task.k"),
        ("memory-k(k=2.5)", "task.k"),
        ("memory-k(k=-1)", "task.k"),
        ("memory-k(3)", "task"),
        ("memory-k(k=", "task"),
        ("memory-k(k=1e400)", "task.k"),
        ("memory-k(k=5000)", "task.k"),
        ("memory-k(**{})", "task"),
        ("delayed-xor(a=3, b=3)", "task.b"),
    ],
)
def test_bad_task_specs_name_the_field(spec, field):
    with pytest.raises(LagnetError) as e:
        task_config(spec)
    assert e.value.field == field
    assert "\n" not in str(e.value)


def test_cli_bad_task_is_one_line_exit_2(tmp_path):
    res = runner.invoke(app, ["train", "--task", "narma11", "--out", str(tmp_path / "r")])
    assert res.exit_code == 2
    assert res.output.strip().count("\n") == 0 and "narma11" in res.output
    assert not (tmp_path / "r").exists()


def test_cli_tasks_lists_every_task():
    res = runner.invoke(app, ["tasks"], terminal_width=400)
    assert res.exit_code == 0, res.output
    for name in TASKS:
        assert name in res.output


def test_cli_processes_lists_every_spec_with_its_defaults():
    from lagnet.processes.family import PROCESSES

    res = runner.invoke(app, ["processes"], terminal_width=400)
    assert res.exit_code == 0, res.output
    rows: dict[str, list[str]] = {}  # spec -> its cells, a wrapped row's lines joined
    for line in res.output.splitlines():
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if cells and cells[0]:
            rows[cells[0]] = spec = cells
        elif cells:
            rows[spec[0]] = spec = [f"{a} {b}".strip() for a, b in zip(spec, cells)]
    rows = {name: " │ ".join(cells) for name, cells in rows.items()}
    assert set(rows) == {name for p in PROCESSES for name in p.forms}
    assert "omega=0.05, alpha=0.1, beta=0.85" in rows["garch"] and "known" in rows["garch"]
    assert "rho (required)" in rows["ar1"] and "known" not in rows["ar1"]
    assert 'names, init="zero"' in rows["var"]


@pytest.mark.slow
def test_cli_train_with_a_task(tmp_path):
    res = runner.invoke(
        app,
        [
            "train",
            "--task",
            "memory-k(k=2)",
            "--quiet",
            "--steps",
            "60",
            "--set",
            "eval.test_paths=50",
            "--set",
            "eval.long_paths=10",
            "--set",
            "eval.baseline_paths=200",
            "--set",
            "train.val_every=20",
            "--out",
            str(tmp_path / "r"),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "x[t-2]" in (tmp_path / "r" / "config.toml").read_text()


@pytest.mark.slow
def test_cli_task_with_another_family_gets_the_tasks_setting_for_it(tmp_path):
    """``--task narma10 --model window``: the task's model is a GRU, its window for a window
    MLP is 50 — and a --set still wins."""
    from lagnet.config import load_config

    tiny = ["--quiet", "--steps", "5", "--length", "60", "--batch", "8"]
    tiny += [f"--set=eval.{k}" for k in ("test_paths=8", "long_paths=2", "baseline_paths=16")]
    tiny += ["--set=train.val_every=5", "--set=train.val_paths=8", "--set=train.pilot_paths=8"]
    for extra, want in (([], 50), (["--set", "model.window=12"], 12)):
        out = tmp_path / f"w{want}"
        args = ["train", "--task", "narma10", "--model", "window", *tiny, *extra]
        res = runner.invoke(app, [*args, "--out", str(out)])
        assert res.exit_code == 0, res.output
        assert load_config(out / "config.toml").model.window == want


def test_window_defaults_follow_the_memory_the_target_needs():
    """A formula of the inputs sets the default window (largest lag + 1); a latent or
    recursive target's formula says nothing about memory, so the fixed default applies."""
    from lagnet.models.family import default_window

    for spec, hint in [
        ("memory-k(k=7)", 7),
        ("narma10", None),
        ("garch-vol", None),
        ("adding", None),
    ]:
        cfg = task_config(spec)
        task = build_task(cfg)
        assert task.memory_hint == hint, spec
        assert default_window(cfg.model.model_copy(update={"window": None}), hint) == (
            hint + 1 if hint is not None else 10
        )


def test_bench_keeps_the_tasks_window_for_window_families():
    assert cell_config("narma30", "window", 0, 5.0)[0].model.window == 150
    # narma10's own model is a GRU; a window MLP gets the task's window for it
    assert cell_config("narma10", "window", 0, 5.0)[0].model.window == 50
    assert cell_config("narma10", "narx", 0, 5.0)[0].model.window is None  # narx chooses
    assert cell_config("narma30", "narx", 0, 5.0)[0].model.window == 150
    assert cell_config("ar1-square-lag", "window", 0, 5.0)[0].model.window is None


def test_bench_cell_config_uses_family_defaults_and_budget():
    cfg, notes = cell_config("narma30", "tcn", 3, 7.5)
    assert task_config("narma30").model.window == 150
    assert cfg.model.kind == "tcn" and not hasattr(cfg.model, "window")  # a tcn has none
    assert notes == ["model.kind = tcn: dropped model.window = 150 (not a setting of tcn)"]
    assert cfg.train.max_seconds == 7.5 and cfg.seed == 3
    assert cfg.target.inputs == ("u",)


TINY = [
    "eval.test_paths=50",
    "eval.long_paths=10",
    "eval.baseline_paths=200",
    "train.val_every=20",
    "train.batch=16",
    "train.length=30",
]


@pytest.mark.slow
def test_bench_end_to_end_writes_leaderboard(tmp_path):
    rows = bench(
        ["memory-k(k=1)"],
        ["narx", "gru"],
        seeds=1,
        max_seconds=2.0,
        out=tmp_path / "b",
        overrides=TINY + ["train.steps=40"],
    )
    assert [r["model"] for r in rows] == ["narx", "gru"]
    assert all(not r["error"] for r in rows), rows
    # a linear memory task: NARX recovers x[t-1] essentially exactly
    assert rows[0]["test_nrmse"] < 1e-3
    with open(tmp_path / "b" / "leaderboard.csv") as f:
        table = list(csv.DictReader(f))
    assert len(table) == 2 and float(table[0]["test_nrmse"]) == pytest.approx(
        rows[0]["test_nrmse"], rel=1e-5
    )
    md = (tmp_path / "b" / "leaderboard.md").read_text()
    assert "| memory-k(k=1) |" in md and "**" in md
    assert (tmp_path / "b" / "leaderboard.png").stat().st_size > 1000


@pytest.mark.slow
def test_bench_runs_its_cells_on_a_local_pool_over_seeds(tmp_path):
    rows = bench(
        ["memory-k(k=1)"],
        ["narx", "window"],
        seeds=2,
        max_seconds=2.0,
        out=tmp_path / "b",
        overrides=TINY + ["train.steps=40"],
        workers=2,
    )
    assert [(r["model"], r["seed"]) for r in rows] == [
        ("narx", 0), ("narx", 1), ("window", 0), ("window", 1),
    ]  # fmt: skip
    assert all(not r["error"] for r in rows), rows
    md = (tmp_path / "b" / "leaderboard.md").read_text()
    assert "mean ± 95% interval over 2 seeds" in md and " ± " in md.split("\n")[4]


def test_bench_markdown_marks_the_best_and_lists_failures():
    rows = [
        dict(task="a", model="m1", seed=0, test_nrmse=0.5, time_to_best_s=1.0, error=""),
        dict(task="a", model="m2", seed=0, test_nrmse=0.1, time_to_best_s=2.0, error=""),
        dict(task="a", model="m2", seed=1, test_nrmse=0.3, time_to_best_s=4.0, error=""),
        dict(task="a", model="m3", seed=0, error="boom"),
    ]
    md = markdown(rows, 10)
    # the mean over seeds ± the 95% interval's half-width (t with 1 degree of freedom:
    # 12.7 × 0.1414 / √2 = 1.27), the best in bold, the winner named; one run alone gives no
    # interval (it read "0.5 ± 0", as if certain)
    assert "| a | 0.5 (1 seed) | **0.2 ± 1.3** | — | m2 |" in md
    assert "mean ± 95% interval over 2 seeds" in md
    assert "boom" in md


def test_bench_refuses_bad_input_before_training(tmp_path):
    with pytest.raises(LagnetError) as e:
        bench(["memory-k"], ["nope"], out=tmp_path / "b")
    assert e.value.field == "models"
    with pytest.raises(LagnetError):
        bench(["nope"], ["gru"], out=tmp_path / "b")
    assert not (tmp_path / "b").exists()


def test_cli_simulate_a_task_writes_its_target(tmp_path):
    """`lagnet simulate --task` writes the process's series and the target, NaN before its lag."""
    out = tmp_path / "m.npz"
    res = runner.invoke(
        app,
        [
            "simulate",
            "--task",
            "memory-k(k=3)",
            "--paths",
            "4",
            "--length",
            "20",
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    with np.load(out) as z:
        x, y = z["x"], z["target"]
    assert np.all(np.isnan(y[:, :3]))
    np.testing.assert_array_equal(y[:, 3:], x[:, :-3])
    res = runner.invoke(
        app,
        [
            "simulate",
            "--task",
            "memory-k",
            "--process",
            "iid()",
            "--paths",
            "4",
            "--length",
            "20",
            "--out",
            str(tmp_path / "b.npz"),
        ],
    )
    assert res.exit_code == 2 and res.output.strip().count("\n") == 0
    assert not (tmp_path / "b.npz").exists()


def test_leaderboard_plot_shows_an_exact_zero_in_the_best_colour(tmp_path, monkeypatch):
    """NARX recovering a formula has NRMSE 0, which a log colour scale cannot place: the cell
    gets the best colour and its "0" is drawn in ink that shows on it; a failed cell is "—"."""
    import matplotlib.axes

    from lagnet.leaderboard import plot

    drawn = []
    real_text = matplotlib.axes.Axes.text

    def text(self, x, y, s, **kw):
        drawn.append((s, kw.get("color")))
        return real_text(self, x, y, s, **kw)

    monkeypatch.setattr(matplotlib.axes.Axes, "text", text)
    rows = [
        dict(task="t", model="narx", test_nrmse=0.0, time_to_best_s=1.0),
        dict(task="t", model="gru", test_nrmse=0.9, time_to_best_s=9.0),
        dict(task="t", model="window", test_nrmse=0.01, time_to_best_s=9.0),
        dict(task="t", model="lru", test_nrmse=float("nan"), time_to_best_s=float("nan")),
    ]
    plot(rows, tmp_path / "p.png", 15)
    nrmse_cells = dict(drawn[:4])
    assert nrmse_cells["0"] == "black"  # viridis_r's lightest end: dark ink
    assert nrmse_cells["0.01"] == "black"
    assert nrmse_cells["0.9"] == "white"  # its darkest
    assert nrmse_cells["—"] == "grey"
    assert (tmp_path / "p.png").stat().st_size > 1000
