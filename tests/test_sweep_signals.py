"""A sweep on a local pool stopped by SIGTERM (a cluster's preemption) stops as one run does:
its busy workers are given the signal and time to checkpoint, each point they held is marked
interrupted with its checkpoint, and the driver exits 143. The driver had no handler: it died
at once, its workers were killed, and their points stayed "running" with no checkpoint, to be
trained again from their start by --resume."""

from __future__ import annotations

import signal
import time

import pytest

from children import start
from lagnet.rundir import read_status
from test_sweep import tiny_spec, write_spec


@pytest.mark.slow
def test_sigterm_stops_a_pooled_sweep_with_its_points_checkpointed(tmp_path):
    spec = tiny_spec(grid={"target.params.w": [0.0, 0.5]}, seeds=[0])
    spec["base"]["train"].update(steps=200_000, checkpoint_seconds=0.2)  # still training
    path = write_spec(tmp_path / "s.toml", spec)
    out = tmp_path / "sw"
    proc = start("sweep", str(path), "--out", str(out), "--workers", "2", "--quiet", "--no-pack")
    t0 = time.monotonic()
    while len(list((out / "points").glob("*/checkpoint.safetensors"))) < 2:
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        assert time.monotonic() - t0 < 240
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err[-2000:]
    points = sorted((out / "points").iterdir())
    assert len(points) == 2
    for p in points:
        assert read_status(p)["status"] == "interrupted", (p.name, read_status(p))
        assert (p / "checkpoint.safetensors").is_file()
