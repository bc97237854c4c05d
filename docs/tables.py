"""The site's tables, generated from lagnet's registries when the site is built (an mkdocs
hook, named in mkdocs.yml): a page writes ``<!-- lagnet-table: models -->`` and gets the
table of every registered model family, so a family, process or task added to lagnet appears
on the site without editing it. ``tests/test_site.py`` checks every table names every member.
"""

from __future__ import annotations

import json
import re

from lagnet.models.family import FAMILIES, ModelConfig
from lagnet.processes.family import PROCESSES
from lagnet.registry import TASKS

MARKER = re.compile(r"<!-- lagnet-table: (\w+) -->")


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _default(field) -> str:
    """A setting's default as ``--set`` and TOML write it (``[64]``, ``"silu"``, ``true``)."""
    value = field.get_default(call_default_factory=True)
    if value is None:
        return "unset"
    return json.dumps(list(value) if isinstance(value, tuple) else value)


def models_table() -> str:
    """Every model family: ``--model`` name, what it is, how it is fitted, its settings."""
    base = set(ModelConfig.model_fields)
    rows = [
        "| `--model` | what | fitted by | settings (`--set model.…`, default) |",
        "|---|---|---|---|",
    ]
    for f in sorted(FAMILIES, key=lambda f: f.kind):
        how = (
            "gradient loop"
            if f.build is not None
            else "closed form"
            if f.fit is not None
            else "choosing among " + ", ".join(f.candidates)
        )
        fields = f.config.model_fields
        settings = ", ".join(
            f"`{name}` = {_cell(_default(fields[name]))}" for name in fields if name not in base
        )
        rows.append(f"| `{f.kind}` | {_cell(f.summary)} | {how} | {settings} |")
    return "\n".join(rows)


def processes_table() -> str:
    """Every process: its spec forms with their parameters (positional ones first), what it
    is, and whether its optimal filter is known."""
    rows = ["| kind | spec forms | what | optimal filter |", "|---|---|---|---|"]
    for p in sorted(PROCESSES, key=lambda p: p.kind):
        forms = (
            "<br>".join(
                f"`{name}({', '.join(form.params)})`" for name, form in sorted(p.forms.items())
            )
            or "Python only"
        )
        known = "known" if p.optimal is not None else ""
        rows.append(f"| `{p.kind}` | {forms} | {_cell(p.summary)} | {known} |")
    return "\n".join(rows)


def tasks_table() -> str:
    """Every named task, with its parameters' defaults, description and reference."""
    rows = ["| `--task` | what | reference |", "|---|---|---|"]
    for t in TASKS.values():
        params = ", ".join(f"{k}={v:g}" for k, v in t.params.items())
        name = f"{t.name}({params})" if params else t.name
        rows.append(f"| `{name}` | {_cell(t.description)} | {_cell(t.reference)} |")
    return "\n".join(rows)


TABLES = {"models": models_table, "processes": processes_table, "tasks": tasks_table}


def expand(markdown: str) -> str:
    """Markdown with every table marker replaced by its table."""
    return MARKER.sub(lambda m: TABLES[m.group(1)](), markdown)


def on_page_markdown(markdown: str, **kwargs) -> str:  # the mkdocs hook
    return expand(markdown)
