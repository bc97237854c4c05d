"""Every named task trained with its recommended defaults, through the CLI a user would type:

    .venv/bin/python benchmarks/tasks.py [--tasks narma10,adding] [--out benchmarks/results/tasks]

For each task it runs ``lagnet train --task NAME --out DIR --quiet`` in a fresh process (so the
time includes start-up and compilation, as a user sees it), then reads the run's metrics and
prints a Markdown table: test R², NRMSE, memory_r2, the memoryless baseline's R², steps, the
training time and the whole command's wall time. Results are written to
``benchmarks/results/tasks.json`` and ``tasks.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    from lagnet.registry import TASKS

    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", default=",".join(TASKS))
    ap.add_argument("--out", default="/tmp/lagnet-bench-tasks")
    args = ap.parse_args()
    names = [t for t in args.tasks.split(",") if t]
    lagnet = str(ROOT / ".venv" / "bin" / "lagnet")
    rows = []
    for name in names:
        out = Path(args.out) / name
        t0 = time.perf_counter()
        proc = subprocess.run([lagnet, "train", "--task", name, "--out", str(out), "--quiet"],
                              capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            rows.append(dict(task=name, error=(proc.stderr or proc.stdout).strip()[-300:], wall_s=wall))
            print(f"{name}: FAILED ({proc.returncode}) {rows[-1]['error']}", flush=True)
            continue
        m = json.loads((out / "metrics.json").read_text())
        cfg = (out / "config.toml").read_text()
        test, base, train = m["test"], m["baselines"], m["train"]
        rows.append(dict(task=name, model=m["model"]["kind"], r2=test["r2"], nrmse=test["nrmse"],
                         memory_r2=test["memory_r2"], memoryless_r2=base["memoryless"]["r2"],
                         steps=train.get("steps"), train_s=train.get("seconds"), wall_s=wall))
        print(json.dumps(rows[-1]), flush=True)

    head = (f"`{' '.join(sys.argv)}` — {platform.machine()}, {os.cpu_count()} cores, "
            f"{platform.python_version()}, {time.strftime('%Y-%m-%d')}")
    lines = [head, "", "| task | model | test R² | NRMSE | memory_r2 | memoryless R² | steps | "
             "train s | command s |", "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    f = lambda v, p=4: "n/a" if v is None else f"{v:.{p}f}"  # noqa: E731
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['task']} | failed: {r['error'][:80]} | | | | | | | {r['wall_s']:.0f} |")
            continue
        lines.append(f"| {r['task']} | {r['model']} | {f(r['r2'])} | {f(r['nrmse'])} | "
                     f"{f(r['memory_r2'], 3)} | {f(r['memoryless_r2'])} | {r['steps']} | "
                     f"{r['train_s']:.0f} | {r['wall_s']:.0f} |")
    table = "\n".join(lines)
    print(table)
    res = ROOT / "benchmarks" / "results"
    res.mkdir(parents=True, exist_ok=True)
    (res / "tasks.json").write_text(json.dumps(dict(command=" ".join(sys.argv), rows=rows), indent=2))
    (res / "tasks.md").write_text(table + "\n")


if __name__ == "__main__":
    main()
