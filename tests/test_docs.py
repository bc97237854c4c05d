"""Every command and code block the README shows runs here, on tiny settings, and exits as
documented: the ``lagnet`` lines of its bash and console blocks in order, in one directory (a
run trained by one line is evaluated, re-reported and doctored by the next), the main job's
script, the Python block, and every command's ``--help``."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import lagnet
from lagnet.cli import app

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

EVAL_TINY = [
    "--set",
    "eval.test_paths=32",
    "--set",
    "eval.baseline_paths=100",
    "--set",
    "eval.long_paths=4",
]
TRAIN_TINY = [
    "--steps",
    "20",
    "--batch",
    "16",
    "--length",
    "60",
    "--quiet",
    "--set",
    "train.val_every=10",
    "--set",
    "train.val_paths=32",
    "--set",
    "train.pilot_paths=32",
    *EVAL_TINY,
]
# What each command gets appended to run tiny (later options win over the README's).
TINY = {
    "train": TRAIN_TINY,
    "bench": [
        "--max-seconds",
        "1",
        "--set",
        "train.steps=10",
        "--set",
        "train.length=60",
        "--set",
        "train.batch=16",
        "--set",
        "train.val_every=5",
        "--set",
        "train.val_paths=32",
        "--set",
        "train.pilot_paths=32",
        *EVAL_TINY,
    ],
    "eval": ["--paths", "32", "--length", "60"],
    "simulate": ["--paths", "4", "--length", "20"],
    "doctor": ["--quick"],
    "tasks": [],
    "report": [],
}
ENV = dict(
    os.environ,
    JAX_PLATFORMS="cpu",
    MPLBACKEND="Agg",
    LAGNET_CACHE="0",
    XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
    OMP_NUM_THREADS="1",
    COLUMNS="200",
)


def blocks(lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", README.read_text(), re.S | re.M)


def readme_commands() -> list[str]:
    """The ``lagnet …`` lines of the README's bash and console blocks, in order, without
    prompts and trailing comments."""
    lines = []
    for block in blocks("bash") + blocks("console"):
        for line in block.splitlines():
            line = line.removeprefix("$ ").strip()
            if line.startswith("lagnet "):
                lines.append(re.sub(r"\s+#.*$", "", line))
    order = README.read_text()
    return sorted(lines, key=order.index)


def test_the_readme_shows_commands_to_run():
    commands = readme_commands()
    assert {c.split()[1] for c in commands} >= {
        "train",
        "eval",
        "simulate",
        "report",
        "tasks",
        "bench",
        "doctor",
    }
    assert all(c.split()[1] in TINY for c in commands), commands


def _chain(command: str) -> bool:
    """The lines that use the run ``runs/ar1`` another line makes: run in order, in one test."""
    return "runs/ar1" in command


def _run(commands: list[str], directory: Path, monkeypatch) -> dict[str, str]:
    """The commands in this process (the app is what the ``lagnet`` script calls, so compiled
    steps are shared between them), in ``directory``; what each printed."""
    shutil.copytree(ROOT / "examples", directory / "examples")
    monkeypatch.chdir(directory)
    runner, outputs = CliRunner(), {}
    for command in commands:
        args = shlex.split(command)[1:]
        res = runner.invoke(app, [*args, *TINY[args[0]]], env={"COLUMNS": "200"})
        assert res.exit_code == 0, f"{command}\n{res.output}"
        outputs[command] = res.output
    return outputs


@pytest.mark.slow
def test_the_readme_commands_on_one_run(tmp_path, monkeypatch):
    """Train runs/ar1, then evaluate, re-report and doctor it, as the README shows."""
    outputs = _run([c for c in readme_commands() if _chain(c)], tmp_path, monkeypatch)
    assert (tmp_path / "runs" / "ar1" / "doctor.json").is_file()
    fix = next(c for c in outputs if "--fix" in c)
    assert (tmp_path / "runs" / "ar1-fixed" / "metrics.json").is_file() or (
        "nothing to fix" in outputs[fix]
    )


@pytest.mark.slow
@pytest.mark.parametrize("command", [c for c in readme_commands() if not _chain(c)])
def test_every_other_readme_command_runs(command, tmp_path, monkeypatch):
    output = _run([command], tmp_path, monkeypatch)[command]
    # What the lines promise: the only observed series as the default input, said at the start;
    # --inputs as given; a switched family's dropped settings named.
    if "garch" in command:
        assert "inputs: r (the process's only observed series" in output
        assert lagnet.load("runs/garch").config.target.inputs == ("r",)
    if "var(" in command:
        assert lagnet.load("runs/var").config.target.inputs == ("x", "z")
    if "--model esn" in command:
        assert "dropped model.window = 50 (not a setting of esn)" in output


@pytest.mark.slow
def test_the_main_job_runs(tmp_path):
    """The README's first command, ``bash scripts/forum.sh``, on tiny settings."""
    out = tmp_path / "ar1"
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "forum.sh"), *TRAIN_TINY, "--out", str(out)],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (out / "report.html").is_file() and (out / "metrics.json").is_file()


class _Tiny:
    """``lagnet`` as the README's Python block uses it, with tiny settings added."""

    def __init__(self, directory: Path):
        self.directory = directory

    def __getattr__(self, name):
        return getattr(lagnet, name)

    @staticmethod
    def train(*args, **kw):
        kw.update(
            steps=20,
            batch=16,
            length=60,
            val_every=10,
            val_paths=32,
            pilot_paths=32,
            eval=dict(test_paths=32, baseline_paths=100, long_paths=4),
        )
        return lagnet.train(*args, **kw)

    def bench(self, tasks, models, max_seconds=15.0, **kw):
        sets = TINY["bench"][3::2]  # the values of its --set options
        return lagnet.bench(
            tasks, models, max_seconds=1.0, out=self.directory / "bench", overrides=sets, **kw
        )


@pytest.mark.slow
def test_the_readme_python_block_runs(tmp_path, monkeypatch):
    (code,) = blocks("python")
    monkeypatch.chdir(tmp_path)
    x = np.random.default_rng(0).normal(size=(3, 60))
    code = code.replace("import lagnet\n", "")
    namespace = {"lagnet": _Tiny(tmp_path), "x": x}
    exec(compile(code, str(README), "exec"), namespace)  # noqa: S102 — the README's own code
    assert namespace["y"].shape == (3, 60)
    assert (tmp_path / "runs" / "mine" / "report.html").is_file()
    assert len(namespace["rows"]) == 4


def _commands() -> list[str]:
    return sorted(c.name or c.callback.__name__ for c in app.registered_commands)


@pytest.mark.parametrize("command", _commands())
def test_every_command_answers_help(command):
    res = CliRunner().invoke(app, [command, "--help"])
    assert res.exit_code == 0, res.output
    assert "Usage" in res.output


def test_the_top_level_help_lists_every_command():
    res = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert res.exit_code == 0
    assert all(c in res.output for c in _commands())
