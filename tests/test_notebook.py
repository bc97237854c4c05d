"""lagnet in Jupyter: a Run and a doctor result render as HTML (verdict, metrics against
baselines, plots as PNG data URIs), and the example notebook executes with nbclient."""

import json
import sys
from pathlib import Path

import pytest

import lagnet
from lagnet.notebook import card

ROOT = Path(__file__).resolve().parents[1]


def test_card_escapes_and_inlines_png():
    png = b"\x89PNG\r\n\x1a\n"
    out = card("<t>", [("a&b", 0.123456, None)], [png], header=("", "x", "y"), verdict="ok")
    assert "&lt;t&gt;" in out and "a&amp;b" in out and "0.1235" in out and "n/a" in out
    assert 'src="data:image/png;base64,iVBORw0KGgo=' in out


def test_saved_run_renders_as_html(tiny_run):
    run = lagnet.load(tiny_run)
    page = run._repr_html_()
    assert run.metrics["verdict"]["headline"].split()[0] in page
    assert "memoryless baseline" in page and "memory_r2" in page
    assert page.count("data:image/png;base64,") == 3


def test_a_run_of_several_outputs_is_titled_by_its_formulas_not_a_tuple(tiny_run):
    run = lagnet.load(tiny_run)
    target = run.config.target.model_copy(update={"formula": ("x[t]**2", "x[t-1]")})
    run.config = run.config.model_copy(update={"target": target})
    page = run._repr_html_()
    assert "x[t]**2; x[t-1] with gru" in page and "(&#x27;" not in page and "('" not in page


@pytest.mark.slow
def test_unsaved_run_draws_its_plots(tiny_run):
    run = lagnet.load(tiny_run)
    run.path = None
    assert run._repr_html_().count("data:image/png;base64,") == 3
    assert run.path is None


@pytest.mark.slow
def test_forum_notebook_executes(tmp_path, monkeypatch):
    """examples/forum.ipynb runs top to bottom in a kernel of this interpreter."""
    import nbclient
    import nbformat

    spec = tmp_path / "kernels" / "lagnet-test"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            dict(
                argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                display_name="lagnet test",
                language="python",
            )
        )
    )
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")
    # The kernel compiles as the suite does (tests/conftest.py): 11.6–13.2 s -> 8.6–11.8 s for this
    # test alone. (Not for every child process: where training is most of the time, as in the
    # sweeps' tests, unoptimised programs took twice as long.)
    monkeypatch.setenv("JAX_DISABLE_MOST_OPTIMIZATIONS", "1")
    nb = nbformat.read(ROOT / "examples" / "forum.ipynb", as_version=4)
    nbclient.NotebookClient(
        nb, kernel_name="lagnet-test", timeout=300, resources={"metadata": {"path": str(ROOT)}}
    ).execute()
    # training drew a live progress bar: a widget, one per run
    widgets = [
        o
        for o in nb.cells[1].outputs
        if "application/vnd.jupyter.widget-view+json" in o.get("data", {})
    ]
    assert len(widgets) == 2, nb.cells[1].outputs
    shown = nb.cells[2].outputs[0]["data"]["text/html"]
    assert "memoryless baseline" in shown and "data:image/png;base64," in shown
    printed = nb.cells[3].outputs[0]["text"]
    assert "w = 0.0" in printed and "memory_r2 = None" in printed and "w = 0.1" in printed
    # the showcase learns the lag term: its verdict is the green one, not a budget too small
    memory_r2 = float(printed.split("w = 0.1")[1].split("memory_r2 = ")[1].split()[0])
    assert memory_r2 > 0.9, printed
    assert "did not learn" not in shown, shown
