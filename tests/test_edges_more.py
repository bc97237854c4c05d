"""Edges a new user found: a Ray address nothing answers on, sweep options refused after the
bar was drawn (or not at all in a dry run), the documented ``split`` list in a process spec,
memory refusals that blamed a setting the command cannot change, corrupt run files, and what
``doctor --fix`` says it changed."""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lagnet.cli import app
from test_sweep import tiny_spec, write_spec


def one_line(res) -> str:
    """The CLI's one line of refusal: exit 2, no bar, no traceback."""
    assert res.exit_code == 2, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.output
    return lines[0].removeprefix("error: ")


def free_port() -> int:
    """A port nothing listens on (bound, then let go)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ----------------------------------------------------------------------------- sweep --ray
def test_an_unreachable_ray_address_is_refused_at_once_and_leaves_no_folder(tmp_path):
    """It hung, printing GCS time-outs, and left spec.toml, points/ and .lock behind (a rerun
    was told to --resume)."""
    spec = write_spec(tmp_path / "s.toml", tiny_spec())
    out = tmp_path / "sw" / "ray"
    address = f"127.0.0.1:{free_port()}"
    t0 = time.perf_counter()
    res = CliRunner().invoke(app, ["sweep", str(spec), "--ray", address, "--out", str(out)])
    line = one_line(res)
    assert time.perf_counter() - t0 < 10
    assert line.startswith(f"--ray: {address} — cannot join the Ray cluster (")
    assert not out.exists() and not (tmp_path / "sw").exists()


def test_the_api_refuses_an_unreachable_ray_address_before_the_folder_is_made(tmp_path):
    import lagnet as lg
    from lagnet.errors import LagnetError

    out = tmp_path / "ray"
    with pytest.raises(LagnetError, match="^--ray: .* cannot join the Ray cluster"):
        lg.sweep(tiny_spec(), out, ray=f"127.0.0.1:{free_port()}")
    assert not out.exists()


@pytest.mark.slow
def test_a_port_that_is_no_ray_cluster_is_given_up_on_within_seconds(tmp_path):
    """Something answers, but not Ray: Ray's own retries (20 × ~40 s) are cut to one."""
    spec = write_spec(tmp_path / "s.toml", tiny_spec())
    with socket.socket() as listener:
        listener.bind(("0.0.0.0", 0))
        listener.listen(8)
        address = f"127.0.0.1:{listener.getsockname()[1]}"
        cmd = [sys.executable, "-m", "lagnet", "sweep", str(spec), "--ray", address,
               "--out", str(tmp_path / "out"), "--quiet"]  # fmt: skip
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=90)
    assert time.perf_counter() - t0 < 45
    assert proc.returncode == 2, proc.stderr
    assert f"error: --ray: {address} — cannot join the Ray cluster" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "out").exists()


# ----------------------------------------------------------------------------- sweep options
@pytest.mark.parametrize("dry", [True, False])
@pytest.mark.parametrize(
    "args, start",
    [(["--workers", "0"], "workers: 0 — "), (["--workers", "-3"], "workers: -3 — "),
     (["--track", "wandb"], "track: wandb — unknown tracker")],
)  # fmt: skip
def test_workers_and_track_are_refused_in_a_dry_run_too_and_before_the_bar(
    tmp_path, args, start, dry
):
    """--workers 0 (taken as one per core) and --track wandb passed --dry-run; --workers -3
    drew the bar (`sweep ━━━ 0/None done`) before its error."""
    spec = write_spec(tmp_path / "s.toml", tiny_spec())
    out = tmp_path / "out"
    where = ["--dry-run"] if dry else ["--out", str(out)]
    line = one_line(CliRunner().invoke(app, ["sweep", str(spec), *where, *args]))
    assert line.startswith(start), line
    assert not out.exists()


def test_an_out_that_is_a_file_is_refused_before_the_bar(tmp_path):
    spec = write_spec(tmp_path / "s.toml", tiny_spec())
    (tmp_path / "d.csv").write_text("x\n1\n")
    res = CliRunner().invoke(app, ["sweep", str(spec), "--out", str(tmp_path / "d.csv")])
    assert one_line(res).startswith(f"out: {tmp_path / 'd.csv'} — exists and is not a folder")


# ----------------------------------------------------------------------------- memory refusals
def test_a_network_too_wide_is_refused_naming_its_width(tmp_path, monkeypatch):
    """`--hidden 100000` blamed train.batch: 128, the default the user never gave."""
    monkeypatch.setenv("LAGNET_MEMORY_LIMIT", "8G")
    out = tmp_path / "run"
    args = ["train", "--process", "ar1(rho=0.1)", "--target", "x[t-1]", "--hidden", "100000"]
    line = one_line(CliRunner().invoke(app, [*args, "--out", str(out), "--quiet"]))
    assert line.startswith("model.hidden: 100000 — training gru on batches of 128 paths"), line
    assert not out.exists()


