"""A griffe extension for the site's API pages (named in mkdocs.yml): lagnet's docstrings
show examples as bare doctest lines (``>>> run = lagnet.train(…)``), which Markdown would
read as prose — and ``metrics["test"]["r2"]`` as a link. Each run of doctest lines, with
the output lines after it, is fenced as a ``pycon`` code block. Their cross-references are
written as Sphinx roles (``:func:`lagnet.config.merge```), which the Google-style renderer
printed as they are (":func:" before the code): each becomes the code alone, ``~`` keeping
the last name only, as Sphinx shows it."""

from __future__ import annotations

import re

import griffe

ROLE = re.compile(r":(?:py:)?(?:func|class|mod|meth|attr|data|exc|obj|const):`(~?)([^`]+)`")


def roles(text: str) -> str:
    """``:func:`~a.b.c``` → ```c```, ``:class:`Process``` → ```Process```."""
    return ROLE.sub(lambda m: f"`{m[2].rsplit('.', 1)[-1] if m[1] else m[2]}`", text)


def fence(text: str) -> str:
    """``text`` with each unindented run of ``>>>`` lines (and the output after them, up to
    a blank line) inside a fenced code block; fenced or indented blocks are left alone."""
    out: list[str] = []
    in_doctest = in_fence = False
    for line in text.splitlines():
        if line.startswith("```"):
            in_fence = not in_fence
        if not in_fence and not in_doctest and line.startswith(">>>"):
            out.append("```pycon")
            in_doctest = True
        elif in_doctest and not line.strip():
            out.append("```")
            in_doctest = False
        out.append(line)
    if in_doctest:
        out.append("```")
    return "\n".join(out)


class DoctestFences(griffe.Extension):
    def on_instance(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = fence(roles(obj.docstring.value))
