"""The documentation site (mkdocs.yml, docs/): every page's commands and code blocks run, in
the order the page shows them, in one directory per page, on tiny settings; the generated
tables name every registered family, process and task; and the site builds with
``mkdocs build --strict``."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys

import numpy as np
import pytest

import lagnet
from docs_blocks import ENV, ROOT, SITE_TINY, TinyLagnet, run_commands
from lagnet.config import tomllib  # tomli before Python 3.11
from lagnet.models.family import FAMILIES
from lagnet.processes.family import PROCESSES
from lagnet.registry import TASKS

DOCS = ROOT / "docs"
sys.path.insert(0, str(DOCS))
from doctest_fences import fence, roles  # noqa: E402
from tables import MARKER, TABLES, expand  # noqa: E402

PAGES = sorted(p.name for p in DOCS.glob("*.md"))
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.S | re.M)
# Lines of bash blocks that are not `lagnet …` commands, and the test that runs each.
ELSEWHERE = {
    "bash scripts/forum.sh": "tests/test_docs.py::test_the_main_job_runs",
    "bash scripts/test.sh": "the test command itself",
    'pip install -e ".[docs]"': "the test extra holds the docs extra (scripts/test.sh installs it)",
    'pip install -e ".[mlflow]"': "the test extra holds the mlflow extra (scripts/test.sh installs it)",
    'pip install -e ".[tensorboard]"': "the test extra holds the tensorboard extra (scripts/test.sh installs it)",
    "mkdocs build --strict": "test_the_site_builds_strict, below",
    "mkdocs serve": "serves what test_the_site_builds_strict builds",
}
# What each page's blocks leave behind, beyond exiting cleanly.
WRITES = {
    "forum.md": ["runs/forum/report.html", "runs/ar1/evaluations.json", "runs/narx/metrics.json"],
    "narma10.md": ["runs/narma-esn/metrics.json", "bench/leaderboard.md"],
    "garch.md": ["runs/garch/metrics.json", "runs/garch-own/metrics.json"],
    "doctor.md": ["runs/forum/doctor.json"],
    "data.md": ["prices.csv", "runs/from-data/metrics.json"],
    "tracking.md": ["runs/tracked/metrics.json", "mlflow.db", "runs/tensorboard/tb"],
    "processes.md": ["regime.csv", "runs/memory/metrics.json"],
}


def page_blocks(page: str) -> list[tuple[str, str]]:
    """(language, code) of every fenced block of a page, in order."""
    return BLOCK.findall((DOCS / page).read_text())


def _lines(code: str) -> list[str]:
    """A bash block's commands, without prompts and trailing comments."""
    lines = [line.removeprefix("$ ").strip() for line in code.splitlines()]
    return [re.sub(r"\s+#.*$", "", line) for line in lines if line and not line.startswith("#")]


# ----------------------------------------------------------------------------- fast checks
def test_every_page_is_in_the_nav():
    nav = (ROOT / "mkdocs.yml").read_text()
    assert all(page in nav for page in PAGES)
    # The tutorials the site promises, and only runnable languages in code blocks.
    assert {"index.md", "forum.md", "narma10.md", "garch.md", "doctor.md", "data.md"} <= set(PAGES)
    assert {"formulas.md", "models.md", "processes.md", "api.md"} <= set(PAGES)
    for page in PAGES:
        langs = {lang for lang, _ in page_blocks(page)}
        assert langs <= {"bash", "python", "text", "toml"}, (page, langs)


def test_the_front_page_names_every_optional_extra():
    """A user reads which extra a capability needs on the front page (tensorboard was left
    out); each named one is pyproject.toml's."""
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    index = (DOCS / "index.md").read_text()
    named = set(re.findall(r"`(\w+)`", index.split("Optional extras", 1)[1].split("\n\n")[0]))
    assert set(extras) <= named, set(extras) - named


def test_every_bash_line_is_a_lagnet_command_or_tested_elsewhere():
    for page in PAGES:
        for lang, code in page_blocks(page):
            if lang == "bash":
                for line in _lines(code):
                    assert line.startswith("lagnet ") or line in ELSEWHERE, (page, line)


