"""Durable training: a run killed with SIGKILL at random moments and resumed ends with the same
weights, bit for bit, as a run never stopped; SIGTERM stops like Ctrl-C; one owner per run
directory; unfinished runs say so; nothing is written before a run can start."""

from __future__ import annotations

import json
import math
import os
import random
import signal
import time
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file
from typer.testing import CliRunner

from children import lagnet, start
from conftest import TINY_FLAGS
from lagnet.cli import app
from lagnet.rundir import read_status

FORUM = ["--process", "ar1(rho=0.1)", "--target", "x[t]**2 + 0.1*x[t-1]**2", "--model", "gru"]
SMALL = [
    "--hidden", "6", "--batch", "16", "--length", "15", "--quiet",
    "--set", "train.val_every=20", "--set", "train.val_paths=32",
    "--set", "train.pilot_paths=32", "--set", "eval.test_paths=40",
    "--set", "eval.baseline_paths=60", "--set", "eval.long_paths=5",
    "--set", "model.head=[8]", "--set", "train.checkpoint_seconds=0.05",
]  # fmt: skip
TIMING = {"seconds", "ms_per_step", "compile_seconds", "eval_seconds", "test_set_seconds", "signal"}


def weights(run_dir: Path) -> dict[str, np.ndarray]:
    return load_file(str(run_dir / "model.safetensors"))


def without_timing(obj):
    if isinstance(obj, dict):
        return {k: without_timing(v) for k, v in obj.items() if k not in TIMING}
    if isinstance(obj, list):
        return [without_timing(v) for v in obj]
    return obj


def wait_for(path: Path, proc, timeout: float = 120.0) -> bool:
    """Wait until ``path`` exists; False if ``proc`` ended first."""
    t0 = time.monotonic()
    while not path.exists():
        if proc.poll() is not None:
            return False
        assert time.monotonic() - t0 < timeout, f"{path} never appeared"
        time.sleep(0.02)
    return True


@pytest.mark.slow
def test_sigkill_at_random_moments_then_resume_gives_the_same_weights(tmp_path):
    steps = ["--steps", "3000"]
    ref, cut = tmp_path / "ref", tmp_path / "cut"
    done = lagnet("train", *FORUM, *SMALL, *steps, "--out", str(ref))
    assert done.returncode == 0, done.stderr[-2000:]

    rng = random.Random(7)
    kills = 0
    proc = start("train", *FORUM, *SMALL, *steps, "--out", str(cut))
    for attempt in range(3):
        if wait_for(cut / "checkpoint.safetensors", proc):
            time.sleep(rng.uniform(0.0, 0.8))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
        proc.communicate(timeout=300)
        status = read_status(cut)
        if status["status"] == "complete":
            break
        assert status["status"] == "killed"
        if attempt == 0:
            # an unfinished run says so, in one line, for every command that reads runs
            for command in ("eval", "report", "doctor"):
                res = CliRunner().invoke(app, [command, str(cut)])
                assert res.exit_code == 2 and "unfinished run (killed" in res.output, command
                assert len(res.output.strip().splitlines()) == 1
        proc = start("train", "--resume", str(cut))
    else:
        _, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr[-2000:]
    assert kills >= 2, "the runs ended before they could be killed: make them longer"
    assert read_status(cut)["status"] == "complete"
    assert not (cut / "checkpoint.safetensors").exists()

    a, b = weights(ref), weights(cut)
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    # the same seed and step budget give the same metrics in other processes, timing aside
    ma = json.loads((ref / "metrics.json").read_text())
    mb = json.loads((cut / "metrics.json").read_text())
    assert without_timing(ma) == without_timing(mb)
    again = lagnet("train", "--resume", str(cut))
    assert again.returncode == 0 and "complete; nothing to resume" in again.stdout