def test_a_batch_too_large_is_still_refused_naming_the_batch(monkeypatch):
    from lagnet.config import make_config
    from lagnet.errors import LagnetError
    from lagnet.tasks import build_task

    monkeypatch.setenv("LAGNET_MEMORY_LIMIT", "1G")
    cfg = make_config(train=dict(batch=10**6, length=1000), model=dict(hidden=64))
    with pytest.raises(LagnetError, match=r"^train\.batch: 1000000 — training gru"):
        build_task(cfg)


@pytest.mark.parametrize(
    "settings, field",
    [(dict(train=dict(length=20_000), eval=dict(test_paths=10)), "train.length"),
     (dict(train=dict(length=1000), eval=dict(test_paths=10**8)), "eval.test_paths")],
)  # fmt: skip
def test_an_evaluation_too_large_names_what_an_evaluation_is_given(monkeypatch, settings, field):
    """An evaluation checks no training (`eval --length 100000` blamed train.batch), and names
    the length when the baseline and long paths are what cannot fit (it blamed
    eval.test_paths: 10)."""
    from lagnet.config import make_config
    from lagnet.errors import LagnetError
    from lagnet.resources import evaluating
    from lagnet.tasks import build_task

    monkeypatch.setenv("LAGNET_MEMORY_LIMIT", "20G")
    cfg = make_config(train=dict(batch=10**6, **settings["train"]), eval=settings["eval"])
    with pytest.raises(LagnetError) as e, evaluating():
        build_task(cfg, fitting=False)
    assert e.value.field == field and str(e.value).split(" — ")[1].startswith("evaluating on")


# ----------------------------------------------------------------------------- run files
def make_run(directory: Path) -> Path:
    """A run directory with an untrained GRU (no training: a second)."""
    import jax
    import jax.numpy as jnp

    from lagnet.config import make_config
    from lagnet.models import Normalised, build_net
    from lagnet.runs import Run

    cfg = make_config(
        process=dict(kind="arma", ar=[0.1]),
        target=dict(formula="x[t-1]"),
        model=dict(kind="gru", hidden=4, head=[]),
        train=dict(length=12, batch=8, val_paths=8, pilot_paths=8),
        eval=dict(test_paths=8, baseline_paths=16, long_paths=2),
    )
    net = build_net(cfg.model, 1, 1, jax.random.PRNGKey(0))
    model = Normalised(net, jnp.zeros(1), jnp.ones(1), jnp.zeros(1), jnp.ones(1))
    return Run(config=cfg, model=model, metrics={}).save(directory, plots=False)


@pytest.mark.parametrize(
    "name, content, why",
    [("model.safetensors", b"\xff" * 300, "SafetensorError"),
     ("model.json", b"{broken", "JSONDecodeError"),
     ("model.json", b'{"format": 1, "model": {"kind": "gru"}}', "KeyError"),
     ("metrics.json", b"[1, 2", "JSONDecodeError"),
     ("predictions.npz", b"garbage", "")],
)  # fmt: skip
def test_a_corrupt_run_file_is_one_line_naming_it(tmp_path, name, content, why):
    """A garbage model.safetensors was `failed: SafetensorError: ... header too large`
    (exit 1, no file named); a broken model.json a raw JSONDecodeError from lagnet.load."""
    import lagnet as lg
    from lagnet.errors import LagnetError

    run = make_run(tmp_path / "run")
    assert lg.load(run).config.target.formula == "x[t-1]"  # intact, it loads
    (run / name).write_bytes(content)
    with pytest.raises(LagnetError) as e:
        lg.load(run)
    assert str(e.value).startswith(f"run_dir: {run / name} — cannot be read ({why}")
    for command in ("eval", "doctor"):
        line = one_line(CliRunner().invoke(app, [command, str(run)]))
        assert line == str(e.value)
    assert not (run / "evaluations.json").exists() and not (run / "doctor.json").exists()


def test_weights_that_do_not_match_model_json_are_named(tmp_path):
    import lagnet as lg
    from lagnet.errors import LagnetError

    run = make_run(tmp_path / "run")
    meta = json.loads((run / "model.json").read_text())
    meta["model"]["hidden"] = 5
    (run / "model.json").write_text(json.dumps(meta))
    with pytest.raises(LagnetError, match=r"model\.safetensors — does not match model\.json"):
        lg.load(run)


