"""How lagnet's results show themselves in Jupyter (``_repr_html_``): a title, the verdict, a
table, and plots inline as PNG data URIs. ``card`` is the shared piece — a sweep's display
calls it with its own rows and plots.

Presentation only: the numbers come from the run's metrics (or the doctor's document), the
plots from the run directory's ``plots/*.png``; a run never saved has its plots drawn into a
temporary directory.

    >>> run = lagnet.train("ar1(rho=0.1)", "x[t]**2 + 0.1*x[t-1]**2", steps=200)
    >>> run          # in a notebook: the verdict, metrics against baselines, the key plots
"""

from __future__ import annotations

import base64
import copy
import html
import math
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional, Union

KEY_PLOTS = ("vs_input", "per_step_mse", "learning_curve")
CLASSES = {True: "#e8f5e9;border-color:#2e7d32", False: "#ffebee;border-color:#c62828"}


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def fmt(value: Any) -> str:
    """A number for a cell: 4 significant digits (5 decimals for R²-like values near 1)."""
    if value is None:
        return "n/a"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return f"{value:.5f}" if 0.9 <= value < 1 else f"{value:.4g}"
    return str(value)


def card(
    title: str,
    rows: Sequence[Sequence[Any]],
    images: Sequence[Union[str, Path, bytes]] = (),
    *,
    header: Optional[Sequence[str]] = None,
    verdict: Optional[str] = None,
    learned: Optional[bool] = None,
) -> str:
    """HTML for a notebook: ``title``; ``verdict`` (a sentence, green when ``learned`` is
    True, red when False); a table of ``rows`` (under ``header`` if given); ``images``: PNG
    files or bytes, inline as data URIs. Every piece of text is escaped."""
    parts = [f"<div class='lagnet'><h3>{_e(title)}</h3>"]
    if verdict:
        colour = CLASSES.get(learned, "#f3f3f3;border-color:#888")
        parts.append(
            f"<div style='border-left:6px solid;padding:0.4em 0.8em;background:{colour}'>"
            f"<b>{_e(verdict)}</b></div>"
        )
    table = ["<table>"]
    if header:
        table.append("<tr>" + "".join(f"<th>{_e(h)}</th>" for h in header) + "</tr>")
    for row in rows:
        cells = [f"<th style='text-align:left'>{_e(row[0])}</th>"]
        cells += [f"<td style='text-align:right'>{_e(fmt(v))}</td>" for v in row[1:]]
        table.append("<tr>" + "".join(cells) + "</tr>")
    parts.append("".join(table) + "</table>")
    for image in images:
        data = image if isinstance(image, bytes) else Path(image).read_bytes()
        b64 = base64.b64encode(data).decode("ascii")
        parts.append(f'<img style="max-width:48%" src="data:image/png;base64,{b64}">')
    return "\n".join(parts) + "</div>"


def _get(d: Any, *keys: str) -> Any:
    for k in keys:
        d = d.get(k) if isinstance(d, dict) else None
    return d


def run_html(run) -> str:
    """A :class:`lagnet.Run` in a notebook: verdict, metrics against baselines, key plots."""
    m = run.metrics
    rows = [
        (f"model ({_get(m, 'model', 'kind')})", _get(m, "test", "mse"), _get(m, "test", "r2")),
        (
            "memoryless baseline",
            _get(m, "baselines", "memoryless", "mse"),
            _get(m, "baselines", "memoryless", "r2"),
        ),
        (
            f"linear on {_get(m, 'baselines', 'linear_lags', 'lags')} lags",
            _get(m, "baselines", "linear_lags", "mse"),
            _get(m, "baselines", "linear_lags", "r2"),
        ),
        ("memory_r2", None, _get(m, "test", "memory_r2")),
    ]
    verdict = _get(m, "verdict", "headline")
    learned = _get(m, "verdict", "learned_past")
    formula = run.config.target.formula  # a formula, or a tuple of them: one per output
    shown = formula if isinstance(formula, str) else "; ".join(formula)
    title = f"lagnet run: {shown} with {run.config.model.kind}"
    plots = Path(run.path) / "plots" if run.path is not None else None
    if plots is not None and plots.is_dir():
        images = [plots / f"{k}.png" for k in KEY_PLOTS if (plots / f"{k}.png").is_file()]
        return card(
            title,
            rows,
            images,
            header=("", "test MSE", "test R²"),
            verdict=verdict,
            learned=learned,
        )
    with tempfile.TemporaryDirectory() as tmp:  # drawn from a copy of the run, then dropped
        copy.copy(run).save(Path(tmp) / "run")
        images = [(Path(tmp) / "run" / "plots" / f"{k}.png").read_bytes() for k in KEY_PLOTS]
    return card(
        title, rows, images, header=("", "test MSE", "test R²"), verdict=verdict, learned=learned
    )


def diagnosis_html(d) -> str:
    """A doctor result (:class:`lagnet.doctor.Diagnosis`) in a notebook: the verdict in words,
    the memory table, the findings, the doctor's plots when written."""
    doc = d.doc
    v = doc["verdict"]
    mem, mc = doc["memory"], doc.get("memory_capacity") or {}
    rows = [
        ("target's memory (largest lag)", mem.get("true")),
        ("needed, by the lag oracle", mem.get("needed")),
        ("model's effective memory", mem.get("effective")),
        ("memory capacity Σ MC_k", mc.get("total")),
        *((f"{f['severity']}: {f['message']}", None) for f in doc["findings"]),
    ]
    plots = Path(d.run_dir) / "plots"
    images = sorted(plots.glob("doctor_*.png")) if plots.is_dir() else []
    text = " ".join([*v.get("lines", []), v.get("try_") or ""]).strip()
    return card(
        f"lagnet doctor: {d.run_dir.name}",
        [(k, val) if val is not None else (k, "") for k, val in rows],
        images,
        verdict=text,
        learned=v.get("learned_past") if v.get("primary") in (None, "no_memory") else False,
    )
