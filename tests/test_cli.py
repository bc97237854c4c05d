"""The command line end to end in a temp dir, and its answers to bad input."""

import json
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import TINY_FLAGS
from lagnet.cli import app

runner = CliRunner()
FAST = TINY_FLAGS


@pytest.fixture
def trained(tiny_run_dir, tiny_run):
    """The session's tiny run (conftest.py), copied: its directory and what training printed."""
    return tiny_run, tiny_run_dir[1]


def test_train_writes_a_complete_run_directory(tiny_run_dir):
    out, output = tiny_run_dir
    for name in (
        "config.toml",
        "metrics.json",
        "history.csv",
        "model.safetensors",
        "model.json",
        "predictions.npz",
        "report.html",
    ):
        assert (out / name).is_file(), name
    for name in ("vs_input", "pred_vs_truth", "per_step_mse", "learning_curve", "sample_paths"):
        assert (out / "plots" / f"{name}.png").stat().st_size > 1000
    m = json.loads((out / "metrics.json").read_text())
    for k in ("mse", "rmse", "nrmse", "r2", "memory_r2"):
        assert k in m["test"]
    assert set(m["baselines"]) >= {"memoryless", "linear_lags"}
    assert len(m["per_step_mse"]) == 15 and m["per_step_mse"][0] is None
    assert m["long_horizon"]["length"] == 150
    assert m["train"]["steps"] == 40 and m["train"]["stopped"] == "steps"
    assert "memory_r2" in output and "report.html" in output
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no temp left


@pytest.mark.slow
def test_config_toml_reproduces_the_run(trained, tmp_path):
    out, _ = trained
    res = runner.invoke(
        app, ["train", str(out / "config.toml"), "--out", str(tmp_path / "r2"), "--quiet"]
    )
    assert res.exit_code == 0, res.output
    a = json.loads((out / "metrics.json").read_text())
    b = json.loads((tmp_path / "r2" / "metrics.json").read_text())
    assert a["test"] == b["test"]  # same config, same seed → same run on CPU


@pytest.mark.slow
def test_eval_and_report(trained):
    out, _ = trained
    res = runner.invoke(app, ["eval", str(out), "--paths", "30", "--length", "40"])
    assert res.exit_code == 0, res.output
    assert "memory_r2" in res.output and "30 paths × 40 steps" in res.output
    (out / "report.html").unlink()
    res = runner.invoke(app, ["report", str(out)])
    assert res.exit_code == 0 and (out / "report.html").stat().st_size > 10_000


def test_paths_with_brackets_are_printed_as_they_are(trained, tmp_path):
    """Rich reads `[w=0.1]` as markup: `wrote runs/[w=0.1]/report.html` was printed as
    `wrote runs//report.html`. Every path a command prints is printed as it is, on one line."""
    out, _ = trained
    named = tmp_path / "[w=0.1]"
    out.rename(named)
    res = runner.invoke(app, ["report", str(named)])
    assert res.exit_code == 0, res.output
    assert f"wrote {named}/report.html" in res.output
    data = tmp_path / "[data]" / "paths.npz"
    data.parent.mkdir()
    args = ["simulate", "--process", "ar1(rho=0.1)", "--paths", "3", "--length", "20"]
    res = runner.invoke(app, [*args, "--out", str(data)])
    assert res.exit_code == 0, res.output
    assert f"to {data}" in res.output


def test_eval_against_another_target(trained):
    out, _ = trained
    res = runner.invoke(
        app, ["eval", str(out), "--paths", "30", "--target", "x[t]**2 - 0.1*x[t-1]**2"]
    )
    assert res.exit_code == 0, res.output
    assert "x[t]**2 - 0.1*x[t-1]**2" in res.output


@pytest.mark.parametrize("suffix", [".csv", ".npz"])
def test_simulate(tmp_path, suffix):
    path = tmp_path / f"paths{suffix}"
    res = runner.invoke(
        app,
        [
            "simulate",
            "--process",
            "arma(ar=[0.5], ma=[0.3])",
            "--paths",
            "4",
            "--length",
            "7",
            "--out",
            str(path),
        ],
    )
    assert res.exit_code == 0, res.output
    if suffix == ".npz":
        with np.load(path) as z:
            assert z["x"].shape == (4, 7) and z["e"].shape == (4, 7)
    else:
        lines = path.read_text().splitlines()
        assert lines[0] == "path,t,x,e" and len(lines) == 1 + 4 * 7