@pytest.mark.slow
def test_sigterm_checkpoints_and_stops_and_a_second_writer_is_refused(tmp_path):
    out = tmp_path / "run"
    proc = start("train", *FORUM, *SMALL, "--steps", "100000", "--out", str(out))
    assert wait_for(out / "checkpoint.safetensors", proc)
    # a second `lagnet train` into the same directory gets one line, and writes nothing
    config = (out / "config.toml").read_text()
    res = CliRunner().invoke(app, ["train", *FORUM, "--steps", "5", "--out", str(out)])
    assert res.exit_code == 2 and "in use by another lagnet process" in res.output
    assert (out / "config.toml").read_text() == config and "steps = 5\n" not in config
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 143, stderr[-2000:]
    assert "--resume" in stderr
    status = read_status(out)
    assert status["status"] == "interrupted" and status["step"] > 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["train"]["stopped"] == "interrupted" and metrics["train"]["signal"] == "SIGTERM"
    assert (out / "checkpoint.safetensors").exists() and (out / "report.html").exists()
    # the interrupted run's files are usable: eval works on its best weights
    res = CliRunner().invoke(app, ["eval", str(out)])
    assert res.exit_code == 0, res.output
    assert "was interrupted at step" in res.output and "best weights so far" in res.output


@pytest.mark.slow
def test_resume_in_process_after_ctrl_c_equals_a_run_never_stopped(tmp_path):
    import lagnet
    from lagnet.api import build_config
    from lagnet.runs import run

    tiny = dict(
        hidden=6, steps=60, batch=16, length=15, val_every=20, val_paths=32, pilot_paths=32,
        head=[8], checkpoint_seconds=1e-6,
        eval=dict(test_paths=40, baseline_paths=60, long_paths=5),
    )  # fmt: skip
    cfg = build_config("ar1(rho=0.1)", "x[t]**2 + 0.1*x[t-1]**2", "gru", **tiny)
    whole = run(cfg, tmp_path / "whole")

    def ctrl_c(event):
        if event["step"] == 40:
            raise KeyboardInterrupt

    cut = run(cfg, tmp_path / "cut", callbacks=[ctrl_c])
    assert cut.metrics["train"]["stopped"] == "interrupted"
    assert read_status(tmp_path / "cut")["status"] == "interrupted"
    again = run(cfg, tmp_path / "cut", resume=True)
    assert again.history["step"] == whole.history["step"] == [20, 40, 60]
    a, b = weights(tmp_path / "whole"), weights(tmp_path / "cut")
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert lagnet.load(tmp_path / "cut").metrics["train"]["stopped"] == "steps"


def test_a_refused_run_writes_nothing_and_a_complete_run_is_not_resumed(tmp_path, tiny_run):
    out = tmp_path / "never"
    res = CliRunner().invoke(app, ["train", "--target", "x[t] + q[t]", "--out", str(out)])
    assert res.exit_code == 2 and not out.exists()
    res = CliRunner().invoke(app, ["train", "--resume", str(tiny_run)])
    assert res.exit_code == 0 and "nothing to resume" in res.output
    res = CliRunner().invoke(app, ["train", "--resume", str(tmp_path)])
    assert res.exit_code == 2 and "not a run directory" in res.output


