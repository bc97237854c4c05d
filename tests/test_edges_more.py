"""Edges a new user found: a Ray address nothing answers on, sweep options refused after the
bar was drawn (or not at all in a dry run), the documented ``split`` list in a process spec,
memory refusals that blamed a setting the command cannot change, corrupt run files, and what
``doctor --fix`` says it changed."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

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
