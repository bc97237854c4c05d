"""The Doctor section of ``report.html``, made from ``doctor.json`` and the doctor's plots.

Computes nothing and escapes every piece of text from the run; images are embedded as data
URIs like the rest of the report. :func:`lagnet.report.write_report` adds the section when a
run directory has a ``doctor.json``.

Example::

    >>> doctor_section(Path("runs/forum"))[:40]
    "<h2 id='doctor'>Doctor</h2>\\n<div class='v"
"""

from __future__ import annotations

import base64
import html
import json
import math
from pathlib import Path
from typing import Any

CAPTIONS = {
    "oracle": "The lag oracle: the best test MSE reachable from the last k inputs (a flexible "
    "regression on a large fresh sample), against the model's MSE on the same rows. "
    "The model's effective memory is the smallest k at which the oracle does as "
    "well as the model.",
    "probe": "Memory probe: held-out R² of a ridge read-out of x[t−k] from the model's frozen "
    "hidden state at t. What the state has forgotten, no head can use.",
    "gradients": "Gradient flow through time: ‖∂y_t/∂x_(t−k)‖ against k at initialisation and "
    "after training. A straight fall on this log axis is a vanishing gradient; "
    "exactly 0 means the receptive field ends.",
    "long_horizon": "MSE per step (the median of each block of steps) on paths many times the "
    "training length: warm-up at the start, drift or instability after the "
    "training length.",
}


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _num(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, (bool, int)):
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else str(value)
    return str(value)


def _image(path: Path, name: str) -> str:
    if not path.is_file():
        return (
            f"<p class='note'>Plot plots/{_e(path.name)} was not found; "
            "<code>lagnet doctor</code> draws it.</p>"
        )
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (
        f'<figure><img src="data:image/png;base64,{data}" alt="doctor {_e(name)}">'
        f"<figcaption>{_e(CAPTIONS[name])}</figcaption></figure>"
    )


def target_note(fix: dict) -> str | None:
    """What a before/after comparison is on, when the fix trained on another target than
    the run's (a remedy for targets that differ): None when both trained on the same."""
    targets = fix.get("targets")
    if not targets or targets["before"] == targets["run"]:
        return None
    if targets["before"] is not None:
        return (
            f"The fix trained on {targets['fix']}, the run on {targets['run']}: before is the "
            f"run evaluated on {targets['fix']} (lagnet eval --target)."
        )
    return (
        f"The fix trained on {targets['fix']}, the run on {targets['run']}: the run was never "
        f"evaluated on {targets['fix']}, so there is no before to compare (lagnet eval RUN "
        "--target gives one)."
    )


def _fix_table(fix: dict) -> str:
    rows = [
        ("test MSE", "mse"),
        ("test R²", "r2"),
        ("memory_r2", "memory_r2"),
        ("long-horizon / test MSE", "long_ratio"),
        ("effective memory", "effective_memory"),
    ]
    body = "\n".join(
        f"<tr><th>{_e(label)}</th><td class='num'>{_e(_num(fix['before'][k]))}</td>"
        f"<td class='num'>{_e(_num(fix['after'][k]))}</td></tr>"
        for label, k in rows
    )
    changes = ", ".join(f"{k} = {json.dumps(v)}" for k, v in fix["overrides"].items())
    note = target_note(fix)
    return (
        f"<h3>After --fix</h3>\n<p>Trained again with {_e(changes)} into "
        f"<code>{_e(fix['dir'])}</code>.{' ' + _e(note) if note else ''}</p>\n"
        f"<table><tr><th></th><th>before</th><th>after</th></tr>\n{body}</table>"
    )


