"""The HTML report of a run: run directory in, one self-contained ``report.html`` out.

Reads ``config.toml``, ``metrics.json`` and ``plots/*.png`` (drawn by :mod:`lagnet.plots`);
computes nothing. The page embeds its images as base64 data URIs and its CSS inline, so it
opens offline and can be mailed as one file. Every piece of text from the run is escaped.
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
import sys
from pathlib import Path
from typing import Any, Optional

import numpy as np

from lagnet.errors import LagnetError
from lagnet.files import write_text

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# (file stem in plots/, caption) in the order the report shows them.
PLOTS = (
    (
        "vs_input",
        "Truth and prediction against the current input (the first, when there are "
        "several). A target that depends on the past is a cloud around the memoryless "
        "curve; a model that learned the past reproduces the cloud instead of collapsing "
        "onto the curve.",
    ),
    (
        "pred_vs_truth",
        "Prediction against truth on valid test steps; points on the dashed diagonal are exact.",
    ),
    (
        "per_step_mse",
        "Test MSE at each time step, beside the memoryless baseline. Early steps "
        "show warm-up error; a rise at late steps shows drift.",
    ),
    (
        "learning_curve",
        "Training loss and validation MSE (log scale) and validation R² against training step.",
    ),
    (
        "sample_paths",
        "A few test paths: the input (grey, right axis; several inputs each in its own "
        "colour), the truth and the model's prediction. Shaded steps have no defined target.",
    ),
)

MEMORY_R2_TEXT = (
    "R² on the whole target can hide a lag term that carries 1% of the variance: a model that "
    "ignores the past entirely still scores R² = 0.99. memory_r2 = 1 − MSE_model / "
    "MSE_memoryless is the share of the past-dependent error the model removed: 0 means it "
    "did no better than the best function of the current input alone, 1 means it captured "
    "everything the past adds."
)

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 980px;
       margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; }
h1 code, td code { font-size: 0.95em; }
.sub { color: #666; margin-top: 0; }
.verdict { border-left: 6px solid; padding: 0.8em 1.2em; margin: 1.2em 0; border-radius: 4px; }
.verdict p { font-size: 1.25em; font-weight: 600; margin: 0 0 0.3em 0; }
.verdict ul { margin: 0.3em 0 0 0; }
.good { background: #e8f5e9; border-color: #2e7d32; }
.bad { background: #ffebee; border-color: #c62828; }
.neutral { background: #f3f3f3; border-color: #888; }
table { border-collapse: collapse; margin: 0.6em 0 1.2em 0; }
th, td { border-bottom: 1px solid #ddd; padding: 0.3em 0.9em; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #fafafa; }
figure { margin: 1.2em 0; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.92em; }
.note { color: #a15c00; }
pre { background: #f6f8fa; padding: 1em; overflow-x: auto; border-radius: 4px; }
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _fmt(value: Any, na: str = "n/a") -> str:
    """A number for a table cell: 4 significant digits; None -> ``na``."""
    if value is None:
        return na
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if 0.9 <= value < 1:  # R²-like values: 4 significant digits would round 0.99997 to 1
            return f"{value:.5f}"
        return f"{value:.4g}"
    return str(value)


def _get(d: Optional[dict], *keys: str) -> Any:
    """d[k0][k1]…, or None where any level is missing."""
    for k in keys:
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d


def _rows(rows: list[tuple[str, Any]]) -> str:
    return "\n".join(f"<tr><th>{_e(k)}</th><td class='num'>{_e(v)}</td></tr>" for k, v in rows)


def _verdict(metrics: dict) -> str:
    verdict = metrics.get("verdict") or {}
    learned = verdict.get("learned_past")
    cls = {True: "good", False: "bad"}.get(learned, "neutral")
    headline = verdict.get("headline") or "No verdict was recorded for this run."
    details = "".join(f"<li>{_e(d)}</li>" for d in verdict.get("details") or [])
    return (
        f"<div class='verdict {cls}'><p>{_e(headline)}</p>"
        + (f"<ul>{details}</ul>" if details else "")
        + "</div>"
    )


def held_out_words(metrics: dict) -> Optional[str]:
    """Where the test windows of observed data came from, in words (the CLI table's title
    says it too); None for a simulation, whose test paths are always fresh."""
    d = metrics.get("data")
    if not d:
        return None
    if d.get("in_sample"):
        return f"in-sample fit, not a test: every window of {d['path']} trained and tested"
    parts = d.get("parts") or {}
    test = parts.get("test", {})
    if d.get("test_path"):
        return f"held out: {test.get('windows')} windows of a second file, {d['test_path']}"
    shares = "/".join(f"{100 * f:g}" for f in d.get("shares") or [])
    if d.get("split") == "path":
        return (
            f"held out: {test.get('paths')} of the paths of {d['path']} (split by path, {shares}%)"
        )
    return (
        f"held out: the last stretch of every series of {d['path']} (split by time, "
        f"{shares}%, {d.get('gap')} steps apart)"
    )


def _metrics_tables(metrics: dict) -> str:
    g = lambda *k: _get(metrics, *k)  # noqa: E731
    data = held_out_words(metrics)
    windows = [_get(g("data", "parts"), p, "windows") for p in ("train", "val", "test")]
    lags = g("baselines", "linear_lags", "lags")
    lin_name = f"linear on the last {lags} steps" if lags is not None else "linear on past steps"
    compared = [
        (f"model ({g('model', 'kind') or '?'})", g("test", "mse"), g("test", "r2")),
        (
            "memoryless baseline",
            g("baselines", "memoryless", "mse"),
            g("baselines", "memoryless", "r2"),
        ),
        (lin_name, g("baselines", "linear_lags", "mse"), g("baselines", "linear_lags", "r2")),
    ]
    if g("baselines", "optimal"):  # the best possible prediction, on the same test paths
        particles = g("baselines", "optimal", "particles")
        name = g("baselines", "optimal", "name") + (f", {particles} particles" if particles else "")
        compared.append(
            (f"optimal: {name}", g("baselines", "optimal", "mse"), g("baselines", "optimal", "r2"))
        )
    comparison = "\n".join(
        f"<tr><th>{_e(name)}</th><td class='num'>{_e(_fmt(mse))}</td>"
        f"<td class='num'>{_e(_fmt(r2))}</td></tr>"
        for name, mse, r2 in compared
    )
    memory_r2 = g("test", "memory_r2")
    memory_cell = "n/a — the target needs no memory" if memory_r2 is None else _fmt(memory_r2)
    horizon = g("long_horizon", "length")
    test_rows = [
        ("memory_r2", memory_cell),
        *(
            [("share of the reachable error removed", _fmt(g("test", "reachable_share")))]
            if g("baselines", "optimal")
            else []
        ),
        ("R²", _fmt(g("test", "r2"))),
        ("NRMSE", _fmt(g("test", "nrmse"))),
        ("RMSE", _fmt(g("test", "rmse"))),
        ("test set", f"{_fmt(g('test', 'paths'))} paths × {_fmt(g('test', 'length'))} steps"),
        *([("test data", data)] if data else []),
        *(
            [("usable windows (train / validation / test)", " / ".join(map(_fmt, windows)))]
            if windows[0] is not None
            else []
        ),
        (f"long-horizon MSE ({_fmt(horizon)} steps)", _fmt(g("long_horizon", "mse"))),
        ("long-horizon R²", _fmt(g("long_horizon", "r2"))),
        ("long-horizon / test MSE ratio", _fmt(g("long_horizon", "ratio"))),
        ("target variance", _fmt(g("target", "variance"))),
        ("memory share of target variance", _fmt(g("target", "memory_share"))),
        ("model parameters", _fmt(g("model", "parameters"))),
        (
            "receptive field (steps)",
            _fmt(g("model", "receptive_field"))
            if g("model", "receptive_field")
            else "unbounded (recurrent)",
        ),
    ]
    train_rows = [
        ("steps", _fmt(g("train", "steps"))),
        ("seconds", _fmt(g("train", "seconds"))),
        ("sequences seen", _fmt(g("train", "sequences"))),
        ("stopped because", _fmt(g("train", "stopped"))),
        ("ms per step", _fmt(g("train", "ms_per_step"))),
        ("best step", _fmt(g("train", "best_step"))),
    ]
    if g("train", "formula"):  # a NARX's fitted polynomial
        train_rows.append(("recovered formula", g("train", "formula")))
    for k, v in (g("train", "chosen") or {}).items():  # chosen on the validation set
        train_rows.append((f"chosen model.{k}", _fmt(v)))
    for c in g("train", "candidates") or []:  # what ``auto`` tried
        result = (
            f"val MSE {_fmt(c.get('val_mse'))}"
            if c.get("val_mse") is not None
            else c.get("note", "")
        )
        train_rows.append(
            (
                f"auto candidate {c.get('kind')}",
                f"{result}, {_fmt(c.get('seconds'))} s" + (" — kept" if c.get("kept") else ""),
            )
        )
    outputs = g("outputs") or []
    averaged = (
        f"<p>The target has {len(outputs)} outputs: the numbers above average them "
        "(mean MSE, mean R², memory_r2 averaged over the outputs that need memory); "
        "each output's are below. The prediction plot draws every output; the other "
        "per-path plots draw the first.</p>\n"
        if outputs
        else ""
    )
    return (
        f"<h2>Metrics{' — in-sample fit, not a test' if g('data', 'in_sample') else ''}</h2>\n"
        "<table><tr><th></th><th>test MSE</th><th>test R²</th></tr>\n"
        f"{comparison}</table>\n"
        f"{averaged}{_outputs_table(outputs)}"
        f"<p>{_e(MEMORY_R2_TEXT)}</p>\n"
        f"<table>{_rows(test_rows)}</table>\n"
        f"<h2>Training</h2>\n<table>{_rows(train_rows)}</table>\n"
    )


def _outputs_table(outputs: list) -> str:
    """One row per output of a several-output target; empty for one output."""
    if not outputs:
        return ""
    head = (
        "output",
        "formula",
        "test MSE",
        "test R²",
        "memory_r2",
        "memoryless R²",
        "linear R²",
        "long-horizon R²",
    )
    rows = []
    for i, out in enumerate(outputs):
        cells = (
            _fmt(out.get("mse")),
            _fmt(out.get("r2")),
            _fmt(out.get("memory_r2"), na="n/a — no memory needed"),
            _fmt(_get(out, "memoryless", "r2")),
            _fmt(_get(out, "linear_lags", "r2")),
            _fmt(_get(out, "long_horizon", "r2")),
        )
        rows.append(
            f"<tr><th>{i + 1}</th><td><code>{_e(out.get('formula', '?'))}</code></td>"
            + "".join(f"<td class='num'>{_e(c)}</td>" for c in cells)
            + "</tr>"
        )
    return (
        "<table><tr>"
        + "".join(f"<th>{_e(h)}</th>" for h in head)
        + "</tr>\n"
        + "\n".join(rows)
        + "</table>\n"
    )


def _plots(plot_dir: Path) -> str:
    parts = ["<h2>Plots</h2>"]
    for name, caption in PLOTS:
        path = plot_dir / f"{name}.png"
        if not path.is_file():
            parts.append(
                f"<p class='note'>Plot plots/{_e(path.name)} was not found; "
                "<code>lagnet.plots.save_plots(run_dir)</code> draws it.</p>"
            )
            continue
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        parts.append(
            f'<figure><img src="data:image/png;base64,{data}" alt="{_e(name)}">'
            f"<figcaption>{_e(caption)}</figcaption></figure>"
        )
    return "\n".join(parts)


def _summary(config: dict, name: str, run_dir: Path) -> str:
    """The line under the title: the model's inputs (the config's, else those saved with the
    predictions), the process, and the run's name unless it is the default, ``run``."""
    inputs, parts = _get(config, "target", "inputs"), []
    if isinstance(inputs, str):  # hand-written as --inputs takes it: "x, z"
        inputs = inputs.split(",")
    if not isinstance(inputs, list) and (run_dir / "predictions.npz").is_file():
        try:  # unreadable: the plots say so, and this line leaves the inputs out
            with np.load(run_dir / "predictions.npz", allow_pickle=False) as npz:
                inputs = list(npz["input_names"]) if "input_names" in npz.files else None
        except (OSError, ValueError, TypeError):
            inputs = None
    if isinstance(inputs, list) and inputs:
        codes = ", ".join(f"<code>{_e(str(n).strip())}</code>" for n in inputs)
        parts.append(f"{f'{len(inputs)} inputs' if len(inputs) > 1 else 'input'} {codes}")
    process = config.get("process")
    if isinstance(process, dict) and "kind" in process:  # kind(setting=value, …), cut short
        kw = [f"{k}={json.dumps(v, default=str)}" for k, v in process.items() if k != "kind"]
        text = f"{process['kind']}({', '.join(kw)})"
        parts.append(f"process <code>{_e(text if len(text) <= 160 else text[:159] + '…')}</code>")
    if name != "run":
        parts.append(f"run {_e(name)}")
    return f'<p class="sub">{" · ".join(parts)}</p>' if parts else ""