# ----------------------------------------------------------------------------- doctor --fix
def _diagnosis(tmp_path, monkeypatch, overrides: dict, evaluations: list):
    """A diagnosis of a run trained on x[t-1], whose --fix "trains" at once: the config it
    was given is kept, its metrics are made up."""
    from types import SimpleNamespace

    from lagnet.config import make_config
    from lagnet.doctor import core

    given = {}

    def train(cfg, out, callbacks=(), started=None):
        given["cfg"] = cfg
        return SimpleNamespace(metrics={"test": dict(mse=0.5, r2=0.4, memory_r2=0.3)}, model=None)

    monkeypatch.setattr(core, "run", train)
    monkeypatch.setattr(core, "_model_mse", lambda *a: 0.3)
    doc = dict(overrides=overrides, memory={"effective": 0}, run={"evaluations": evaluations},
               oracle={"k": [0, 1], "mse": [1.0, 0.25]}, fix=None)  # fmt: skip
    metrics = {"test": dict(mse=0.9, r2=0.1, memory_r2=0.05)}
    cfg = make_config(target=dict(formula="x[t-1]"))
    d = core.Diagnosis(tmp_path / "run", doc, [], cfg, metrics, (None, None, 1))
    return d, given


def shown(table) -> str:
    """A rich table's text as the terminal shows it, its wrapped lines joined."""
    from rich.console import Console

    console = Console(record=True, width=400, file=io.StringIO())
    console.print(table)
    return " ".join(console.export_text().split())


def test_a_fix_shows_the_budget_it_trained_with(tmp_path, monkeypatch):
    """`doctor --fix --max-seconds 3` printed the remedy's `train.max_seconds = 12.0`."""
    from lagnet.cli.doctor import _fix_table
    from lagnet.doctor import core

    d, given = _diagnosis(tmp_path, monkeypatch, {"train.max_seconds": 12.0}, [])
    fix = core.fix(d, tmp_path / "run-fixed", max_seconds=3.0)
    assert given["cfg"].train.max_seconds == 3.0
    assert fix["overrides"] == {"train.max_seconds": 3.0}
    caption = shown(_fix_table(fix))
    assert "train.max_seconds = 3.0" in caption and "12.0" not in caption
    assert fix["before"]["mse"] == 0.9 and fix["after"]["effective_memory"] == 1


@pytest.mark.parametrize("evaluated", [True, False])
def test_a_fix_on_another_target_compares_on_that_target(tmp_path, monkeypatch, evaluated):
    """A run evaluated with --target x[t-1]**2 is fixed by training on it: before was the
    run's score on x[t-1], after the fix's on x[t-1]**2."""
    from lagnet.cli.doctor import _fix_table
    from lagnet.doctor import core
    from lagnet.doctor.html import _fix_table as html_table

    other = "x[t-1]**2"
    scores = [{"formula": other, "test": dict(mse=2.0, r2=-0.5, memory_r2=-0.4)}]
    d, given = _diagnosis(
        tmp_path, monkeypatch, {"target.formula": other}, scores if evaluated else []
    )
    fix = core.fix(d, tmp_path / "run-fixed")
    assert given["cfg"].target.formula == other
    assert fix["before"]["mse"] == (2.0 if evaluated else None)  # never the run's own 0.9
    assert fix["before"]["effective_memory"] is None
    assert fix["targets"] == dict(run="x[t-1]", fix=other, before=other if evaluated else None)
    caption = shown(_fix_table(fix))
    assert f"The fix trained on {other}, the run on x[t-1]" in caption
    said = "before is the run evaluated on" if evaluated else "no before to compare"
    assert said in caption and said in html_table(fix)


def test_a_data_spec_takes_the_split_as_a_list_of_shares(tmp_path, monkeypatch):
    """The process spec takes ``split`` as TOML does, a list of three shares, besides the
    string forms (it was refused: 'expected a string')."""
    from lagnet.errors import LagnetError
    from lagnet.processes import parse_process_spec

    monkeypatch.chdir(tmp_path)
    (tmp_path / "d.csv").write_text("x\n" + "\n".join(str(i % 7) for i in range(50)) + "\n")
    listed = parse_process_spec('data(path="d.csv", split=[0.7, 0.15, 0.15])')
    assert listed.split == (0.7, 0.15, 0.15)
    assert parse_process_spec('data(path="d.csv", split="0.7,0.15,0.15")').split == listed.split
    with pytest.raises(LagnetError, match="^process.split"):
        parse_process_spec('data(path="d.csv", split=[0.7, "a", 0.15])')
