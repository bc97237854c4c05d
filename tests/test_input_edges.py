"""Bad input at the edges: seeds out of range, --out under a file, a config that is not UTF-8
text, numbers beyond float32, run names that are paths, and smaller slips. Each is one line
naming the field and the value, exit 2, with nothing made; none of these tests trains."""

import subprocess
import sys
import types

import pytest
from typer.testing import CliRunner

import lagnet
from lagnet.cli import app
from lagnet.config import read_toml
from lagnet.errors import LagnetError
from lagnet.rundir import check_out_dir

runner = CliRunner()
AR1 = ["--process", "ar1(rho=0.1)", "--target", "x[t-1]"]
SIM = ["simulate", "--process", "ar1(rho=0.1)", "--paths", "2", "--length", "5"]


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "d.csv").write_text("a\n")
    return tmp_path


def refused(args: list[str], *words: str) -> str:
    """The command's one line of refusal: exit 2, no traceback, naming ``words``."""
    res = runner.invoke(app, args)
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output and "failed:" not in res.output, res.output
    line = res.output.strip()
    assert line.startswith("error:") and len(line.splitlines()) == 1, line
    for word in words:
        assert word in " ".join(line.split()), line
    return line


def nothing_made(tmp_path) -> None:
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.csv"]


# ----------------------------------------------------------------------------- seeds
@pytest.mark.parametrize(
    "args",
    [
        ["train", *AR1, "--seed", "4294967296"],  # wrapped onto seed 0's run
        ["train", *AR1, "--set", "seed=4294967296"],
        ["train", *AR1, "--set", "eval.seed=4294967296"],
        [*SIM, "--out", "s.csv", "--seed", "-1"],  # was taken as 4294967295
        [*SIM, "--out", "s.csv", "--seed", "99999999999999999999999"],  # was OverflowError
        [*SIM, "--out", "s.csv", "--seed", "4294967296"],
    ],
)
def test_seeds_out_of_range_are_refused_everywhere(args, in_tmp):
    refused(args, "seed", "[0, 2**32)")
    nothing_made(in_tmp)


@pytest.mark.parametrize("seed", [-1, 2**32, 2**63 - 1, True])
def test_the_python_api_takes_the_same_seed_range(seed):
    with pytest.raises(LagnetError) as e:
        lagnet.build_config(seed=seed)
    assert e.value.field == "seed"
    with pytest.raises(LagnetError, match="eval.seed"):
        lagnet.build_config(eval={"seed": seed})


def test_the_largest_seed_is_taken():
    assert lagnet.build_config(seed=2**32 - 1).seed == 2**32 - 1


# ----------------------------------------------------------------------------- --out
@pytest.mark.parametrize(
    "args",
    [
        ["train", *AR1, "--max-seconds", "3", "--out", "d.csv/run"],
        ["train", *AR1, "--out", "d.csv/deeper/run"],
        [*SIM, "--out", "d.csv/s.csv"],
    ],
)
def test_out_under_a_file_is_refused_before_anything_starts(args, in_tmp):
    line = refused(args, "out:", "d.csv is a file, not a folder")
    assert "note:" not in line
    nothing_made(in_tmp)


def test_the_shared_out_dir_check_names_the_file(in_tmp):
    with pytest.raises(LagnetError, match="d.csv is a file, not a folder") as e:
        check_out_dir("d.csv/a/b")
    assert e.value.field == "out"


# ----------------------------------------------------------------------------- config files
def test_a_config_that_is_not_utf8_is_one_line(in_tmp):
    (in_tmp / "bin.toml").write_bytes(b"\xff\xfe x")
    refused(["train", "bin.toml"], "config: bin.toml", "not UTF-8 text")
    refused(["doctor", "bin.toml"], "config: bin.toml", "not UTF-8 text")
    refused(["sweep", "bin.toml", "--dry-run"], "bin.toml", "not UTF-8 text")
    with pytest.raises(LagnetError, match="spec: bin.toml — not UTF-8 text"):
        read_toml("bin.toml", "spec")


def test_a_folder_given_as_config_is_said_to_be_a_folder(in_tmp):
    (in_tmp / "adir").mkdir()
    line = refused(["train", "adir"], "config: adir", "folder")
    assert "no such file" not in line


def test_a_utf8_config_with_a_byte_order_mark_is_read(in_tmp):
    (in_tmp / "bom.toml").write_bytes('\ufeffname = "bom"\n'.encode())
    assert read_toml(in_tmp / "bom.toml") == {"name": "bom"}


