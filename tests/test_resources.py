"""Requests that cannot fit are refused before any allocation, in one line giving the estimate
and the limit; a simulation that cannot be written leaves no file behind."""

import json
import os
import stat
import subprocess
import sys
import tracemalloc
import warnings

import numpy as np
import pytest
from typer.testing import CliRunner

from lagnet.cli import app
from lagnet.config import make_config
from lagnet.errors import LagnetError
from lagnet.processes.data import DataConfig, DataProcess
from lagnet.processes.datawrite import write_series
from lagnet.resources import (
    F32,
    SAFETY,
    check,
    device_limit,
    human,
    memory_limit,
    parse_bytes,
    step_floats,
    training_bytes,
    writing_bytes,
)
from lagnet.runs import quiet_cache_warnings
from lagnet.tasks import build_task

runner = CliRunner()


def _one_line(res, field):
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert res.exit_code == 2 and len(lines) == 1, res.output
    assert lines[0].startswith(f"error: {field}: ") and "Traceback" not in res.output
    return lines[0]


def test_the_limit_is_the_available_memory_or_the_override(monkeypatch):
    monkeypatch.delenv("LAGNET_MEMORY_LIMIT", raising=False)
    with open("/proc/meminfo") as f:
        avail = next(int(ln.split()[1]) * 1024 for ln in f if ln.startswith("MemAvailable:"))
    limit, source = memory_limit()
    assert abs(limit - SAFETY * avail) < 0.05 * avail and "available" in source
    monkeypatch.setenv("LAGNET_MEMORY_LIMIT", "1.5G")
    assert memory_limit() == (1_500_000_000, "LAGNET_MEMORY_LIMIT")
    assert parse_bytes("2048") == 2048 and parse_bytes("500M") == 500 * 10**6
    assert human(46e9) == "46.0 GB" and human(999) == "999 B"
    monkeypatch.setenv("LAGNET_MEMORY_LIMIT", "lots")
    with pytest.raises(LagnetError, match="^LAGNET_MEMORY_LIMIT: lots"):
        memory_limit()


