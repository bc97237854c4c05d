"""Observed data is held out: train, validation and test windows come from disjoint parts of a
file (ordered stretches of each series, a gap of the target's and the model's reach apart, or
whole paths), a second file can be the test, the in-sample fit is labelled as such, and a
missing value is a gap — refused by default, never closed up."""

import json

import jax
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from lagnet.cli import app
from lagnet.cli.train import data_notes
from lagnet.config import make_config
from lagnet.errors import LagnetError
from lagnet.evaluation import verdict
from lagnet.processes import build_process, parse_process_spec
from lagnet.processes.data import DataConfig, DataProcess
from lagnet.report import held_out_words, write_report
from lagnet.tasks import build_task

runner = CliRunner()
SHORT = dict(eval=dict(long_factor=2))


def _ramp(tmp_path, paths=1, steps=1000, name="ramp.npz"):
    """Series whose value is its own position: path p, step t holds 10000·p + t."""
    x = 10000.0 * np.arange(paths)[:, None] + np.arange(steps)[None, :]
    np.savez(tmp_path / name, x=x.astype(np.float32))
    return str(tmp_path / name)


def _seen(task, part, n=400, length=20):
    """The positions (10000·p + t) that ``n`` windows of ``part`` drew."""
    x = np.asarray(task.part(part).sample(jax.random.PRNGKey(1), n, length)[0])[..., 0]
    return x.astype(np.int64)  # (N, L)


# ----------------------------------------------------------------------------- the split
def test_a_long_series_is_split_into_ordered_stretches_a_reach_apart(tmp_path):
    path = _ramp(tmp_path)
    cfg = make_config(
        process=f'data(path="{path}")',
        target=dict(formula="x[t-3]"),
        model=dict(kind="window", window=5),
        train=dict(length=20),
        **SHORT,
    )
    task = build_task(cfg)
    assert task.gap == 3 + 5  # the target's largest lag + the window model's reach
    train, val, test = (_seen(task, p) for p in ("train", "val", "test"))
    # 1000 steps: train [0, 700), val [708, 850), test [858, 1000)
    assert train.min() >= 0 and train.max() < 700
    assert val.min() >= 708 and val.max() < 850
    assert test.min() >= 858 and test.max() < 1000
    for w in (train, val, test):  # windows are contiguous pieces of the series
        assert np.all(np.diff(w, axis=1) == 1)
    assert len(np.unique(train[:, 0])) > 200  # drawn at many starts
    # The default task, the one the gradient loop samples, is the training part.
    x = np.asarray(task.sample(jax.random.PRNGKey(2), 400, 20)[0])
    assert x.max() < 700
    # A recurrence's reach is a whole training window.
    gru = build_task(cfg.model_copy(update=dict(model=make_config(model=dict(kind="gru")).model)))
    assert gru.gap == 3 + 20 and gru.part("test").process.max_length == 1000 - 850 - 23