# ----------------------------------------------------------------------------- huge numbers
@pytest.mark.parametrize(
    "flag, field",
    [
        (["--max-seconds", "1e308"], "train.max_seconds"),  # was OverflowError, a failed run
        (["--lr", "1e308"], "train.lr"),  # was a RuntimeWarning and 0 steps
        (["--set", "train.clip=1e39"], "train.clip"),
        (["--set", "train.weight_decay=1e39"], "train.weight_decay"),
        (["--set", "target.init=-1e39"], "target.init"),
        (["--lr", "inf"], "train.lr"),
    ],
)
def test_numbers_beyond_float32_are_refused(flag, field, in_tmp):
    refused(["train", *AR1, "--steps", "5", *flag], field)
    nothing_made(in_tmp)


def test_numbers_within_float32_are_taken():
    cfg = lagnet.build_config(lr=3e38, max_seconds=3e38)
    assert cfg.train.lr == 3e38


def test_a_process_setting_beyond_float32_is_refused():
    with pytest.raises(LagnetError, match="process.sigma"):
        lagnet.build_config(process={"kind": "arma", "ar": [0.1], "sigma": 1e39})


# ----------------------------------------------------------------------------- run names
@pytest.mark.parametrize("name", ["../escaped", "a/b", "a\\\\b", "", "  ", "..", "."])
def test_a_run_name_that_is_a_path_or_empty_is_refused(name, in_tmp):
    refused(["train", *AR1, "--set", f'name="{name}"'], "name:")
    nothing_made(in_tmp)


def test_a_plain_run_name_is_taken():
    assert lagnet.build_config(name="forum-v2.1").name == "forum-v2.1"


# ----------------------------------------------------------------------------- smaller
def test_an_empty_task_is_refused_not_the_default(in_tmp):
    refused(["train", "--task", ""], "task:", "task name")
    nothing_made(in_tmp)


def test_task_parameters_are_shown_as_given():
    line = refused(["train", "--task", "memory-k(k=-1)"], "task.k: -1 —")
    assert "-1.0" not in line
    assert "task.k: 2.5" in refused(["train", "--task", "memory-k(k=2.5)"])


def test_the_task_list_shows_no_internal_path():
    res = runner.invoke(app, ["tasks"])
    assert res.exit_code == 0, res.output
    assert "shared/seeds" not in res.output and "../" not in res.output
    assert all("../" not in t.reference for t in lagnet.TASKS.values())


def test_simulate_without_a_process_says_what_to_give(in_tmp):
    line = refused(["simulate", "--paths", "2", "--length", "5", "--out", "s.csv"], "--process")
    assert "None" not in line and "--task" in line
    refused([*SIM, "--task", "narma10", "--out", "s.csv"], "not both")
    nothing_made(in_tmp)


def test_simulate_names_the_setting_whose_series_clashes_with_the_long_columns(in_tmp):
    var = 'var(A=[[0.5, 0], [0, 0.5]], names=["path", "b"])'
    refused(
        ["simulate", "--process", var, "--paths", "2", "--length", "5", "--out", "s.csv"],
        "process.names: path",
    )
    refused(
        [
            "simulate",
            "--process",
            'ou(name="t")',
            "--paths",
            "2",
            "--length",
            "5",
            "--out",
            "s.csv",
        ],
        "process.name: t",
    )
    nothing_made(in_tmp)


def test_an_input_named_twice_is_refused(in_tmp):
    refused(["train", *AR1, "--inputs", "x,x"], "target.inputs", "x twice")
    with pytest.raises(LagnetError, match="target.inputs"):
        lagnet.build_config(inputs=["x", "x"])


def test_one_input_name_is_a_list_of_one():
    assert lagnet.build_config(inputs="x").target.inputs == ("x",)
    assert lagnet.build_config(process="ou()", inputs="x").target.inputs == ("x",)


@pytest.mark.parametrize(
    "kwargs, field",
    [
        (dict(process=3), "process"),
        (dict(model=3), "model"),
        (dict(eval=3), "eval"),
        (dict(process={"kind": "arma", "ar": [1.1]}), "process.ar"),  # not stationary
    ],
)
def test_build_config_refuses_what_train_refuses(kwargs, field):
    with pytest.raises(LagnetError) as e:
        lagnet.build_config(**kwargs)
    assert e.value.field == field


# ----------------------------------------------------------------------------- Ctrl-C
def test_ctrl_c_while_loading_the_command_is_a_quiet_130(monkeypatch, capsys):
    class Loading(types.ModuleType):
        def __getattr__(self, name):
            raise KeyboardInterrupt

    from lagnet import __main__ as entry

    monkeypatch.setitem(sys.modules, "lagnet.cli", Loading("lagnet.cli"))
    with pytest.raises(SystemExit) as e:
        entry.main()
    assert e.value.code == 130
    assert capsys.readouterr().err.strip() == "interrupted"


