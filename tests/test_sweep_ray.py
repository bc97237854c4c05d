"""A sweep on a real local Ray cluster (started here, loopback only, usage stats off): the same
metrics as the local pool, the run directories shipped back to the driver, and a worker killed
with SIGKILL mid-point retried."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

import lagnet as lg
from children import child_env, start
from lagnet.rundir import read_status
from test_sweep import read_rows, tiny_spec, write_spec

pytestmark = pytest.mark.slow
RAY = Path(sys.executable).with_name("ray")
PORT = "6391"


@pytest.fixture(scope="module")
def cluster():
    if not RAY.exists():
        pytest.fail("ray is not installed: the test command installs lagnet[ray]")
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths have a limit
    env = child_env(RAY_USAGE_STATS_ENABLED="0", RAY_ENABLE_UV_RUN_RUNTIME_ENV="0")
    cmd = [str(RAY), "start", "--head", "--node-ip-address", "127.0.0.1", "--port", PORT,
           "--num-cpus", "2", "--include-dashboard=false", "--disable-usage-stats",
           f"--temp-dir={temp}"]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    try:
        yield f"127.0.0.1:{PORT}"
    finally:
        subprocess.run([str(RAY), "stop", "--force"], env=env, capture_output=True, timeout=120)
        shutil.rmtree(temp, ignore_errors=True)


def test_ray_gives_the_pool_s_metrics_and_retries_a_killed_worker(cluster, tmp_path):
    spec = tiny_spec(grid={"target.params.w": [0.0, 0.5]}, seeds=[0])
    spec["base"]["train"]["steps"] = 300
    path = write_spec(tmp_path / "s.toml", spec)
    pool = lg.sweep(spec, tmp_path / "pool", workers=2, pack=False)
    assert [r["status"] for r in pool.rows] == ["complete", "complete"]

    out = tmp_path / "ray"
    victim = pool.rows[1]["id"]
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    proc = start("sweep", str(path), "--out", str(out), "--ray", cluster, "--quiet", "--no-pack")
    killed, t0 = None, time.monotonic()
    while proc.poll() is None and killed is None:
        for status_file in glob.glob(f"{tempfile.gettempdir()}/lagnet-unit-*/{victim}/status.json"):
            status = read_status(Path(status_file).parent)
            if status and status["status"] == "running":
                os.kill(status["pid"], signal.SIGKILL)
                killed = status["pid"]
                break
        assert time.monotonic() - t0 < 600
        time.sleep(0.05)
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stdout[-2000:] + stderr[-3000:]
    assert killed is not None, "the point finished before its worker could be killed"

    rows = {r["id"]: r for r in read_rows(out / "sweep.csv")}
    for r in pool.rows:
        got = rows[r["id"]]
        assert got["status"] == "complete"
        for m in ("test.mse", "test.r2"):
            assert float(got[m]) == pytest.approx(r[m], rel=1e-6, abs=1e-9), (m, got[m], r[m])
        # the run directory came back to the driver, with its report
        assert (out / "points" / r["id"] / "report.html").is_file()
        assert read_status(out / "points" / r["id"])["status"] == "complete"
