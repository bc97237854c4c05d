"""Error lines whose advice must work: the long-horizon test's (a factor below 2 is no
long test), an empty column list's, and eval's (it names its own option)."""

import numpy as np
import pytest
from typer.testing import CliRunner

from lagnet.cli import app
from lagnet.config import merge
from lagnet.errors import LagnetError
from lagnet.tasks import build_task

runner = CliRunner()


@pytest.fixture
def short_file(tmp_path):
    path = tmp_path / "paths.csv"
    rows = np.random.default_rng(0).normal(size=(200, 2))
    path.write_text("x,e\n" + "\n".join(f"{a},{b}" for a, b in rows) + "\n")
    return path


def test_the_long_test_advice_names_what_can_be_lowered(short_file):
    """With 200 steps and a length of 101 even a factor of 2 needs 202 steps: the advice to
    lower eval.long_factor (its least is 2) could not work."""
    process = f'data(path="{short_file}", columns=["x"])'
    values = {"process": process, "target.formula": "x[t-1]", "train.length": 101}
    with pytest.raises(LagnetError) as e:
        build_task(merge(values=values)[0])
    assert e.value.field == "eval.long_factor"
    assert e.value.reason.endswith("at most 20 (at most 100 with eval.long_factor = 2, its least)")
    with pytest.raises(LagnetError) as e:  # here a lower factor would do
        build_task(merge(values={**values, "train.length": 50})[0])
    assert e.value.reason.endswith("lower eval.long_factor or train.length")


def test_an_empty_column_list_is_named(short_file):
    """It read 'process.path: paths.csv — no numeric series in the file', of a file with two."""
    process = f'data(path="{short_file}", columns=[])'
    with pytest.raises(LagnetError) as e:
        build_task(merge(values={"process": process, "target.formula": "x[t]"})[0])
    assert e.value.field == "process.columns" and e.value.value == []


def test_eval_names_its_own_option_for_the_runs_length(tiny_run):
    """A formula reaching further back than the run's paths: eval said 'train.length: 15',
    a setting eval has no option for; it has --length."""
    res = runner.invoke(app, ["eval", str(tiny_run), "--target", "x[t-200]"])
    assert res.exit_code == 2, res.output
    line = res.output.strip()
    assert line.startswith("error: length: 15") and "give another" in line, line