def test_the_tables_name_every_member():
    models, processes, tasks = (TABLES[name]() for name in ("models", "processes", "tasks"))
    assert all(f"| `{f.kind}` |" in models for f in FAMILIES)
    assert all(f"| `{p.kind}` |" in processes for p in PROCESSES)
    assert all(f"`{name}" in tasks for name in TASKS)
    # a table row per member, header and rule aside
    assert len(models.splitlines()) == len(list(FAMILIES)) + 2
    assert len(processes.splitlines()) == len(list(PROCESSES)) + 2
    assert len(tasks.splitlines()) == len(TASKS) + 2


def test_every_table_marker_is_known_and_expanded():
    for page in PAGES:
        text = (DOCS / page).read_text()
        for name in MARKER.findall(text):
            assert name in TABLES, (page, name)
        assert not MARKER.search(expand(text))
    assert "| `gru` |" in expand((DOCS / "models.md").read_text())


def test_doctest_lines_are_fenced():
    text = 'Train.\n\n>>> run = f(x)\n... more\n>>> run["a"]["b"]\n0.5\n\nAfter.\n    >>> kept'
    assert fence(text).splitlines() == [
        "Train.",
        "",
        "```pycon",
        ">>> run = f(x)",
        "... more",
        '>>> run["a"]["b"]',
        "0.5",
        "```",
        "",
        "After.",
        "    >>> kept",
    ]
    assert fence(">>> a") == "```pycon\n>>> a\n```"
    assert roles("(:func:`lagnet.config.merge`), :class:`~lagnet.runs.Run`, :mod:`x`") == (
        "(`lagnet.config.merge`), `Run`, `x`"
    )
    assert fence("```python\n>>> a\n```") == "```python\n>>> a\n```"


# ----------------------------------------------------------------------------- the pages run
def _runnable(page: str) -> bool:
    return any(lang == "python" for lang, _ in page_blocks(page)) or any(
        line.startswith("lagnet ")
        for lang, code in page_blocks(page)
        if lang == "bash"
        for line in _lines(code)
    )


@pytest.mark.slow
@pytest.mark.parametrize("page", [p for p in PAGES if _runnable(p)])
def test_every_page_runs(page, tmp_path, monkeypatch):
    """The page's bash commands (`lagnet …`, tiny) and Python blocks, in the page's order,
    in one directory: a run trained by one block is read by the next."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    monkeypatch.delenv("LAGNET_TENSORBOARD_DIR", raising=False)
    namespace = {"lagnet": TinyLagnet(tmp_path)}
    for lang, code in page_blocks(page):
        if lang == "bash":
            commands = [line for line in _lines(code) if line.startswith("lagnet ")]
            for command in commands:
                assert shlex.split(command)[0] == "lagnet"
            run_commands(commands, tmp_path, monkeypatch, SITE_TINY)
        elif lang == "python":
            monkeypatch.chdir(tmp_path)
            code = re.sub(r"^import lagnet\n", "", code, flags=re.M)
            exec(compile(code, str(DOCS / page), "exec"), namespace)  # noqa: S102 — our own page
    for path in WRITES.get(page, []):
        assert (tmp_path / path).exists(), path
    if page == "forum.md":  # what the page prints is what the run measured
        assert np.isfinite(namespace["test"]["memory_r2"])


@pytest.mark.slow
def test_the_site_builds_strict(tmp_path):
    pytest.importorskip("mkdocstrings")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
        cwd=ROOT,
        env=dict(ENV, NO_MKDOCS_2_WARNING="1"),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    models = (tmp_path / "site" / "models" / "index.html").read_text()
    assert all(f"<code>{f.kind}</code>" in models for f in FAMILIES)
    api = (tmp_path / "site" / "api" / "index.html").read_text()
    assert "lagnet.api.train" in api and "MlflowTracker" in api and "TensorBoardTracker" in api
    assert not re.search(r":(func|class|mod|meth|attr):", api)  # roles rendered as code
    for name in lagnet.__all__:  # the page documents everything lagnet re-exports
        module = getattr(getattr(lagnet, name), "__module__", None)
        assert (f'id="{module}.{name}"' if module else f"<code>lagnet.{name}</code>") in api, name
