"""A sweep that varies the target or the process holds several problems: its best is chosen
per problem (memory_r2 at w = 0.1 and at w = 0.5 measure different things), in the summary,
the printout and from Python."""

import pytest

import lagnet
from lagnet.sweeps import executors
from lagnet.sweeps.outputs import problem_fields, summary
from lagnet.sweeps.result import SweepResult, best_line
from lagnet.sweeps.spec import load
from test_sweep import tiny_spec

FIELDS = ["target.params.w", "model.hidden"]


def _row(w, hidden, value, seed=0):
    return {
        "id": f"w{w}-h{hidden}-s{seed}",
        "values": {"target.params.w": w, "model.hidden": hidden},
        "seed": seed,
        "status": "complete",
        "test.memory_r2": value,
        "test.mse": 1 - value,
        "test.r2": value,
    }


ROWS = [_row(0.1, 8, 0.99), _row(0.1, 16, 0.97), _row(0.5, 8, 0.40), _row(0.5, 16, 0.80)]


def test_the_target_and_process_fields_are_the_problems():
    assert problem_fields(["target.params.w", "process.ar", "model.hidden", "train.lr"]) == [
        "target.params.w",
        "process.ar",
    ]
    assert problem_fields(["process", "model.hidden"]) == ["process"]  # a grid of specs


def test_the_summary_marks_the_best_of_each_problem():
    """One best over the sweep picked w = 0.1's hidden 8 (0.99) and left w = 0.5's best
    (hidden 16, 0.80) unmarked."""
    text = summary(ROWS, FIELDS, "test.memory_r2", True)
    bold = [line for line in text.splitlines() if "**" in line]
    assert len(bold) == 2 and "per target.params.w" in text
    assert bold[0].startswith("| 0.1 | 8 |") and bold[1].startswith("| 0.5 | 16 |")


def test_the_result_and_its_lines_give_a_best_per_problem():
    spec = load(tiny_spec(metric="test.memory_r2", grid={"target.params.w": [0.1, 0.5]}))[0]
    result = SweepResult(out=None, rows=ROWS, spec=spec, fields=FIELDS)
    per = result.best_per_problem
    assert [r["id"] for r in per] == ["w0.1-h8-s0", "w0.5-h16-s0"]
    assert result.best["id"] == "w0.1-h8-s0"  # over the whole sweep, as before
    assert best_line(result, per[1]) == (
        "best test.memory_r2 for target.params.w=0.5 = 0.8: model.hidden=16, seed 0"
    )
    alone = SweepResult(out=None, rows=ROWS, spec=spec, fields=["model.hidden"])
    assert [r["id"] for r in alone.best_per_problem] == ["w0.1-h8-s0"]
    assert "for" not in best_line(alone, alone.best)


def test_a_problem_whose_metric_is_undefined_is_named_not_skipped():
    """w = 0 needs no memory: memory_r2 is null on each of its runs, and the printout named
    a best for w = 0.5 only, saying nothing of w = 0."""
    spec = load(tiny_spec(metric="test.memory_r2", grid={"target.params.w": [0, 0.5]}))[0]
    rows = [_row(0, 8, 0.5), _row(0.5, 8, 0.4)]
    rows[0]["test.memory_r2"] = None
    for r in rows:
        del r["values"]["model.hidden"]
    result = SweepResult(out=None, rows=rows, spec=spec, fields=["target.params.w"])
    assert [r["id"] for r in result.best_per_problem] == ["w0.5-h8-s0"]
    assert result.undefined_problems == ["target.params.w=0"]
    assert best_line(result, result.best_per_problem[0]).endswith("the base settings, seed 0")


@pytest.mark.slow
def test_a_sweep_stopped_part_way_writes_what_it_has(tmp_path, monkeypatch):
    """Ctrl-C before a point's row came back left only points/ and spec.toml: the points
    finished by then are now in sweep.csv, summary.md and sweep.html, and --resume goes on."""
    real, calls = executors.run_unit, []

    def stopped_on_the_second(unit, root, process=None):
        calls.append(unit)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(unit, root, process)

    monkeypatch.setattr(executors, "run_unit", stopped_on_the_second)
    spec = tiny_spec(seeds=[0], grid={"target.params.w": [0.0, 0.5]})
    with pytest.raises(KeyboardInterrupt):
        lagnet.sweep(spec, tmp_path / "s", workers=1, pack=False)
    written = (tmp_path / "s" / "sweep.csv").read_text().splitlines()
    assert len(written) == 2 and ",complete," in written[1]  # header and the finished point
    assert (tmp_path / "s" / "summary.md").is_file() and (tmp_path / "s" / "sweep.html").is_file()
    monkeypatch.setattr(executors, "run_unit", real)
    again = lagnet.sweep(spec, tmp_path / "s", workers=1, pack=False, resume=True)
    assert [r["status"] for r in again.rows] == ["complete", "complete"]
