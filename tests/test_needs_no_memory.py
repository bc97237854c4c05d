"""A target that reads only current values of the model's inputs needs no memory, however
poorly the memoryless baseline fits it. a[t]*b[t]*c[t] of three inputs read "The model
learned the past: it removed 99.97% of the error that needs memory" (the baseline sees each
input alone and in pairs, so it books the three-way product as memory), and the doctor added
"the target needs 0 steps of memory" beside it."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from conftest import TINY_FLAGS
from lagnet.cli import app
from lagnet.config import load_config
from lagnet.doctor.checks_target import no_memory
from lagnet.doctor.findings import Facts
from lagnet.targets import compile_target
from lagnet.tasks import build_task

SERIES = ("a", "b", "c")


@pytest.mark.parametrize(
    "formula, inputs, now",
    [
        ("a[t]*b[t]*c[t]", SERIES, (True,)),
        ("a[t]*b[t]*c[t]", ("a", "b"), (False,)),  # c is not seen: its value must be inferred
        ("a[t] + b[t-1]", SERIES, (False,)),
        ("y[t] = 0.5*y[t-1] + a[t]", SERIES, (False,)),
        ("mean(a, 3)", SERIES, (False,)),
        ("mean(a, 1)", SERIES, (True,)),  # a window of one step is a[t]
        ("ewm(a, 0.5)", SERIES, (False,)),
        (["a[t]**2", "a[t-1]"], SERIES, (True, False)),
    ],
)
def test_which_outputs_read_only_the_current_inputs(formula, inputs, now):
    assert compile_target(formula, SERIES).reads_only_now(inputs) == now


@pytest.mark.slow
def test_a_product_of_three_current_inputs_needs_no_memory(tmp_path):
    out = tmp_path / "run"
    res = CliRunner().invoke(
        app,
        ["train", "--process", 'var(A=[[0.5,0,0],[0,0.3,0],[0,0,0.2]], names=["a","b","c"])',
         "--target", "a[t]*b[t]*c[t]", "--inputs", "a,b,c", "--out", str(out), *TINY_FLAGS],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    m = json.loads((out / "metrics.json").read_text())
    assert m["test"]["memory_r2"] is None and m["target"]["reads_past"] is False
    assert m["verdict"]["learned_past"] is None
    assert m["verdict"]["headline"].startswith(
        "The target needs no memory: it reads only the current values of the model's inputs"
    )
    assert "learned the past" not in res.output and "memory_r2 = n/a" in res.output
    cfg = load_config(out / "config.toml")
    target = build_task(cfg).target
    facts = Facts(cfg, target, m, {}, [], None, 1, 1, None, None, {}, 1.0, 0.0, 0.5)
    found = no_memory(facts)
    assert found is not None and "it reads only the model's current inputs" in found.message
    assert "alone explains it" not in found.message  # the baseline's R² is below 0.9


@pytest.mark.slow
def test_an_output_that_needs_no_memory_is_not_counted_as_memory(tmp_path):
    """Beside a[t-1], the product a[t]*b[t]*c[t] made 'the part of the target that depends on
    the past carries 98.81% of its variance', and memory_r2 was said to average both."""
    out = tmp_path / "run"
    res = CliRunner().invoke(
        app,
        ["train", "--process", 'var(A=[[0.5,0,0],[0,0.3,0],[0,0,0.2]], names=["a","b","c"])',
         "--target", "a[t]*b[t]*c[t]", "--target", "a[t-1]", "--inputs", "a,b,c",
         "--out", str(out), *TINY_FLAGS],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    m = json.loads((out / "metrics.json").read_text())
    first, second = m["outputs"]
    assert first["memory_r2"] is None and first["reads_past"] is False
    assert first["memory_share"] == 0.0 and second["reads_past"] is True
    assert m["target"]["memory_share"] == pytest.approx(second["memory_share"] / 2)
    assert m["test"]["memory_r2"] == pytest.approx(second["memory_r2"])
    assert "memory_r2 over the 1 that need memory" in m["verdict"]["headline"]
    assert "memory_r2 over 1)" in res.output