def _doctor(run_dir: Path) -> str:
    """The Doctor section, when ``lagnet doctor`` has left a doctor.json (else nothing)."""
    if not (run_dir / "doctor.json").is_file():
        return ""
    from lagnet.doctor.html import doctor_section

    return doctor_section(run_dir)


def write_report(run_dir: str | os.PathLike) -> Path:
    """Write ``run_dir/report.html`` from the run's config, metrics and plots; return its path.

    ``metrics.json`` is required; a missing ``config.toml`` or plot is noted on the page.
    """
    run_dir = Path(run_dir)
    metrics_path = run_dir / "metrics.json"
    if not metrics_path.is_file():
        raise LagnetError("run_dir", str(run_dir), "has no metrics.json")
    metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
    config_path = run_dir / "config.toml"
    config_text = config_path.read_text(encoding="utf-8") if config_path.is_file() else None
    try:
        config = tomllib.loads(config_text) if config_text is not None else {}
    except tomllib.TOMLDecodeError:
        config = {}  # shown verbatim below all the same
    name = str(config.get("name") or run_dir.name)
    formula = _get(metrics, "target", "formula") or _get(config, "target", "formula") or "?"
    if isinstance(formula, list):  # several outputs
        formula = "; ".join(str(f) for f in formula)

    config_html = (
        f"<pre>{_e(config_text)}</pre>"
        if config_text is not None
        else "<p class='note'>config.toml is missing.</p>"
    )
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>lagnet — {_e(f"{name}: " if name != "run" else "")}{_e(formula)}</title>
<style>{CSS}</style>
</head>
<body>
<h1>Learning <code>{_e(formula)}</code></h1>
{_summary(config, name, run_dir)}
{_verdict(metrics)}
{_metrics_tables(metrics)}
{_plots(run_dir / "plots")}
{_doctor(run_dir)}
<h2>Configuration</h2>
{config_html}
</body>
</html>
"""
    # Written then renamed: a reader never sees a half-written report.
    return write_text(run_dir / "report.html", page)