def test_the_command_catches_ctrl_c_from_its_first_import():
    """The `lagnet` script starts in ``lagnet.__main__`` (which catches a Ctrl-C while the
    command loads), and importing the package on the way there loads no JAX: a Ctrl-C in the
    second JAX takes to load was a traceback of the import."""
    from importlib.metadata import entry_points

    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "lagnet"]
    assert script.value == "lagnet.__main__:main"
    code = (
        "import sys, lagnet, lagnet.__main__; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('jax', 'equinox', 'typer')))"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and res.stdout.strip() == "[]", res.stdout + res.stderr
    assert lagnet.train.__module__ == "lagnet.api" and "train" in dir(lagnet)
    with pytest.raises(AttributeError, match="no attribute 'trian'"):
        _ = lagnet.trian


def test_ctrl_c_outside_a_command_is_a_quiet_130(monkeypatch, capsys):
    import atexit

    import lagnet.cli as cli

    def interrupted():
        raise KeyboardInterrupt

    def leave(code):
        raise SystemExit(code)

    monkeypatch.setattr(cli, "usage_in_one_line", interrupted)
    monkeypatch.setattr(atexit, "_run_exitfuncs", lambda: None)  # not pytest's own
    monkeypatch.setattr(cli.os, "_exit", leave)
    with pytest.raises(SystemExit) as e:
        cli.main()
    assert e.value.code == 130
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize("command", [["bench", "--tasks", "memory-k(k=3)", "--models", "narx"],
                                     ["sweep", "SPEC"]])  # fmt: skip
def test_bench_and_sweep_refuse_an_out_under_a_file(command, in_tmp):
    """As train and simulate do: one line naming the file, nothing made (bench made folders
    and failed with NotADirectoryError)."""
    from test_sweep import tiny_spec, write_spec

    (in_tmp / "d.csv").write_text("x\n1\n")
    spec = write_spec(in_tmp / "s.toml", tiny_spec())
    args = [str(spec) if a == "SPEC" else a for a in command]
    res = CliRunner().invoke(app, [*args, "--out", "d.csv/x"])
    assert res.exit_code == 2, res.output
    assert "d.csv is a file, not a folder" in res.output and res.output.count("\n") == 1


# ----------------------------------------------------------------------------- lengths
def test_paths_too_short_for_the_baseline_are_refused_before_a_run_starts(in_tmp):
    """The default linear-lags baseline reads the formula's lags: a length not above them is
    refused naming the length (it named eval.linear_lags, never set), before the fit (it was
    refused after training, leaving a failed run directory)."""
    refused(["train", *AR1, "--length", "2", "--steps", "2"], "train.length: 2", "above 2")
    assert not (in_tmp / "runs").exists()
    nothing_made(in_tmp)


@pytest.mark.parametrize(
    "args, line",
    [
        (["--paths", "-1"], "error: paths: -1"),
        (["--length", "2"], "error: length: 2 — must be above 2"),
        (["--seed", "-4"], "error: seed: -4"),
    ],
)
def test_eval_names_the_options_it_was_given(tiny_run, args, line):
    """`lagnet eval RUN --paths -1` said `eval.test_paths: -1`: named as typed now."""
    assert refused(["eval", str(tiny_run), *args]).startswith(line)


# ----------------------------------------------------------------------------- settings
def test_another_familys_setting_given_at_its_default_is_refused(in_tmp):
    """`--set model.activation=tanh` on a GRU trained without a word (an Elman network's
    setting at its default); a run directory's config.toml of that shape still loads."""
    refused(["train", *AR1, "--model", "gru", "--set", "model.activation=tanh"], "not a setting")
    with pytest.raises(LagnetError, match="model.activation: tanh — not a setting of gru"):
        lagnet.build_config("ar1(rho=0.1)", "x[t-1]", "gru", activation="tanh")
    assert lagnet.build_config("ar1(rho=0.1)", "x[t-1]", "rnn", activation="relu").model
    (in_tmp / "c.toml").write_text('[model]\nkind = "gru"\nactivation = "tanh"\n')
    assert lagnet.load_config(in_tmp / "c.toml").model.kind == "gru"
    nothing_made_but = sorted(p.name for p in in_tmp.iterdir())
    assert nothing_made_but == ["c.toml", "d.csv"]
