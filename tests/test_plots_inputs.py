"""A run's several inputs in its figures and report, from synthetic arrays (no training)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lagnet import plots
from lagnet.plots import plot_sample_paths, plot_vs_input, save_plots
from lagnet.plots_inputs import MAX_DRAWN_INPUTS
from lagnet.report import write_report

N, L = 6, 12  # sample paths, time steps


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def _twins(fig):
    """The right-hand axes of a sample-paths figure (the inputs' axes)."""
    return [ax for ax in fig.axes if ax.get_ylabel() != "target y"]


def _arrays(rng, channels: int):
    x = rng.standard_normal((N, L, channels))
    y = x[..., :1] * x[..., -1:]
    return x, y, y + 0.1, np.arange(L) >= 1


# ----------------------------------------------------------------------------- sample paths
def test_sample_paths_draws_a_line_per_input(rng):
    x, y, y_hat, valid = _arrays(rng, 2)
    fig = plot_sample_paths(x, y, y_hat, valid, n=2, input_names=["x", "z"])
    twins = _twins(fig)
    assert len(twins) == 2
    for twin in twins:
        assert [line.get_label() for line in twin.lines] == ["input x", "input z"]
        assert len({str(line.get_color()) for line in twin.lines}) == 2  # a colour each
    np.testing.assert_allclose(twins[0].lines[1].get_ydata(), x[0, :, 1])
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "input x" in legend and "input z" in legend
    assert fig.get_suptitle() == "Sample test paths"  # every input drawn: nothing to disclose


def test_sample_paths_names_the_inputs_not_drawn(rng):
    names = ["a", "b", "c", "d", "e", "f"]
    x, y, y_hat, valid = _arrays(rng, len(names))
    fig = plot_sample_paths(x, y, y_hat, valid, n=1, input_names=names, note="output 1 of 2: a")
    labels = [line.get_label() for line in _twins(fig)[0].lines]
    assert labels == [f"input {n}" for n in names[:MAX_DRAWN_INPUTS]]
    title = fig.get_suptitle()
    assert title.splitlines()[1] == "output 1 of 2: a"
    assert "the first 4 of 6 inputs drawn; not drawn: e, f" in title


def test_sample_paths_without_names_numbers_the_channels(rng):
    x, y, y_hat, valid = _arrays(rng, 2)
    fig = plot_sample_paths(x, y, y_hat, valid, n=1)
    assert [line.get_label() for line in _twins(fig)[0].lines] == ["input x0", "input x1"]


@pytest.mark.parametrize("names", [None, ["u"]])
def test_one_input_sample_paths_are_unchanged(rng, names):
    x, y, y_hat, valid = _arrays(rng, 1)
    fig = plot_sample_paths(x, y, y_hat, valid, n=2, input_name="u", input_names=names)
    for twin in _twins(fig):
        assert [line.get_label() for line in twin.lines] == ["input u"]
        assert twin.get_ylabel() == "input u"
        assert twin.lines[0].get_color() == "0.55"
    assert fig.get_suptitle() == "Sample test paths"
    assert fig.get_size_inches().tolist() == [8.0, 1.2 + 2.2 * 2]


# ----------------------------------------------------------------------------- vs input
def test_vs_input_title_names_every_input(rng):
    x, y, y_hat, valid = _arrays(rng, 2)
    fig = plot_vs_input(x[..., 0], y[..., 0], y_hat[..., 0], input_names=["x", "z"], note="n")
    title = fig.axes[0].get_title()
    assert title.splitlines() == [
        "Target and prediction against x[t]",
        "x[t] is the first of 2 inputs (x, z)",
        "n",
    ]
    assert fig.axes[0].get_xlabel() == "current input x[t]"


@pytest.mark.parametrize("kw", [{"input_name": "u"}, {"input_names": ["u"]}])
def test_one_input_vs_input_is_unchanged(rng, kw):
    x, y, y_hat, valid = _arrays(rng, 1)
    ax = plot_vs_input(x[..., 0], y[..., 0], y_hat[..., 0], **kw).axes[0]
    assert ax.get_title() == "Target and prediction against u[t]"
    assert ax.get_xlabel() == "current input u[t]"


# ----------------------------------------------------------------------------- run directory
def _run(path, rng, names=("x", "z"), config=None):
    """A run directory of a several-input target, with no plots drawn yet."""
    path.mkdir(parents=True)
    x, y, y_hat, valid = _arrays(rng, len(names))
    np.savez(
        path / "predictions.npz",
        x=x,
        y=y,
        y_hat=y_hat,
        valid=valid,
        input_names=np.array(list(names)),
    )
    metrics = {"target": {"formula": "x[t]*z[t-1]"}, "test": {"r2": 0.5}, "per_step_mse": []}
    (path / "metrics.json").write_text(json.dumps(metrics))
    if config is not None:
        (path / "config.toml").write_text(config)
    return path


def test_save_plots_passes_every_input_name(tmp_path, rng, monkeypatch):
    drawn = {}
    monkeypatch.setattr(plots, "write_figures", lambda figures, *a, **k: drawn.update(figures))
    save_plots(_run(tmp_path / "run", rng))
    twin = _twins(drawn["sample_paths"])[0]
    assert [line.get_label() for line in twin.lines] == ["input x", "input z"]
    assert "first of 2 inputs (x, z)" in drawn["vs_input"].axes[0].get_title()


DEFAULT_NAMED = """name = "run"

[process]
kind = "var"
names = ["x", "z"]

[target]
formula = "x[t]*z[t-1]"
"""


def test_report_lists_the_inputs_and_not_run_run(tmp_path, rng):
    # inputs left to the default: the report reads them from the predictions
    page = write_report(_run(tmp_path / "run", rng, config=DEFAULT_NAMED)).read_text("utf-8")
    assert "2 inputs <code>x</code>, <code>z</code>" in page
    assert "process <code>var(names=[&quot;x&quot;, &quot;z&quot;])</code>" in page
    assert "run run" not in page
    assert "<title>lagnet — x[t]*z[t-1]</title>" in page


def test_report_names_a_named_run_and_its_configured_inputs(tmp_path, rng):
    config = DEFAULT_NAMED.replace('"run"', '"forum"') + 'inputs = ["z", "x"]\n'
    page = write_report(_run(tmp_path / "forum", rng, config=config)).read_text("utf-8")
    assert "2 inputs <code>z</code>, <code>x</code>" in page
    assert " · run forum</p>" in page
    assert "run run" not in page


def test_report_of_one_input_says_input(tmp_path, rng):
    page = write_report(_run(tmp_path / "run", rng, names=("x",))).read_text("utf-8")
    assert '<p class="sub">input <code>x</code></p>' in page  # no config: no process line


def test_report_reads_inputs_written_as_one_string(tmp_path, rng):
    config = DEFAULT_NAMED + 'inputs = "x, z"\n'
    page = write_report(_run(tmp_path / "run", rng, config=config)).read_text("utf-8")
    assert "2 inputs <code>x</code>, <code>z</code>" in page
