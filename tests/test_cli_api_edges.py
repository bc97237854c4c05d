"""Edges a user trial found in the command line and the Python API: eval against another
target, options given with --resume, an --out that cannot be written, the defaults' help,
error lines for unknown settings and sweep specs, true/false for numbers."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import lagnet
from lagnet.cli import app
from lagnet.errors import LagnetError

runner = CliRunner()


def _lines(output: str) -> list[str]:
    return [line for line in output.strip().splitlines() if line.strip()]


# ----------------------------------------------------------------------------- eval
@pytest.mark.slow
def test_eval_against_another_target_says_so_before_the_table(tiny_run):
    other = "x[t]**2 - 0.1*x[t-1]**2"
    res = runner.invoke(app, ["eval", str(tiny_run), "--paths", "20", "--target", other])
    assert res.exit_code == 0, res.output
    said = f"note: evaluating against {other}; trained on x[t]**2 + 0.1*x[t-1]**2"
    assert _lines(res.output)[0] == said, res.output
    # the same formula, spaced otherwise, is no other target
    res = runner.invoke(
        app, ["eval", str(tiny_run), "--paths", "20", "--target", "x[t]**2+0.1*x[t-1]**2"]
    )
    assert res.exit_code == 0 and "evaluating against" not in res.output, res.output


# ----------------------------------------------------------------------------- --resume
@pytest.mark.parametrize(
    "extra, named",
    [
        (["--steps", "50"], "--steps: 50"),
        (["--set", "train.lr=0.1"], "--set: train.lr=0.1"),
        (["--max-seconds", "3"], "--max-seconds: 3.0"),
    ],
)
def test_options_given_with_resume_are_refused_even_on_a_complete_run(tiny_run, extra, named):
    res = runner.invoke(app, ["train", "--resume", str(tiny_run), *extra])
    assert res.exit_code == 2, res.output
    assert _lines(res.output) == [
        f"error: {named} — --resume goes on with the run's own settings; drop {extra[0]}"
    ]


def test_test_data_is_refused_with_resume(tiny_run, tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("x\n1\n")
    res = runner.invoke(app, ["train", "--resume", str(tiny_run), "--test-data", str(data)])
    assert res.exit_code == 2 and "drop --test-data" in res.output, res.output


def _killed(run: Path) -> Path:
    """The tiny run as a run killed while training: status running, nobody holding it."""
    (run / "status.json").write_text(json.dumps({"status": "running", "pid": 1}))
    return run


@pytest.fixture
def started_only(monkeypatch):
    """`lagnet train` up to the moment it says what it trains, then Ctrl-C: the lines said
    before training, without training."""
    import lagnet.cli.train as cli_train

    def tracked_run(tracker, cfg, out, callbacks=(), process=None, *, resume, started):
        assert resume
        started()
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_train, "tracked_run", tracked_run)


def test_resuming_a_run_killed_before_its_first_checkpoint_says_it_starts_again(
    tiny_run, started_only
):
    run = _killed(tiny_run)
    res = runner.invoke(app, ["train", "--resume", str(run), "--quiet"])
    assert res.exit_code == 130, res.output
    assert f"note: {run}: no checkpoint yet: starting again from step 0" in res.output


def test_resuming_a_killed_run_says_from_which_step(tiny_run, started_only):
    from lagnet.training import Checkpoint

    run = _killed(tiny_run)
    # what the loop saves: the arrays, and (step, since_val, planned, elapsed) with each
    # member's host state
    Checkpoint(run).save({}, dict(shared=(20, 0, 40, 1.5), member={}))
    res = runner.invoke(app, ["train", "--resume", str(run), "--quiet"])
    assert res.exit_code == 130, res.output
    assert f"note: resuming {run} from step 20" in res.output


# ----------------------------------------------------------------------------- --out
@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_an_out_that_cannot_be_written_is_refused_before_training(tmp_path):
    res = runner.invoke(
        app, ["train", "--process", "ar1(rho=0.1)", "--target", "x[t]", "--out", "/proc/r1"]
    )
    assert res.exit_code == 2, res.output
    (line,) = _lines(res.output)
    assert line.startswith("error: out: /proc/r1 — cannot be written") and "/proc" in line
    with pytest.raises(LagnetError, match="^out: /proc/lagnet/r1 — cannot be written"):
        lagnet.train(target="x[t]", steps=1, out="/proc/lagnet/r1")


# ----------------------------------------------------------------------------- defaults
def test_the_help_of_process_and_target_says_their_defaults():
    import typer.main

    from lagnet.cli.train import DEFAULT_PROCESS, DEFAULT_TARGET
    from lagnet.config import RunConfig, merge

    params = {p.name: p for p in typer.main.get_command(app).commands["train"].params}
    helps = {n: params[n].help.replace("\\[", "[") for n in ("process", "target")}  # rich's \[
    assert f'"{DEFAULT_PROCESS}", the default where neither' in helps["process"]
    assert f'"{DEFAULT_TARGET}", the default where neither' in helps["target"]
    # and they are the defaults
    cfg = merge(values={"process": DEFAULT_PROCESS})[0]
    assert cfg.process == RunConfig().process and DEFAULT_TARGET == "x[t]**2 + 0.1*x[t-1]**2"


# ----------------------------------------------------------------------------- error lines
def test_an_unknown_setting_under_an_unknown_section_names_both_and_the_value(tmp_path):
    res = runner.invoke(app, ["train", "--set", "foo.bar=1", "--out", str(tmp_path / "r")])
    assert res.exit_code == 2
    assert _lines(res.output) == ["error: foo.bar: 1 — unknown setting"]
    with pytest.raises(LagnetError, match=r"^eval\.extra\.x: 2 — unknown setting$"):
        lagnet.build_config(eval={"extra": {"x": 2}})


def test_a_sweep_spec_given_to_train_gets_a_hint(tmp_path):
    spec = tmp_path / "econ.toml"
    spec.write_text('seeds = 1\nmetric = "test.r2"\n[grid]\n"model.hidden" = [4, 8]\n')
    res = runner.invoke(app, ["train", str(spec), "--out", str(tmp_path / "r")])
    assert res.exit_code == 2
    (line,) = _lines(res.output)
    assert line.endswith("this looks like a sweep spec: run it with lagnet sweep"), line
    assert not (tmp_path / "r").exists()


def test_the_sweep_keys_are_those_only_a_sweep_spec_has():
    from lagnet.config import SWEEP_KEYS, RunConfig
    from lagnet.sweeps.spec import SweepSpec

    only = set(SweepSpec.model_fields) - set(RunConfig.model_fields) - {"task"}
    assert set(SWEEP_KEYS) == only


# ----------------------------------------------------------------------------- true/false
@pytest.mark.parametrize(
    "option, field, what",
    [
        ({"steps": True}, "train.steps", "whole number"),
        ({"lr": False}, "train.lr", "number"),
        ({"hidden": True}, "model.hidden", "whole number"),
        ({"eval": {"test_paths": True}}, "eval.test_paths", "whole number"),
        ({"max_seconds": True}, "train.max_seconds", "number"),
    ],
)
def test_true_or_false_is_refused_for_a_number(option, field, what):
    with pytest.raises(LagnetError) as e:
        lagnet.build_config(**option)
    assert str(e.value).startswith(f"{field}: True") or str(e.value).startswith(f"{field}: False")
    assert str(e.value).endswith(f"must be a {what}, not true or false")


def test_numbers_still_pass_and_true_is_refused_from_the_command_line(tmp_path):
    cfg = lagnet.build_config(steps=10, lr=1, max_seconds=2, process="arma(ar=[0.5, 0.2])")
    assert (cfg.train.steps, cfg.train.lr, cfg.train.max_seconds) == (10, 1.0, 2.0)
    assert cfg.process.ar == (0.5, 0.2)
    res = runner.invoke(app, ["train", "--set", "train.steps=true", "--out", str(tmp_path / "r")])
    assert res.exit_code == 2
    assert _lines(res.output) == [
        "error: train.steps: True — must be a whole number, not true or false"
    ]


# ----------------------------------------------------------------------------- scikit-learn
def test_the_warm_start_docstring_says_the_schedule_starts_again():
    from lagnet.sklearn import SequenceRegressor, _go_on

    doc = " ".join(SequenceRegressor.__doc__.split())
    assert "final learning rate" not in doc
    assert "learning-rate schedule started again" in doc
    assert "schedule started again" in " ".join(_go_on.__doc__.split())


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_a_sweep_into_a_folder_that_cannot_be_made_is_refused_before_a_point_runs(tmp_path):
    """``lagnet sweep SPEC --out /proc/sw`` showed its bar, then failed with a
    FileNotFoundError and exit 1."""
    from test_sweep import tiny_spec

    with pytest.raises(LagnetError) as e:
        lagnet.sweep(tiny_spec(), "/proc/lagnet-sweep", workers=1)
    assert e.value.field == "out" and "cannot be written" in str(e.value)


def test_a_run_prints_as_one_line(tiny_run):
    """print(run) dumped 15 000 characters of predictions and history."""
    run = lagnet.load(tiny_run)
    text = repr(run)
    assert len(text) < 300 and "\n" not in text
    assert "model=gru" in text and "x[t]**2 + 0.1*x[t-1]**2" in text and "memory_r2=" in text