def test_simulating_a_billion_paths_is_refused_before_any_allocation(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LAGNET_MEMORY_LIMIT", raising=False)
    res = runner.invoke(
        app,
        ["simulate", "--process", "ar1(rho=0.1)", "--paths", "1000000000"]
        + ["--length", "1000000", "--out", "big.npz"],
    )
    line = _one_line(res, "paths")
    assert "1000000000 — simulating 1000000000 paths × 1000000 steps" in line
    # 10¹⁵ path-steps of 2 series: 2 × 2 × 4 bytes simulated, 8 × (2 + 3) to write
    assert "56.0 PB" in line and "it may use" in line
    assert os.listdir(tmp_path) == []


def test_the_simulate_limit_follows_the_estimate(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = ["simulate", "--process", "ar1(rho=0.1)", "--paths", "100", "--length", "100"]
    # 10⁴ path-steps of x and e: 2·2·4 bytes simulated; to write, 500 kB of buffers and
    # NPZ 8·(2+3) per path-step (1.06 MB in all), CSV 8·(2+5) (1.22 MB in all)
    monkeypatch.setenv("LAGNET_MEMORY_LIMIT", "1.1M")
    assert runner.invoke(app, [*args, "--out", "a.npz"]).exit_code == 0
    line = _one_line(runner.invoke(app, [*args, "--out", "a.csv"]), "paths")
    assert "1.2 MB" in line and "1.1 MB" in line
    assert sorted(os.listdir(tmp_path)) == ["a.npz"]


@pytest.mark.parametrize("suffix, n, length", [(".csv", 100, 200), (".npz", 200, 500)])
@pytest.mark.parametrize("n_series", [1, pytest.param(3, marks=pytest.mark.slow)])
def test_the_writing_estimate_covers_what_writing_allocates(suffix, n, length, n_series, tmp_path):
    """The estimate against numpy's own allocations (tracemalloc sees them), within 3×."""
    rng = np.random.default_rng(0)
    series = {f"s{k}": rng.normal(size=(n, length)).astype(np.float32) for k in range(n_series)}
    tracemalloc.start()
    write_series(tmp_path / f"p{suffix}", series)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    estimate = writing_bytes(suffix, n, length, n_series)
    assert peak <= estimate <= 3 * peak, (peak, estimate)


def test_training_that_cannot_fit_is_refused_before_anything_is_written(tmp_path):
    out = tmp_path / "run"
    res = runner.invoke(
        app,
        ["train", "--batch", "100000000", "--length", "100000", "--out", str(out), "--quiet"],
    )
    line = _one_line(res, "train.batch")
    assert "training gru on batches of 100000000 paths × 100000 steps" in line
    assert "PB of memory" in line and not out.exists()


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["gru", "lstm", "tcn", "transformer", "lru"])
def test_the_training_estimate_agrees_with_xla(kind):
    """A step's share of the estimate against XLA's memory analysis of the compiled
    value_and_grad (arguments, outputs and temporaries), within 0.5–3×."""
    import equinox as eqx
    import jax
    import jax.numpy as jnp

    from lagnet.models import build_net

    n, length = 64, 200
    cfg = make_config(model=dict(kind=kind, hidden=32), train=dict(batch=n, length=length))
    params, static = eqx.partition(build_net(cfg.model, 1, 1, jax.random.PRNGKey(0)), eqx.is_array)

    def loss(p, x, y):
        return jnp.mean((eqx.combine(p, static)(x) - y) ** 2)

    x = jnp.zeros((n, length, 1))
    m = jax.jit(jax.value_and_grad(loss)).lower(params, x, x).compile().memory_analysis()
    xla = m.temp_size_in_bytes + m.argument_size_in_bytes + m.output_size_in_bytes
    estimate = F32 * n * length * (2 + 2 * step_floats(cfg.model, length))
    if kind == "transformer" and jax.default_backend() == "cpu":
        # on the CPU the Transformer runs a few paths at a time and recomputes each slice in
        # the backward pass (models/transformer.py), so XLA holds far less than the whole
        # batch's attention: the estimate, made for the unsliced layout, is an upper bound
        assert estimate >= 0.5 * xla, (estimate, xla)
    else:
        assert 0.5 * xla <= estimate <= 3 * xla, (estimate, xla)
    # and the whole run's estimate scales with the batch and the length
    base = training_bytes(cfg, 1, 1, 1)
    longer = cfg.model_copy(update=dict(train=cfg.train.model_copy(update=dict(length=2000))))
    assert training_bytes(longer, 1, 1, 1) >= 10 * base * 0.99


def test_a_tight_limit_refuses_a_default_run_and_names_it(monkeypatch):
    monkeypatch.setenv("LAGNET_MEMORY_LIMIT", "1M")
    with pytest.raises(LagnetError, match=r"^train\.batch: 128 — .*more than the 1\.0 MB"):
        build_task(make_config())
    monkeypatch.setenv("LAGNET_MEMORY_LIMIT", "100G")
    build_task(make_config())


def test_an_accelerators_limit_is_named_in_the_refusal():
    with pytest.raises(LagnetError, match=r"2\.0 GB of memory, more than the 1\.0 GB .*\(80% of"):
        check("train.batch", 5, 2e9, "training", (10**9, "80% of the free memory of a GPU"))
    assert device_limit("cpu") is None  # the host's limit serves the CPU


@pytest.mark.slow
def test_eval_on_a_huge_test_set_is_refused(tiny_run):
    res = runner.invoke(app, ["eval", str(tiny_run), "--paths", "100000000", "--length", "1000"])
    assert "TB of memory" in _one_line(res, "paths")  # the option as given
    assert not (tiny_run / "evaluations.json").exists()


def test_a_data_file_larger_than_memory_is_refused(tmp_path, monkeypatch):
    (tmp_path / "d.csv").write_text("x\n" + "1.25\n" * 2000)  # 10 kB of text
    monkeypatch.setenv("LAGNET_MEMORY_LIMIT", "50k")
    with pytest.raises(LagnetError) as err:
        DataProcess(DataConfig(path=str(tmp_path / "d.csv")))
    assert str(err.value).startswith(f"process.path: {tmp_path / 'd.csv'} — reading this file")
    assert "80.0 kB" in str(err.value)


# ----------------------------------------------------------------------------- writing
def _simulate(out):
    return runner.invoke(
        app,
        ["simulate", "--process", "ar1(rho=0.1)", "--paths", "3", "--length", "5"]
        + ["--out", str(out)],
    )


def test_an_unwritable_location_leaves_nothing(tmp_path):
    (tmp_path / "file").write_text("")
    assert "is a file, not a folder" in _one_line(_simulate(tmp_path / "file" / "p.npz"), "out")
    # /proc refuses new files even to root
    assert "cannot write it" in _one_line(_simulate("/proc/lagnet-test.csv"), "out")
    assert not os.path.exists("/proc/lagnet-test.csv")
    # a device is not a file: /dev/full (behind a link) is never replaced by a rename
    (tmp_path / "full.npz").symlink_to("/dev/full")
    assert "not a regular file" in _one_line(_simulate(tmp_path / "full.npz"), "out")
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)
    assert not any(n.startswith(".full") for n in os.listdir("/dev"))
    assert sorted(os.listdir(tmp_path)) == ["file", "full.npz"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through permissions")
def test_a_read_only_directory_leaves_nothing(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        _one_line(_simulate(ro / "p.npz"), "out")
        assert os.listdir(ro) == []
    finally:
        ro.chmod(0o700)


NO_JAX_CACHE = {k: v for k, v in os.environ.items() if k != "JAX_COMPILATION_CACHE_DIR"}


def _lagnet_on_a_full_disk(args: list[str], env: dict) -> subprocess.CompletedProcess:
    """A file-size limit (RLIMIT_FSIZE) stands in for a full disk: writes past it fail as a
    full disk's do, for root too."""
    code = (
        "import resource, runpy, signal, sys; "
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "  # a failed write, not a kill
        "resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000)); "
        f"sys.argv = ['lagnet', *{args!r}]; "
        "runpy.run_module('lagnet', run_name='__main__')"
    )
    env = {**NO_JAX_CACHE, "JAX_PLATFORMS": "cpu", **env}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".npz", ".csv"])