@pytest.mark.parametrize(
    "args,field",
    [
        (["train", "--target", "x[t+1]"], "target.formula"),
        (["train", "--target", "__import__('os')"], "target.formula"),
        (["train", "--model", "transformerz"], "model.kind"),
        (["train", "--process", "ar1(rho=1.2)"], "process.rho"),
        (["train", "--process", "arma(ar=[0.5, 0.6])"], "process.ar"),
        (["train", "--length", "-5"], "train.length"),
        (["train", "--length", "3", "--target", "x[t-5]"], "train.length"),
        (["train", "--set", "train.nope=1"], "train.nope"),
        (["train", "--device", "tpu"], "device"),
        (["train", "--device", "gpu"], "device"),  # the tests run with JAX_PLATFORMS=cpu
        (["train", "missing.toml"], "config"),
        (
            [
                "simulate",
                "--process",
                "ar1(rho=0.1)",
                "--paths",
                "2",
                "--length",
                "-1",
                "--out",
                "x.csv",
            ],
            "length",
        ),
        (
            [
                "simulate",
                "--process",
                "ar1(rho=0.1)",
                "--paths",
                "2",
                "--length",
                "5",
                "--out",
                "x.txt",
            ],
            "out",
        ),
        (
            [
                "simulate",
                "--process",
                "ar1(rho=0.1, name='t')",
                "--paths",
                "2",
                "--length",
                "5",
                "--out",
                "x.csv",
            ],
            "process.name",
        ),
        (["eval", "no-such-run"], "run_dir"),
        (
            [
                "train",
                "--process",
                'var(A=[[0.5,0.1],[0.0,0.3]], names=["x1","z"])',
                "--target",
                "z[t-1]",
            ],
            "target.inputs",
        ),
        (
            ["train", "--process", "garch()", "--target", "sigma2[t]", "--inputs", "sigma2"],
            "target.inputs",
        ),
        (["report", "no-such-run"], "run_dir"),
        # refused once its paths are drawn: no budget note, header or bar before the line
        (
            ["train", "--process", "ar1(rho=0.1)", "--target", "log(x[t])", "--max-seconds", "5"],
            "target.formula",
        ),
        (
            ["train", "--process", "ar1(rho=0.1)", "--target", "log(x[t])", "--model", "esn"],
            "target.formula",
        ),
        (
            ["train", "--model", "esn", "--length", "20", "--set", "model.washout=30"],
            "model.washout",
        ),
        (
            ["train", "--model", "narx", "--length", "20", "--set", "model.window=30"],
            "model.window",
        ),
        pytest.param(  # refused inside the fit, once the reservoir is drawn: header, bar go
            ["train", "--model", "esn", "--set", "model.density=0.0001"]
            + ["--set", "model.reservoir=20", "--out", "runs/x"],  # as the README shows it
            "model.density",
            marks=pytest.mark.slow,  # a run started (tests/test_durable.py: the fast tier's)
        ),
    ],
)
def test_bad_input_exits_2_with_one_line(args, field, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, args)
    assert res.exit_code == 2, res.output
    lines = res.output.splitlines()
    assert len(lines) == 1, res.output  # and no blank line before it
    assert lines[0].startswith(f"error: {field}:"), lines[0]
    assert "Traceback" not in res.output
    assert list(tmp_path.iterdir()) == []  # nothing half-written


def test_train_refuses_an_out_dir_that_is_not_a_run(tmp_path):
    (tmp_path / "notes.txt").write_text("keep me")
    res = runner.invoke(app, ["train", "--out", str(tmp_path), *FAST])
    assert res.exit_code == 2 and "error: out:" in res.output
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


@pytest.mark.slow
def test_the_command_leaves_with_its_exit_code_and_all_its_output(tmp_path):
    """``lagnet`` (``lagnet.cli.main``) skips the interpreter's teardown when it is done: the
    exit code, the printed output and the files must all be there as with an ordinary exit."""
    from children import lagnet

    bad = lagnet(
        "simulate",
        "--process",
        "ar1(rho=1.1)",
        "--paths",
        "3",
        "--length",
        "20",
        "--out",
        str(tmp_path / "p.npz"),
    )
    assert bad.returncode == 2, bad.stderr
    assert bad.stderr.startswith("error: process.rho: 1.1") and bad.stdout == ""
    out = tmp_path / "p.npz"
    ok = lagnet(
        "simulate", "--process", "ar1(rho=0.5)", "--paths", "3", "--length", "20", "--out", str(out)
    )
    assert ok.returncode == 0, ok.stderr
    assert str(out) in ok.stdout + ok.stderr
    with np.load(out) as z:
        assert z["x"].shape == (3, 20)
    listing = lagnet("tasks")
    assert listing.returncode == 0 and "narma10" in listing.stdout
    unknown = lagnet("train", "--learning-rate", "0.1")  # what click parses: one line too
    assert unknown.returncode == 2 and unknown.stdout == ""
    (line,) = unknown.stderr.splitlines()
    assert line.startswith("error: No such option: --learning-rate")
    assert line.endswith("(see `lagnet train --help`)")