def doctor_section(run_dir: Path) -> str:
    """The section's HTML; empty when the run has no doctor.json."""
    path = Path(run_dir) / "doctor.json"
    if not path.is_file():
        return ""
    doc = json.loads(path.read_text(encoding="utf-8"))
    v = doc["verdict"]
    cls = {True: "good", False: "bad"}.get(v.get("learned_past"), "neutral")
    if v.get("primary") not in (None, "no_memory"):
        cls = "bad"
    items = "".join(f"<li>{_e(line)}</li>" for line in [*v["lines"], *v["also"]])
    tries = f"<p class='try'>{_e(v['try_'])}</p>" if v.get("try_") else ""
    findings = "\n".join(
        f"<tr><td>{_e(f['severity'])}</td><td>{_e(f['message'])}"
        f"</td><td>{_e('; '.join(r['text'] for r in f['remedies']) or '—')}</td></tr>"
        for f in doc["findings"]
    )
    m = doc["memory"]
    memory_rows = [
        ("target's memory (largest lag)", m["true"]),
        ("needed, by the lag oracle", m["needed"]),
        ("model's effective memory", m["effective"]),
        ("model's receptive field", m["receptive_field"] or "unbounded"),
    ]
    mc = doc.get("memory_capacity")
    if mc:  # Jaeger's memory capacity of the model's state
        memory_rows.append(capacity_row(mc))
    lh = doc["long_horizon"]
    memory_rows += [
        (f"long horizon ({_num(lh.get('length'))} steps)", lh.get("state")),
        ("warm-up steps", lh.get("warmup_steps")),
        ("MSE after / inside the training length", lh.get("drift_ratio")),
    ]
    memory = "\n".join(
        f"<tr><th>{_e(k)}</th><td class='num'>{_e(_num(val))}</td></tr>" for k, val in memory_rows
    )
    g = doc["gradients"]
    flow = "\n".join(
        f"<tr><th>{_e(when)}</th><td class='num'>{_e(_num(s['slope']))}</td>"
        f"<td class='num'>{_e(_num(s['decades']))}</td><td>{_e(s['state'])}</td></tr>"
        for when, s in (
            ("at initialisation", g["summary_init"]),
            ("after training", g["summary_trained"]),
        )
        if s
    )
    plots = Path(run_dir) / "plots"
    probe = (
        _image(plots / "doctor_probe.png", "probe")
        if doc["probe"]["r2"] is not None
        else f"<p class='note'>Memory probe skipped: {_e(doc['probe']['skipped'])}.</p>"
    )
    return f"""<h2 id='doctor'>Doctor</h2>
<div class='verdict {cls}'><p>{_e(v["cause"])}</p><ul>{items}</ul>{tries}</div>
<table><tr><th>finding</th><th>what</th><th>what to change</th></tr>
{findings}</table>
<table>{memory}</table>
<table><tr><th>gradient flow</th><th>decades / step</th><th>decades over the memory</th>
<th>state</th></tr>
{flow}</table>
{_fix_table(doc["fix"]) if doc.get("fix") else ""}
{_image(plots / "doctor_oracle.png", "oracle")}
{probe}
{_image(plots / "doctor_gradients.png", "gradients")}
{_image(plots / "doctor_long_horizon.png", "long_horizon")}
"""


def capacity_row(mc: dict) -> tuple[str, str]:
    """The doctor's row for :func:`lagnet.capacity.memory_capacity` ``mc``: what it is, and
    its total against the most it could be — the lags scored (MC_k ≤ 1 each) where they are
    fewer than the state's width, else the width (a Transformer that sees 255 inputs scored
    on lags 0…200 holds 201.00 of the 201 lags scored, not 201.00 of 255).

    >>> capacity_row(dict(total=201.0, lags=200, state="the 255 inputs it sees", width=255))
    ('memory capacity Σ MC_k, k = 0…200 (the 255 inputs it sees)', '201.00 of the 201 lags scored')
    """
    what = f"memory capacity Σ MC_k, k = 0…{mc['lags']} ({mc['state']})"
    scored = mc["lags"] + 1
    if scored < mc["width"]:
        return what, f"{mc['total']:.2f} of the {scored} lags scored"
    return what, f"{mc['total']:.2f} of {mc['width']} (its state's width)"