def test_a_full_disk_leaves_no_partial_file(suffix, tmp_path):
    out = tmp_path / f"p{suffix}"
    args = ["simulate", "--process", "ar1(rho=0.1)", "--paths", "200", "--length", "200"]
    # no compilation cache either: its writes would meet the same limit
    res = _lagnet_on_a_full_disk([*args, "--out", str(out)], {"LAGNET_CACHE": "0"})
    lines = [ln for ln in (res.stdout + res.stderr).splitlines() if ln.strip()]
    assert res.returncode == 2 and len(lines) == 1, res.stdout + res.stderr
    assert lines[0].startswith(f"error: out: {out} — cannot write it")
    assert os.listdir(tmp_path) == []


@pytest.mark.slow
def test_a_full_disk_stops_a_run_in_one_line_and_the_compilation_cache_is_quiet(tmp_path):
    """lagnet's own compilation cache (in a fresh home) meets the full disk first: its entries
    cannot be written. That is not said; the run stops at the weights it cannot write, in one
    line, and is marked failed."""
    import matplotlib

    out = tmp_path / "run"
    args = ["train", "--process", "ar1(rho=0.1)", "--target", "x[t]**2", "--steps", "2"]
    args += ["--batch", "8", "--out", str(out)]
    # matplotlib's font cache stays where it is: only the compilation cache is new
    env = {"XDG_CACHE_HOME": str(tmp_path / "home"), "MPLCONFIGDIR": matplotlib.get_cachedir()}
    res = _lagnet_on_a_full_disk(args, {**env, "LAGNET_CACHE": "1"})
    assert res.returncode == 2, res.stdout + res.stderr
    *said, last = res.stderr.splitlines()
    assert last == f"error: out: {out / 'model.safetensors'} — cannot write it (File too large)"
    assert [ln.split()[0] for ln in said] == ["lagnet", "train"], res.stderr  # and no more
    assert "Warning" not in res.stdout + res.stderr and "Traceback" not in res.stdout
    assert json.loads((out / "status.json").read_text())["status"] == "failed"
    assert not list(out.glob(".*.tmp")) and not (out / "model.safetensors").exists()
    assert list((tmp_path / "home" / "lagnet" / "jax").iterdir())  # entries cut short


def test_entries_cut_short_are_read_quietly_too():
    """The next run reads the entries a full disk cut short: JAX's warning (its text as JAX
    0.10 words it) is not said either; other warnings are."""
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        quiet_cache_warnings()
        warnings.warn(
            "Error reading persistent compilation cache entry for 'jit_wrapped': error: "
            "Error -5 while decompressing data: incomplete or truncated stream",
            stacklevel=2,
        )
        warnings.warn(
            "Error writing persistent compilation cache entry for 'jit_f': OSError", stacklevel=2
        )
        warnings.warn("something else", stacklevel=2)
    assert [str(w.message) for w in seen] == ["something else"]


@pytest.mark.parametrize("what", ["plots", "report"])
def test_a_full_disk_while_drawing_names_the_file_and_leaves_no_partial_one(what, tiny_run):
    """The plots and the report meet a full disk as the run's other files do (in this process:
    a lower soft limit on file size for the moment of the write, then the old one back)."""
    import resource
    import signal

    from lagnet.plots import save_plots
    from lagnet.report import write_report

    before = {p: p.stat().st_mtime_ns for p in tiny_run.rglob("*") if p.is_file()}
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failed write, not a kill
    resource.setrlimit(resource.RLIMIT_FSIZE, (1000, hard))
    try:
        with pytest.raises(LagnetError, match=r"cannot write it \(File too large\)") as err:
            save_plots(tiny_run) if what == "plots" else write_report(tiny_run)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, handler)
    name = "vs_input.png" if what == "plots" else "report.html"  # the first file written
    assert err.value.field == "out" and err.value.value.endswith(name)
    after = {p: p.stat().st_mtime_ns for p in tiny_run.rglob("*") if p.is_file()}
    assert after == before  # nothing half-written, nothing left beside
