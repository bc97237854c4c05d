"""Work lost to kill -9: the forum task with a 60 s budget, killed with SIGKILL 5 times at
random moments and resumed each time with `lagnet train --resume`.

    .venv/bin/python benchmarks/kill_resume.py [--kills 5 --max-seconds 60 --checkpoint-seconds 10]

Each session is killed at a random moment 0.5–2.5 checkpoint intervals after it starts. Work
lost per kill = the kill's time minus the time of the checkpoint it resumes from (the
checkpoint file's modification time; the session's start, start-up included, when it had
written none yet). The promise:
at most ``train.checkpoint_seconds`` plus one chunk of steps. ``--smoke``: 2 kills of a tiny
run, to check the script works.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--hidden", "6", "--batch", "16", "--length", "15", "--set", "train.val_every=20",
        "--set", "train.val_paths=32", "--set", "train.pilot_paths=32",
        "--set", "eval.test_paths=40", "--set", "eval.baseline_paths=60",
        "--set", "eval.long_paths=5"]  # fmt: skip


def start(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "lagnet", *args], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--kills", type=int, default=5)
    p.add_argument("--max-seconds", type=float, default=60.0)
    p.add_argument("--checkpoint-seconds", type=float, default=10.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--smoke", action="store_true")
    a = p.parse_args()
    if a.smoke:
        a.kills, a.max_seconds, a.checkpoint_seconds = 2, 6.0, 1.0
    print("#", " ".join(sys.argv), f"| {platform.machine()} {os.cpu_count()} cores |",
          time.strftime("%Y-%m-%d %H:%M"))  # fmt: skip
    rng = random.Random(a.seed)
    out = Path(tempfile.mkdtemp(prefix="lagnet-kill-")) / "run"
    args = ["--process", "ar1(rho=0.1)", "--target", "x[t]**2 + 0.1*x[t-1]**2",
            "--max-seconds", str(a.max_seconds), "--steps", "1000000", "--quiet",
            "--set", f"train.checkpoint_seconds={a.checkpoint_seconds}",
            *(TINY if a.smoke else [])]  # fmt: skip
    t0 = time.time()
    proc = start("train", *args, "--out", str(out))
    lost = []
    for _ in range(a.kills):
        while not (out / "status.json").exists():  # wait for training to begin
            time.sleep(0.05)
        started = json.loads((out / "status.json").read_text())["updated"]
        # a random moment: between half a checkpoint interval and two and a half of them
        time.sleep(rng.uniform(0.5, 2.5) * a.checkpoint_seconds)
        if proc.poll() is not None:
            break
        proc.send_signal(signal.SIGKILL)
        killed = time.time()
        proc.wait()
        ckpt = out / "checkpoint.safetensors"
        since = (
            ckpt.stat().st_mtime if ckpt.exists() and ckpt.stat().st_mtime > started else started
        )
        lost.append(killed - since)
        print(json.dumps(dict(kill=len(lost), lost_seconds=round(killed - since, 2),
                              checkpoint=ckpt.exists())), flush=True)  # fmt: skip
        proc = start("train", "--resume", str(out))
        while (out / "status.json").exists() and json.loads((out / "status.json").read_text()).get(
            "pid"
        ) != proc.pid:
            time.sleep(0.05)
    proc.wait()
    metrics = json.loads((out / "metrics.json").read_text())
    print(json.dumps(dict(
        kills=len(lost), max_lost_seconds=round(max(lost, default=0.0), 2),
        mean_lost_seconds=round(sum(lost) / max(len(lost), 1), 2),
        bound_seconds=f"checkpoint_seconds {a.checkpoint_seconds} + one chunk",
        steps=metrics["train"]["steps"], memory_r2=metrics["test"]["memory_r2"],
        wall_seconds=round(time.time() - t0, 1), exit=proc.returncode,
    )))  # fmt: skip


if __name__ == "__main__":
    main()
