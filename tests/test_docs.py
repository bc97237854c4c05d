"""Every command and code block the README shows runs here, on tiny settings, and exits as
documented: the ``lagnet`` lines of its bash and console blocks in order, in one directory (a
run trained by one line is evaluated, re-reported and doctored by the next), the main job's
script, the Python block, and every command's ``--help``."""

from __future__ import annotations

import shlex
import subprocess

import numpy as np
import pytest
from typer.testing import CliRunner

import lagnet
from docs_blocks import (
    ENV,
    ROOT,
    SITE_TINY,
    TINY,
    TRAIN_TINY,
    TinyLagnet,
    command_lines,
    page_commands,
    run_commands,
)
from docs_blocks import blocks as _blocks
from lagnet.cli import app

README = ROOT / "README.md"


def blocks(lang: str) -> list[str]:
    return _blocks(README.read_text(), lang)


def readme_commands() -> list[str]:
    """The ``lagnet …`` lines of the README's bash and console blocks, in order, without
    prompts and trailing comments."""
    return command_lines(README.read_text())


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
        "sweep",
    }
    assert all(c.split()[1] in TINY for c in commands), commands


def _chain(command: str) -> bool:
    """The lines that use the run ``runs/ar1`` another line makes: run in order, in one test."""
    return "runs/ar1" in command


@pytest.mark.slow
def test_the_readme_commands_on_one_run(tmp_path, monkeypatch):
    """Train runs/ar1, then evaluate, re-report and doctor it, as the README shows."""
    outputs = run_commands([c for c in readme_commands() if _chain(c)], tmp_path, monkeypatch)
    assert (tmp_path / "runs" / "ar1" / "doctor.json").is_file()
    fix = next(c for c in outputs if "--fix" in c)
    assert (tmp_path / "runs" / "ar1-fixed" / "metrics.json").is_file() or (
        "nothing to fix" in outputs[fix]
    )


def _on_a_page(command: str) -> bool:
    """A line a page of the site shows too, run there with the same tiny options
    (tests/test_site.py::test_every_page_runs): not run twice."""
    verb = shlex.split(command)[1]
    return command in page_commands() and SITE_TINY[verb] == TINY[verb]


def test_every_readme_command_runs_here_or_on_a_page_of_the_site():
    on_pages = [c for c in readme_commands() if not _chain(c) and _on_a_page(c)]
    assert {shlex.split(c)[1] for c in on_pages} <= {"tasks", "train", "sweep"}, on_pages
    assert "lagnet sweep examples/forum_sweep.toml --out sweeps/forum" in on_pages  # sweeps.md
    from test_site import PAGES, _runnable

    run_by_the_site = [p for p in PAGES if _runnable(p)]  # test_every_page_runs's pages
    for command in on_pages:
        assert set(page_commands()[command]) <= set(run_by_the_site), command


@pytest.mark.slow
@pytest.mark.parametrize(
    "command", [c for c in readme_commands() if not _chain(c) and not _on_a_page(c)]
)
def test_every_other_readme_command_runs(command, tmp_path, monkeypatch):
    output = run_commands([command], tmp_path, monkeypatch)[command]
    # What the lines promise: the only observed series as the default input, said at the start;
    # --inputs as given; a switched family's dropped settings named.
    if "garch" in command:
        assert "inputs: r (the process's only observed series" in output
        assert lagnet.load("runs/garch").config.target.inputs == ("r",)
    if "var(" in command:
        assert lagnet.load("runs/var").config.target.inputs == ("x", "z")
    if "--model esn" in command:
        assert "dropped model.window = 150 (not a setting of esn)" in output


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


@pytest.mark.slow
def test_the_readme_python_block_runs(tmp_path, monkeypatch):
    (code,) = blocks("python")
    monkeypatch.chdir(tmp_path)
    x = np.random.default_rng(0).normal(size=(3, 60))
    code = code.replace("import lagnet\n", "")
    namespace = {"lagnet": TinyLagnet(tmp_path), "x": x}
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
