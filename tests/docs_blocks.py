"""What the README's test (test_docs.py) and the site's test (test_site.py) share: the code
blocks of a Markdown file, its ``lagnet …`` command lines, the tiny settings appended to each
command so it runs in a second, and ``lagnet`` with those settings for Python blocks."""

from __future__ import annotations

import functools
import re
import shlex
import shutil
from pathlib import Path

from typer.testing import CliRunner

import lagnet
from children import child_env
from lagnet.cli import app

ROOT = Path(__file__).resolve().parents[1]

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
# What each command gets appended to run tiny (later options win over the document's).
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
    "processes": [],
    "report": [],
    # every point of a sweep tiny, one after another in this process (its compiled step
    # serves all of them: the formula's parameter is an argument)
    "sweep": [
        "--workers",
        "1",
        "--quiet",
        *[
            a
            for s in (
                "train.steps=20",
                "train.batch=16",
                "train.length=30",
                "train.val_every=10",
                "train.val_paths=32",
                "train.pilot_paths=32",
                "model.hidden=8",
                "eval.test_paths=32",
                "eval.baseline_paths=100",
                "eval.long_paths=4",
            )
            for a in ("--set", s)
        ],
    ],  # fmt: skip
}
# The site's pages (tests/test_site.py) the same, but simulated files keep the page's size: a data
# file must be long enough for what trains on it.
SITE_TINY = dict(TINY, simulate=[])
# The same for Python: keyword arguments of lagnet.train.
TRAIN_TINY_KW = dict(
    steps=20,
    batch=16,
    length=60,
    val_every=10,
    val_paths=32,
    pilot_paths=32,
    eval=dict(test_paths=32, baseline_paths=100, long_paths=4),
)
ENV = child_env(COLUMNS="200")


def blocks(text: str, lang: str) -> list[str]:
    """The fenced ```lang blocks of a Markdown text, in order."""
    return re.findall(rf"^```{lang}\n(.*?)^```", text, re.S | re.M)


def command_lines(text: str, langs: tuple[str, ...] = ("bash", "console")) -> list[str]:
    """The ``lagnet …`` lines of a text's bash and console blocks, in the order they appear,
    without prompts and trailing comments."""
    lines = []
    for lang in langs:
        for block in blocks(text, lang):
            for line in block.splitlines():
                line = line.removeprefix("$ ").strip()
                if line.startswith("lagnet "):
                    lines.append(re.sub(r"\s+#.*$", "", line))
    return sorted(lines, key=text.index)


def run_commands(
    commands: list[str], directory: Path, monkeypatch, tiny: dict[str, list[str]] = TINY
) -> dict[str, str]:
    """The commands in this process (the app is what the ``lagnet`` script calls, so compiled
    steps are shared between them), in ``directory`` with a copy of examples/, each with its
    ``tiny`` options appended; what each printed. Each must exit 0."""
    shutil.copytree(ROOT / "examples", directory / "examples", dirs_exist_ok=True)
    monkeypatch.chdir(directory)
    runner, outputs = CliRunner(), {}
    for command in commands:
        args = shlex.split(command)[1:]
        extra = [] if "--resume" in args else tiny[args[0]]  # a resumed run keeps its settings
        if args[0] == "doctor" and "--fix" in args:
            extra = [*extra, "--max-seconds", "1"]  # the fix's remedy of more steps, in 1 s
        res = runner.invoke(app, [*args, *extra], env={"COLUMNS": "200"})
        assert res.exit_code == 0, f"{command}\n{res.output}"
        outputs[command] = res.output
    return outputs


class TinyLagnet:
    """``lagnet`` as a document's Python block uses it, with tiny settings added to
    ``train``, ``build_config`` and ``bench``; everything else is lagnet's own."""

    def __init__(self, directory: Path):
        self.directory = directory

    def __getattr__(self, name):
        return getattr(lagnet, name)

    @staticmethod
    def train(*args, **kw):
        kw.update(TRAIN_TINY_KW)
        return lagnet.train(*args, **kw)

    @staticmethod
    def build_config(*args, **kw):
        kw.update(TRAIN_TINY_KW)
        return lagnet.build_config(*args, **kw)

    @staticmethod
    def sweep(spec, out=None, **kw):
        sets = TINY["sweep"][4::2]  # the values of its --set options
        return lagnet.sweep(spec, out, **dict(kw, workers=1, sets=sets))

    def bench(self, tasks, models, max_seconds=15.0, **kw):
        sets = TINY["bench"][3::2]  # the values of its --set options
        return lagnet.bench(
            tasks, models, max_seconds=1.0, out=self.directory / "bench", overrides=sets, **kw
        )


@functools.cache
def page_commands() -> dict[str, list[str]]:
    """Each ``lagnet …`` line of the site's pages (docs/*.md, bash blocks) -> the pages that
    show it: tests/test_site.py runs every one of them."""
    pages: dict[str, list[str]] = {}
    for page in sorted((ROOT / "docs").glob("*.md")):
        for command in command_lines(page.read_text(), ("bash",)):
            pages.setdefault(command, []).append(page.name)
    return pages