@pytest.mark.parametrize(
    "argv, said",
    [
        (["train", "--lr", "abc"], "Invalid value for '--lr': Input should be a valid number"),
        (["train", "--steps"], "Option '--steps' requires an argument."),
        (["train", "--nosuch"], "No such option: --nosuch"),
        (["sweep"], "Missing argument 'spec'."),
        (["nosuchcommand"], "No such command 'nosuchcommand'."),
        (["simulate", "--paths", "1.5"], "Invalid value for '--paths'"),
    ],
)
def test_a_command_line_that_does_not_parse_is_one_line_naming_the_option(
    argv, said, monkeypatch, capsys
):
    from lagnet.cli import usage_in_one_line

    monkeypatch.setattr(sys, "argv", ["lagnet", *argv])
    assert usage_in_one_line() == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    (line,) = captured.err.splitlines()
    where = "lagnet" if argv[0] == "nosuchcommand" else f"lagnet {argv[0]}"
    assert line.startswith(f"error: {said}") and line.endswith(f"(see `{where} --help`)"), line


def test_help_and_a_bare_command_still_show_the_help(monkeypatch, capsys):
    from lagnet.cli import usage_in_one_line

    monkeypatch.setattr(sys, "argv", ["lagnet", "train", "--help"])
    assert usage_in_one_line() == 0
    assert "--lr" in capsys.readouterr().out  # the learning rate has an option of its own
    monkeypatch.setattr(sys, "argv", ["lagnet"])
    assert usage_in_one_line() == 2  # click 8.2 and later: a bare group is a usage error
    shown = capsys.readouterr()
    assert "Usage: lagnet" in shown.out and shown.err == ""


def test_the_learning_rate_has_an_option_and_keeps_the_budget_table_off_it(monkeypatch, tmp_path):
    """``--lr`` sets train.lr; with a budget, the table still sizes what was not given."""
    import lagnet.cli.train as train_cli

    seen = []

    def stop(tracker, cfg, *args, **kw):
        seen.append(cfg)
        kw["started"]()  # the notes, header and bar are said once the input is accepted
        raise KeyboardInterrupt  # what was asked for is all this test needs

    monkeypatch.setattr(train_cli, "tracked_run", stop)
    args = ["train", "--process", "ar1(rho=0.1)", "--target", "x[t]**2", "--lr", "0.003"]
    res = runner.invoke(app, [*args, "--max-seconds", "10", "--out", str(tmp_path / "r")])
    assert res.exit_code == 130, res.output
    (cfg,) = seen
    assert cfg.train.lr == 0.003
    # given a learning rate, the budget table leaves the sizes alone as well and says nothing
    assert cfg.model.hidden == 32 and "budget table" not in res.output


def test_every_help_text_is_shown_as_written():
    """Rich reads `[...]` as markup: `--target`'s example `x[t]**2 + 0.1*x[t-1]**2` was shown
    as `x**2 + 0.1*x**2`. Every option's and command's help must reach the screen unchanged,
    and `lagnet --help` lists `train` first."""
    import inspect

    import typer

    wide = {"COLUMNS": "1000", "TERM": "dumb"}
    listing = runner.invoke(app, ["--help"], env=wide).output
    names = [
        line.split()[1] for line in listing.splitlines() if line.startswith("│ ") and "  " in line
    ]
    assert names[names.index("train") - 1] == "--help", listing  # first after the Options panel
    for info in app.registered_commands:
        name = info.name or info.callback.__name__
        shown = " ".join(runner.invoke(app, [name, "--help"], env=wide).output.split())
        helps = [
            p.default.help
            for p in inspect.signature(info.callback).parameters.values()
            if isinstance(p.default, typer.models.ParameterInfo) and p.default.help
        ]
        doc = inspect.getdoc(info.callback).split("\n\n")[0]
        for written in [doc, *helps]:
            said = " ".join(written.replace("\\[", "[").split())
            assert said in shown, (name, said)
    target = " ".join(runner.invoke(app, ["train", "--help"], env=wide).output.split())
    assert '"x[t]**2 + 0.1*x[t-1]**2"' in target
    from lagnet.cli import help_as_written

    help_as_written(app)  # once per app: a second call must not escape the escapes
    again = " ".join(runner.invoke(app, ["train", "--help"], env=wide).output.split())
    assert again == target
