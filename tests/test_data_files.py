"""Files as users write them: half a long layout is refused (it was read as one series, its
paths joined end to end), a spreadsheet's byte-order mark is not part of a column's name, and
a run trained on a relative path can be evaluated and trained again from anywhere."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from lagnet.cli import app
from lagnet.config import load_config
from lagnet.errors import LagnetError
from lagnet.processes import build_process, parse_process_spec

runner = CliRunner()
TINY = ["--steps", "4", "--hidden", "2", "--set", "eval.long_factor=2", "--set",
        "eval.test_paths=8", "--set", "eval.baseline_paths=16", "--quiet"]  # fmt: skip


def _long(tmp_path, header: str, paths=5, steps=200) -> str:
    rows = [header] + [
        f"{p},{t},{np.sin(t + p):.4f}" if header.count(",") == 2 else f"{p},{np.sin(t):.4f}"
        for p in range(paths)
        for t in range(steps)
    ]
    path = tmp_path / "long.csv"
    path.write_text("\n".join(rows) + "\n")
    return str(path)


@pytest.mark.parametrize(
    "header, needle",
    [
        ("path,time,x", "has a path column but no t column"),
        ("path,x", "has a path column but no t column"),
        ("t,x", "has a t column but no path column"),
    ],
)
def test_half_a_long_layout_is_refused(tmp_path, header, needle):
    with pytest.raises(LagnetError, match=needle) as err:
        build_process(parse_process_spec(f'data(path="{_long(tmp_path, header)}")'))
    assert err.value.field == "process.path" and "\n" not in str(err.value)


def test_a_time_column_is_left_out_when_the_series_are_named(tmp_path):
    p = build_process(parse_process_spec(f'data(path="{_long(tmp_path, "t,x")}", columns=["x"])'))
    assert p.series == ("x",)


def test_a_byte_order_mark_is_not_part_of_the_first_name(tmp_path):
    (tmp_path / "excel.csv").write_bytes(
        "\ufeffprice\r\n".encode() + "".join(f"{i % 7}.5\r\n" for i in range(300)).encode()
    )
    p = build_process(parse_process_spec(f'data(path="{tmp_path / "excel.csv"}")'))
    assert p.series == ("price",)


@pytest.mark.slow
def test_a_run_on_a_relative_path_is_found_from_anywhere(tmp_path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    x = np.random.default_rng(0).normal(size=(1, 3000)).astype(np.float32)
    np.savez(data / "prices.npz", x=x)
    monkeypatch.chdir(data)
    res = runner.invoke(
        app,
        ["train", "--process", 'data(path="prices.npz")', "--target", "x[t]*x[t-1]",
         "--out", "runs/r", *TINY],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    cfg = load_config(data / "runs/r/config.toml")
    assert cfg.process.path == str(data / "prices.npz")  # recorded as found
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, ["eval", "data/runs/r"])  # was: process.path: no such file
    assert res.exit_code == 0 and "memory_r2" in res.output, res.output
    res = runner.invoke(app, ["train", "data/runs/r/config.toml", "--out", "again", *TINY])
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "again/metrics.json").read_text())["test"]["mse"] > 0


def _tickers(tmp_path, lengths: dict[str, int]) -> str:
    rng = np.random.default_rng(1)
    rows = ["path,t,r"] + [
        f"{name},{t},{rng.normal():.5f}" for name, n in lengths.items() for t in range(n)
    ]
    (tmp_path / "tickers.csv").write_text("\n".join(rows) + "\n")
    return str(tmp_path / "tickers.csv")


def test_paths_may_be_named(tmp_path):
    """A ticker per path: numbered in order of first appearance, named in messages."""
    p = build_process(
        parse_process_spec(f'data(path="{_tickers(tmp_path, dict(AAPL=300, MSFT=300))}")')
    )
    assert p.series == ("r",)
    with pytest.raises(LagnetError, match=r"path 'MSFT' has 200 steps, path 'AAPL' has 300"):
        build_process(
            parse_process_spec(f'data(path="{_tickers(tmp_path, dict(AAPL=300, MSFT=200))}")')
        )


def test_ragged_paths_are_padded_with_gaps_when_gaps_are_skipped(tmp_path):
    """Histories of unequal length: refused, saying missing = "skip" takes them; with it the
    shorter paths end in gaps that no window crosses."""
    spec = f'data(path="{_tickers(tmp_path, dict(A=400, B=250, C=400))}"'
    with pytest.raises(LagnetError, match='ragged paths; missing = "skip"'):
        build_process(parse_process_spec(spec + ")"))
    p = build_process(parse_process_spec(spec + ', missing="skip")'))
    values = p._file  # (S, P, T)
    assert values.shape == (1, 3, 400)
    assert np.isnan(values[0, 1, 250:]).all() and np.isfinite(values[0, 1, :250]).all()
    assert np.isfinite(values[0, [0, 2]]).all()


@pytest.mark.parametrize(
    "cell, needle",
    [("NA", "column 'path': 'NA' is a missing"), ("x", "column 'path': 'x' is not a number")],
)
def test_a_bad_cell_in_a_number_path_column_is_refused_there(tmp_path, cell, needle):
    """A missing or text cell among numbered paths was taken for a path's name: the error
    then blamed column t, or a 1-step path 'NA' was accepted under missing="skip"."""
    rows = ["path,t,r"] + [f"{p},{t},{0.1 * t:.2f}" for p in range(3) for t in range(200)]
    rows[7] = f"{cell},6,0.6"
    (tmp_path / "f.csv").write_text("\n".join(rows) + "\n")
    for extra in ("", ', missing="skip"'):
        with pytest.raises(LagnetError, match=needle):
            build_process(parse_process_spec(f'data(path="{tmp_path / "f.csv"}"{extra})'))


def test_a_missing_name_is_refused(tmp_path):
    path = Path(_tickers(tmp_path, dict(A=300, B=300)))
    path.write_text(path.read_text().replace("\nB,5,", "\nNA,5,"))
    with pytest.raises(LagnetError, match="column 'path': 'NA' names no path"):
        build_process(parse_process_spec(f'data(path="{path}")'))