@pytest.mark.slow
def test_a_run_refused_once_its_paths_are_drawn_leaves_nothing_behind(tmp_path, capsys):
    """A washout as long as the paths is refused before the run directory is made; a
    reservoir too sparse to have an eigenvalue only once it is drawn, inside the fit, after
    the directory was made: that run is withdrawn with the parents it made, and a folder it
    did not make is kept; the bar drawn for it is taken away. A target NaN on the paths is
    refused with no bar drawn."""
    import lagnet
    from lagnet.errors import LagnetError
    from lagnet.rundir import check_out_dir

    esn = dict(process="ar1(rho=0.1)", target="x[t-1]", model="esn", length=20)
    with pytest.raises(LagnetError, match="^model.washout: 30"):
        lagnet.train(**esn, washout=30, out=tmp_path / "new")
    sparse = dict(esn, density=1e-4, reservoir=20)
    with pytest.raises(LagnetError, match="^model.density: 0.0001"):
        lagnet.train(**sparse, out=tmp_path / "runs" / "deep" / "new", progress=True)
    assert list(tmp_path.iterdir()) == []  # runs/ and runs/deep/ were made by the run
    assert capsys.readouterr().err == ""  # the bar drawn for it was taken away
    with pytest.raises(LagnetError, match="^target.formula"):  # log of a negative x
        lagnet.train(**dict(esn, target="log(x[t])"), out=tmp_path / "log", progress=True)
    assert capsys.readouterr().err == "" and list(tmp_path.iterdir()) == []
    (tmp_path / "mine").mkdir()
    with pytest.raises(LagnetError, match="^model.density: 0.0001"):
        lagnet.train(**sparse, out=tmp_path / "mine")
    assert list((tmp_path / "mine").iterdir()) == []
    assert check_out_dir(tmp_path / "mine") == tmp_path / "mine"  # not "an unfinished run"


@pytest.mark.slow
def test_a_finished_run_is_put_back_when_the_run_replacing_it_is_refused(tmp_path):
    """A finished run is kept aside while a new run starts in its directory: refused inside
    the fit (before its first row), the new run is withdrawn and the old one is as it was."""
    import lagnet
    from lagnet.errors import LagnetError

    esn = dict(process="ar1(rho=0.1)", target="x[t-1]", model="esn", length=20)
    sparse = dict(esn, density=1e-4, reservoir=20)
    small = dict(pilot_paths=64, val_paths=64, eval=dict(test_paths=64, baseline_paths=64))
    done = lagnet.train(**esn, reservoir=20, washout=2, **small, out=tmp_path / "done")
    files = lambda: {p.name: p.read_bytes() for p in (tmp_path / "done").glob("[!.]*.*")}  # noqa: E731
    before = files()
    with pytest.raises(LagnetError, match="^model.density: 0.0001"):
        lagnet.train(**sparse, out=tmp_path / "done")
    assert files() == before and lagnet.load(tmp_path / "done").metrics == done.metrics