def test_many_paths_are_split_by_path(tmp_path):
    path = _ramp(tmp_path, paths=40, steps=60)
    task = build_task(
        make_config(
            process=f'data(path="{path}")',
            target=dict(formula="x[t]"),
            train=dict(length=30),
            **SHORT,
        )
    )
    parts = {p: set((_seen(task, p, length=30)[:, 0] // 10000).tolist()) for p in ("train", "val")}
    parts["test"] = set((_seen(task, "test", length=30)[:, 0] // 10000).tolist())
    assert parts["train"] <= set(range(28)) and len(parts["train"]) > 20
    assert parts["val"] == set(range(28, 34)) and parts["test"] == set(range(34, 40))
    split = task.part("test").process.describe_split(30)
    assert split["split"] == "path" and split["gap"] == 0 and not split["in_sample"]
    assert [split["parts"][p]["paths"] for p in ("train", "val", "test")] == [28, 6, 6]
    assert split["parts"]["test"]["windows"] == 6 * (60 - 30 + 1)


def test_split_none_serves_every_window_everywhere(tmp_path):
    path = _ramp(tmp_path)
    task = build_task(
        make_config(
            process=f'data(path="{path}", split="none")',
            target=dict(formula="x[t]"),
            train=dict(length=20),
            **SHORT,
        )
    )
    assert _seen(task, "test").max() > 900 and _seen(task, "train").max() > 900
    split = task.part("test").process.describe_split(20)
    assert split["in_sample"] and split["test"] == "in-sample fit, not a test"


def test_shares_and_split_by_are_settings(tmp_path):
    path = _ramp(tmp_path, paths=4, steps=200)
    p = DataProcess(DataConfig(path=path, split=(0.5, 0.25, 0.25), split_by="path", gap=0))
    assert [p.part(n).paths for n in ("train", "val", "test")] == [2, 1, 1]
    q = build_process(parse_process_spec(f'data(path="{path}", split="0.6,0.2,0.2", gap=7)'))
    assert q.config.split == (0.6, 0.2, 0.2)
    assert [q.part(n, gap=99).max_length for n in ("train", "val", "test")] == [120, 33, 33]


@pytest.mark.parametrize(
    "extra, field, needle",
    [
        (', split="0.5,0.5,0.5"', "process.split", "sum to 1"),
        (', split="half"', "process.split", "three shares"),
        (', split_by="rows"', "process.split_by", ""),
        (", gap=-1", "process.gap", ""),
        (', missing="fill"', "process.missing", ""),
    ],
)
def test_bad_split_settings_are_one_line(extra, field, needle, tmp_path):
    path = _ramp(tmp_path)
    with pytest.raises(LagnetError) as err:
        parse_process_spec(f'data(path="{path}"{extra})')
    assert err.value.field == field and needle in str(err.value) and "\n" not in str(err.value)


def test_a_part_too_short_for_the_run_is_refused_before_anything_starts(tmp_path):
    path = _ramp(tmp_path, steps=400)  # test stretch: 60 steps, less the GRU's gap of 31
    res = runner.invoke(
        app,
        ["train", "--process", f'data(path="{path}")', "--target", "x[t-1]", "--length", "30"]
        + ["--out", str(tmp_path / "run"), "--set", "eval.long_factor=2"],
    )
    assert res.exit_code == 2 and len(res.output.strip().splitlines()) == 1, res.output
    assert res.output.startswith("error: train.length: 30 —") and "validation part" in res.output
    assert not (tmp_path / "run").exists()


def test_test_data_needs_observed_data(tmp_path):
    res = runner.invoke(
        app, ["train", "--test-data", str(tmp_path / "t.npz"), "--out", str(tmp_path / "r")]
    )
    assert res.exit_code == 2 and res.output.startswith("error: test_data:"), res.output
    assert not (tmp_path / "r").exists()
    path = _ramp(tmp_path)
    with pytest.raises(LagnetError, match="^process.test_path: .*no such file"):
        DataProcess(DataConfig(path=path, test_path=str(tmp_path / "none.npz")))


# ----------------------------------------------------------------------------- labels
def _metrics(data):
    base = dict(
        test=dict(memory_r2=0.95, r2=0.97, mse=0.1, length=20, paths=10),
        baselines=dict(memoryless=dict(r2=0.2, mse=1.0), linear_lags=dict(r2=0.5, mse=0.5, lags=2)),
        target=dict(memory_share=0.8),
        long_horizon=dict(ratio=None, length=40),
        drift=dict(ratio=None),
    )
    return {**base, **({"data": data} if data else {})}


def test_an_in_sample_fit_is_labelled_in_the_verdict_and_the_report(tmp_path):
    inside = dict(path="d.csv", split="none", in_sample=True, parts={})
    v = verdict(_metrics(inside))
    assert v["headline"].startswith("In-sample fit, not a test: the model learned the past")
    assert "not generalisation" in v["details"][0]
    assert not verdict(_metrics(None))["headline"].startswith("In-sample")
    assert held_out_words(_metrics(inside)).startswith("in-sample fit, not a test")
    held = dict(path="d.csv", split="time", shares=[0.7, 0.15, 0.15], gap=9, in_sample=False)
    assert held_out_words(_metrics(held)) == (
        "held out: the last stretch of every series of d.csv (split by time, 70/15/15%, "
        "9 steps apart)"
    )
    assert held_out_words(_metrics(None)) is None
    held["parts"] = {p: dict(windows=w) for p, w in zip(("train", "val", "test"), (70, 9, 8))}
    for data, label in ((inside, "in-sample fit, not a test"), (held, "70 / 9 / 8")):
        m = _metrics(data)
        m["verdict"] = verdict(m)
        (tmp_path / "metrics.json").write_text(json.dumps(m))
        page = write_report(tmp_path).read_text()
        assert label in page and ("Metrics — in-sample" in page) == data["in_sample"]


# ----------------------------------------------------------------------------- runs
TINY = ["--hidden", "4", "--steps", "20", "--batch", "8", "--length", "12", "--quiet"] + [
    f"--set={s}"
    for s in (
        "train.val_every=10",
        "train.val_paths=16",
        "train.pilot_paths=16",
        "eval.test_paths=20",
        "eval.baseline_paths=40",
        "eval.long_paths=4",
        "eval.long_factor=2",
        "model.head=[4]",
    )
]


@pytest.mark.slow
@pytest.mark.parametrize("how", ["held out", "none", "second file"])
def test_a_run_on_data_says_which_split_it_used(how, tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.normal(size=600).astype(np.float32))
    np.savez(tmp_path / "t.npz", x=rng.normal(size=300).astype(np.float32))
    spec = f'data(path="{tmp_path / "d.npz"}"' + (', split="none")' if how == "none" else ")")
    extra = ["--test-data", str(tmp_path / "t.npz")] if how == "second file" else []
    out = tmp_path / "run"
    res = runner.invoke(
        app,
        ["train", "--process", spec, "--target", "x[t-1]", "--out", str(out), *TINY, *extra],
    )
    assert res.exit_code == 0, res.output
    data = json.loads((out / "metrics.json").read_text())["data"]
    page = (out / "report.html").read_text()
    said = " ".join(res.output.split()).lower()  # rich wraps long lines
    if how == "none":
        assert data["split"] == "none" and data["in_sample"]
        assert said.count("in-sample fit, not a test") >= 3  # a note, the table, the verdict
        assert "In-sample fit, not a test" in page
    else:
        assert data["split"] == "time" and not data["in_sample"]
        assert "in-sample" not in said and "held out" in said
        assert "in-sample" not in page.lower()
    if how == "second file":
        assert data["test_path"] == str(tmp_path / "t.npz")
        assert data["parts"]["test"] == dict(
            source=str(tmp_path / "t.npz"), paths=1, steps=300, windows=300 - 12 + 1
        )
        # train and validation share the file 0.7 : 0.15, a gap of x[t-1]'s lag + 12 apart
        assert data["parts"]["train"]["steps"] == 494 and data["gap"] == 13
        assert data["parts"]["val"]["steps"] == 600 - 494 - 13


# ----------------------------------------------------------------------------- gaps
WEEKLY = 'x\n1.5\n2.0\n""\n3.5\n""\n""\n4.0\n4.5\n5.0\n5.5\n'  # as pandas writes NaN


def test_a_pandas_gap_is_refused_with_file_line_and_column(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "weekly.csv").write_text(WEEKLY)
    with pytest.raises(LagnetError) as err:
        DataProcess(DataConfig(path="weekly.csv"))
    msg = str(err.value)
    assert msg.startswith("process.path: weekly.csv — line 4, column 'x': an empty cell")
    assert 'missing = "skip"' in msg
    res = runner.invoke(
        app,
        ["simulate", "--process", 'data(path="weekly.csv")', "--paths", "2", "--length", "2"]
        + ["--out", "o.npz"],
    )
    assert res.exit_code == 2 and res.output.strip() == f"error: {msg}", res.output
    assert not (tmp_path / "o.npz").exists()


def test_pandas_itself_writes_gaps_that_are_refused(tmp_path):
    pd = pytest.importorskip("pandas")
    pd.DataFrame({"x": [1.0, np.nan, 2.0]}).to_csv(tmp_path / "p.csv", index=False)
    with pytest.raises(LagnetError, match="line 3, column 'x': an empty cell"):
        DataProcess(DataConfig(path=str(tmp_path / "p.csv")))


def test_skipped_gaps_are_never_crossed_nor_closed_up(tmp_path):
    (tmp_path / "weekly.csv").write_text(WEEKLY)
    p = DataProcess(DataConfig(path=str(tmp_path / "weekly.csv"), missing="skip", split="none"))
    truth = np.array([1.5, 2.0, np.nan, 3.5, np.nan, np.nan, 4.0, 4.5, 5.0, 5.5])
    assert p.max_length == 4  # 4.0 … 5.5: rows are kept, not dropped
    for length in (1, 3):
        usable = [s for s in range(10 - length + 1) if np.all(np.isfinite(truth[s : s + length]))]
        assert p.usable(length) == len(usable)
        w = np.asarray(p.sample(jax.random.PRNGKey(length), 200, length)["x"])
        assert np.all(np.isfinite(w))
        starts = {next(s for s in usable if np.array_equal(truth[s : s + length], r)) for r in w}
        assert starts == set(usable)  # every usable window, and only those, is drawn
    with pytest.raises(LagnetError, match=r"^length: 5 — .*4 steps without a gap"):
        p.sample(jax.random.PRNGKey(0), 2, 5)


@pytest.mark.parametrize(
    "write, needle",
    [
        (lambda d: (d / "g.csv").write_text("x,y\n1,2\nNA,3\n4,5\n"), "line 3, column 'x': 'NA'"),
        (lambda d: (d / "g.csv").write_text("x,y\n1,2\n3,inf\n4,5\n"), "line 3, column 'y': inf"),
        (lambda d: (d / "g.csv").write_text("x\n1\n\n2\n\n\n"), "line 3, column 'x': an empty"),
        (
            lambda d: pq.write_table(pa.table({"x": pa.array([1.0, None, 2.0])}), d / "g.parquet"),
            "row 2, column 'x': missing value (null)",
        ),
        (lambda d: np.savez(d / "g.npz", x=np.array([1.0, np.nan, 2.0])), "path 0, step 1"),
    ],
)
def test_every_kind_of_gap_is_refused_or_skipped(write, needle, tmp_path):
    write(tmp_path)
    path = str(next(tmp_path.glob("g.*")))
    with pytest.raises(LagnetError) as err:
        DataProcess(DataConfig(path=path))
    assert needle in str(err.value) and path in str(err.value)
    p = DataProcess(DataConfig(path=path, missing="skip", split="none"))
    x = p._file[:, 0]  # (S, T): the gap is kept where it was, as NaN
    assert np.flatnonzero(~np.all(np.isfinite(x), axis=0)).tolist() == [1]
    assert np.isnan(x[~np.isfinite(x)]).all() and x.shape[1] in (3, 4)


def test_trailing_blank_lines_are_not_rows(tmp_path):
    (tmp_path / "t.csv").write_text("x\n1\n2\n3\n\n\n")
    assert DataProcess(DataConfig(path=str(tmp_path / "t.csv"), split="none")).max_length == 3


def test_the_usable_windows_around_gaps_are_counted_and_said(tmp_path):
    x = np.arange(600, dtype=np.float64)
    x[[100, 101, 450, 520]] = np.nan
    np.savez(tmp_path / "g.npz", x=x)
    cfg = make_config(
        process=f'data(path="{tmp_path / "g.npz"}", missing="skip")',
        target=dict(formula="x[t-1]"),
        model=dict(kind="window", window=3),
        train=dict(length=12),
        **SHORT,
    )
    task = build_task(cfg)
    assert task.gap == 1 + 3

    def usable(lo, hi):  # windows of 12 steps inside [lo, hi) that hold no NaN
        return sum(np.isfinite(x[s : s + 12]).all() for s in range(lo, hi - 12 + 1))

    # train [0, 420), validation [424, 510), test [514, 600)
    counts = dict(train=usable(0, 420), val=usable(424, 510), test=usable(514, 600))
    # all windows less those over a gap: starts 89–101 (train), 439–450 (val), 514–520 (test)
    assert counts == dict(train=409 - 13, val=75 - 12, test=75 - 7)
    split = task.part("test").process.describe_split(12)
    assert {n: split["parts"][n]["windows"] for n in counts} == counts
    note = data_notes(task, cfg)[-1]
    assert note == (
        "process.missing = skip: usable windows of 12 steps that cross no gap: "
        + ", ".join(f"{n} {c}" for n, c in counts.items())
    )


def test_an_empty_part_is_refused_naming_what_emptied_it(tmp_path):
    path = _ramp(tmp_path, steps=40)
    with pytest.raises(LagnetError, match=r"^process\.gap: 10 — the validation part .* is empty"):
        DataProcess(DataConfig(path=path, gap=10)).part("val")
    with pytest.raises(LagnetError, match=r"^process\.split: \[0\.9, 0\.09, 0\.01\] — the test"):
        DataProcess(DataConfig(path=path, split=(0.9, 0.09, 0.01), gap=0)).part("test")


@pytest.mark.slow
def test_evaluation_tests_on_the_test_part_only(tmp_path):
    from lagnet.evaluation import evaluate
    from lagnet.models import Normalised, build_net, identity_scaling

    path = _ramp(tmp_path, steps=2000)
    cfg = make_config(
        process=f'data(path="{path}")',
        target=dict(formula="x[t-1]"),
        model=dict(kind="window", window=2, head=[4]),
        train=dict(length=20),
        eval=dict(test_paths=30, baseline_paths=40, long_paths=4, long_factor=2),
    )
    task = build_task(cfg)
    net = build_net(cfg.model, 1, 1, jax.random.PRNGKey(0))
    model = Normalised(net, *identity_scaling(1), *identity_scaling(1))
    ev = evaluate(model, task, cfg.eval, 20)
    x = ev.predictions["x"][..., 0]  # the test windows: [1700 + 3, 2000)
    assert x.shape == (30, 20) and x.min() >= 1703 and np.all(np.diff(x, axis=1) == 1)
    assert ev.metrics["data"]["parts"]["test"]["steps"] == 297


@pytest.mark.slow
def test_eval_at_a_longer_length_shortens_the_long_horizon_to_fit_the_data(tmp_path):
    """`lagnet eval RUN --length L` on observed data: a long-horizon window of long_factor·L
    steps that the test part cannot hold was refused naming eval.long_factor, which eval
    cannot set; it gets the largest factor that fits (at least 2)."""
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.normal(size=3000).astype(np.float32))
    out = tmp_path / "r"
    args = ["train", "--process", f'data(path="{tmp_path / "d.npz"}")', "--target", "x[t-1]"]
    args += ["--steps", "5", "--hidden", "4", "--length", "40", "--out", str(out)]
    res = runner.invoke(app, [*args, "--set", "eval.long_factor=4", "--quiet"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["eval", str(out), "--length", "120", "--paths", "20"])
    assert res.exit_code == 0, res.output  # 480 steps do not fit in the test part (329)
    assert json.loads((out / "evaluations.json").read_text())[-1]["length"] == 120
    assert "model, 240-step paths" in " ".join(res.output.split())
    res = runner.invoke(app, ["eval", str(out), "--length", "200", "--paths", "20"])
    assert res.exit_code == 2 and res.output.startswith("error: length: 200 — leaves no room")


def test_the_table_title_says_when_test_windows_are_drawn_again():
    """1000 test windows drawn from 349 distinct read as 'test on 1000 windows'."""
    from lagnet.cli.train import table_title

    held = dict(path="d.csv", split="time", shares=[0.7, 0.15, 0.15], gap=9, in_sample=False)
    held["parts"] = {"test": dict(windows=349)}
    m = _metrics(held)
    m["test"]["paths"] = 1000
    assert table_title(m).startswith("test on 1000 windows (drawn from 349 distinct), held out")
    held["parts"]["test"]["windows"] = 1000
    assert table_title(_metrics(held) | {"test": m["test"]}).startswith("test on 1000 windows, ")
    assert table_title(_metrics(None)).endswith("held-out paths")