@pytest.mark.slow
def test_a_learning_rate_of_10_ends_in_a_recovered_run_or_a_verdict_never_nan(tmp_path):
    from lagnet.api import build_config
    from lagnet.runs import run

    cfg = build_config(
        "ar1(rho=0.1)", "x[t]**2 + 0.1*x[t-1]**2", "gru", hidden=6, steps=60, batch=16,
        length=15, val_every=20, val_paths=32, pilot_paths=32, lr=10.0,
        eval=dict(test_paths=40, baseline_paths=60, long_paths=5),
    )  # fmt: skip
    r = run(cfg, tmp_path / "hot")
    text = (tmp_path / "hot" / "metrics.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    metrics = json.loads(text)
    assert metrics["verdict"]["headline"]
    assert r.metrics["train"]["stopped"] in ("steps", "diverged")
    if r.metrics["train"]["stopped"] == "steps":
        assert math.isfinite(metrics["test"]["mse"])


@pytest.mark.slow
def test_paths_where_the_target_explodes_are_dropped_and_counted_not_blamed_on_the_model():
    """NARMA-10 written as a formula explodes on a few paths of uniform [0, 0.5] input."""
    from lagnet.api import build_config
    from lagnet.evaluation import evaluate
    from lagnet.fitting import fit
    from lagnet.tasks import build_task

    cfg = build_config(
        'iid(dist="uniform", low=0, high=0.5)',
        "y[t] = 0.3*y[t-1] + 0.05*y[t-1]*sum(y, 10, lag=1) + 1.5*x[t-9]*x[t] + 0.1",
        "gru", hidden=6, steps=100, batch=128, length=200, val_every=50, val_paths=256,
        pilot_paths=256,
    )  # fmt: skip
    res = fit(cfg, build_task(cfg))  # about 0.07% of these paths explode: ~8 expected here
    assert res.info["stopped"] == "steps" and res.info["divergences"] == 0
    assert all(math.isfinite(v) for v in res.history["val_mse"])
    assert res.info["nonfinite_paths"] > 0
    ev = evaluate(res.model, build_task(cfg), cfg.eval.model_copy(update=dict(long_paths=5)), 200)
    assert math.isfinite(ev.metrics["test"]["mse"]) and ev.metrics["test"]["nonfinite_paths"] >= 0


def test_a_checkpoint_from_another_model_is_refused_in_one_line(tmp_path):
    import jax.numpy as jnp

    from lagnet.errors import LagnetError
    from lagnet.training import Checkpoint

    ck = Checkpoint(tmp_path)
    ck.save(dict(params={"w": jnp.ones(3)}), dict(step=1))
    with pytest.raises(LagnetError, match="^checkpoint: .*shape"):
        ck.load(dict(params={"w": jnp.ones(4)}))
    (tmp_path / "checkpoint.safetensors").write_bytes(b"not a checkpoint")
    with pytest.raises(LagnetError, match="cannot be read"):
        ck.load(dict(params={"w": jnp.ones(3)}))
    assert os.listdir(tmp_path) == ["checkpoint.safetensors"]


def test_a_run_directory_that_cannot_be_written_leaves_no_trace(tiny_run, tmp_path, monkeypatch):
    """A full disk refusing config.toml as a run starts: a directory the run made goes with
    the parents it made, and a finished run it was to replace is put back as it was."""
    import lagnet.rundir as rundir
    from lagnet.config import load_config
    from lagnet.errors import LagnetError

    def full(path, text):
        Path(path).write_text(text[:10])  # cut short, as a full disk leaves it
        raise LagnetError("out", str(path), "cannot write it (No space left on device)")

    cfg = load_config(tiny_run / "config.toml")
    before = {p.name: p.read_bytes() for p in tiny_run.iterdir() if p.is_file()}
    monkeypatch.setattr(rundir, "write_text", full)
    for out in (tmp_path / "runs" / "new", tiny_run):
        with pytest.raises(LagnetError, match="No space left"):
            rundir.RunDirectory.start(out, cfg)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny-run"]
    after = {p.name: p.read_bytes() for p in tiny_run.iterdir() if p.is_file()}
    assert after == {k: v for k, v in before.items() if k != ".lock"}


def test_sigterm_before_the_first_row_keeps_the_run_it_replaces(tiny_run, monkeypatch):
    """SIGTERM is caught from before the run directory is made. Arriving as the directory is
    made, it puts the finished run there back as it was; arriving in the fit before its first
    row, it stops the run as interrupted, the finished run kept aside until a row comes."""
    import lagnet.rundir as rundir
    import lagnet.runs as runs
    from lagnet.config import load_config

    def sigterm():
        # the default action would end this process: fail instead, saying why
        assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL, "SIGTERM not caught yet"
        os.kill(os.getpid(), signal.SIGTERM)

    def write_after_sigterm(path, text):
        sigterm()
        Path(path).write_text(text)

    cfg = load_config(tiny_run / "config.toml")
    before = {p.name: p.read_bytes() for p in tiny_run.glob("[!.]*.*")}
    with monkeypatch.context() as m:
        m.setattr(rundir, "write_text", write_after_sigterm)
        with pytest.raises(KeyboardInterrupt):
            runs.run(cfg, tiny_run)
    assert {p.name: p.read_bytes() for p in tiny_run.glob("[!.]*.*")} == before
    assert not (tiny_run / rundir.REPLACED).exists()
    monkeypatch.setattr(runs, "fit", lambda *a, **kw: sigterm())
    with pytest.raises(KeyboardInterrupt):
        runs.run(cfg, tiny_run)
    assert read_status(tiny_run)["status"] == "interrupted"
    assert (tiny_run / rundir.REPLACED / "metrics.json").read_bytes() == before["metrics.json"]


def test_sigterm_before_the_first_row_exits_143_from_the_cli(tmp_path, monkeypatch):
    """SIGTERM is not Ctrl-C: a run it stops before the first row (the directory marked
    interrupted, as tested above) leaves `lagnet train` with exit code 143, not 130."""
    import lagnet.cli.train as train_cli
    from lagnet.errors import Preempted

    def preempted(*args, **kw):
        raise Preempted()

    monkeypatch.setattr(train_cli, "tracked_run", preempted)
    args = ["--process", "ar1(rho=0.1)", "--target", "x[t]**2", *TINY_FLAGS]
    res = CliRunner().invoke(app, ["train", *args, "--out", str(tmp_path / "r")])
    assert res.exit_code == 143 and res.output.strip() == "interrupted", res.output


@pytest.mark.slow
def test_sigterm_while_the_files_are_written_lets_them_be_written(tmp_path, monkeypatch):
    """Training is done when the run evaluates and writes its files: a SIGTERM then is noted,
    not raised, and the run completes."""
    import lagnet.runs as runs
    from lagnet.api import build_config

    evaluate = runs.evaluate

    def evaluate_after_sigterm(*args, **kw):
        os.kill(os.getpid(), signal.SIGTERM)
        return evaluate(*args, **kw)

    monkeypatch.setattr(runs, "evaluate", evaluate_after_sigterm)
    cfg = build_config(
        "ar1(rho=0.1)", "x[t]**2", "gru", hidden=4, steps=5, batch=8, length=12,
        val_every=5, val_paths=16, pilot_paths=16,
        eval=dict(test_paths=16, baseline_paths=32, long_paths=2),
    )  # fmt: skip
    try:
        r = runs.run(cfg, tmp_path / "r")
    except KeyboardInterrupt:
        pytest.fail("SIGTERM stopped the run as it wrote its files")
    assert read_status(tmp_path / "r")["status"] == "complete"
    assert r.metrics["train"]["stopped"] == "steps" and (tmp_path / "r" / "report.html").is_file()


@pytest.mark.slow
def test_a_run_that_failed_with_nothing_to_go_on_with_can_be_trained_again(tmp_path, monkeypatch):
    """A run that failed in its evaluation left its directory refused by every command
    (`--out` and eval: 'unfinished run (failed); go on with --resume', and --resume failed
    the same way): with no checkpoint in it, `--out` replaces it and eval names the error."""
    import lagnet.runs

    out = tmp_path / "r"
    args = ["train", *FORUM, *TINY_FLAGS, "--out", str(out)]

    def broken(*a, **k):
        raise RuntimeError("evaluation broke")

    monkeypatch.setattr(lagnet.runs, "evaluate", broken)
    res = CliRunner().invoke(app, args)
    assert res.exit_code != 0 and read_status(out)["status"] == "failed"
    assert not (out / "checkpoint.safetensors").exists()
    res = CliRunner().invoke(app, ["eval", str(out)])
    assert res.exit_code == 2 and "failed, with nothing to read (RuntimeError" in res.output
    monkeypatch.undo()
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert read_status(out) is None or read_status(out)["status"] == "complete"
    assert (out / "metrics.json").is_file()


def test_a_failed_runs_error_is_named_in_one_line(tmp_path, tiny_run):
    """Its status holds the error as raised: an XLA error runs to dozens of lines."""
    (tiny_run / "metrics.json").unlink()
    status = dict(status="failed", error="XlaRuntimeError: RESOURCE_EXHAUSTED\nBuffer\n stats")
    (tiny_run / "status.json").write_text(json.dumps(status))
    res = CliRunner().invoke(app, ["eval", str(tiny_run)])
    assert res.exit_code == 2 and len(res.output.strip().splitlines()) == 1, res.output
    assert res.output.strip().endswith("(XlaRuntimeError: RESOURCE_EXHAUSTED)")
