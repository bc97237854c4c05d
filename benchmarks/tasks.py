"""Every named task trained with its recommended defaults, through the CLI a user would type:

    .venv/bin/python benchmarks/tasks.py [--tasks narma10,adding] [--out benchmarks/results/tasks]

For each task it runs ``lagnet train --task NAME --out DIR --quiet`` in a fresh process (so the
time includes start-up and compilation, as a user sees it), then reads the run's metrics and
prints a Markdown table: test R², NRMSE, memory_r2, the memoryless baseline's R², steps, the
training time and the whole command's wall time. Results are written to
``benchmarks/results/tasks.json`` and ``tasks.md``.

``--smoke`` runs the same command at a tiny size (``--set`` 10 steps of 8 paths, 16 validation
and test paths) for one task (``ar1-square-lag``, or ``--tasks``) and writes tasks.json and
tasks.md under ``--out`` (default: a new temporary directory), not into benchmarks/results. It
checks that the script and the CLI still work together; it exits 1 if a task failed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# --smoke: the same command at a tiny size, for one task
SMOKE_TASKS = "ar1-square-lag"
SMOKE_SETS = [
    "train.steps=10",
    "train.batch=8",
    "train.val_every=5",
    "train.val_paths=16",
    "train.pilot_paths=16",
    "eval.test_paths=16",
    "eval.long_paths=4",
    "eval.baseline_paths=16",
]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--tasks", default=None, help=f"comma-separated (default: all; with --smoke {SMOKE_TASKS})"
    )
    ap.add_argument(
        "--out",
        default=None,
        help="run directories (default /tmp/lagnet-bench-tasks;"
        " with --smoke a new temporary directory, which "
        "also gets tasks.json and tasks.md)",
    )
    ap.add_argument(
        "--smoke",
        action="store_true",
        help="a quick check at a tiny size: one task, 10 steps of 8 paths",
    )
    args = ap.parse_args()
    if args.tasks is None and args.smoke:
        args.tasks = SMOKE_TASKS
    if args.tasks is None:
        from lagnet.registry import TASKS  # importing lagnet takes seconds: only when needed

        args.tasks = ",".join(TASKS)
    if args.out is None:
        args.out = (
            tempfile.mkdtemp(prefix="lagnet-tasks-smoke-")
            if args.smoke
            else "/tmp/lagnet-bench-tasks"
        )
    names = [t for t in args.tasks.split(",") if t]
    script = ROOT / ".venv" / "bin" / "lagnet"
    lagnet = [str(script)] if script.exists() else [sys.executable, "-m", "lagnet"]
    sets = [f"--set={s}" for s in SMOKE_SETS] if args.smoke else []
    rows = []
    for name in names:
        out = Path(args.out) / name
        t0 = time.perf_counter()
        proc = subprocess.run(
            [*lagnet, "train", "--task", name, "--out", str(out), "--quiet", *sets],
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            rows.append(
                dict(task=name, error=(proc.stderr or proc.stdout).strip()[-300:], wall_s=wall)
            )
            print(f"{name}: FAILED ({proc.returncode}) {rows[-1]['error']}", flush=True)
            continue
        m = json.loads((out / "metrics.json").read_text())
        test, base, train = m["test"], m["baselines"], m["train"]
        rows.append(
            dict(
                task=name,
                model=m["model"]["kind"],
                r2=test["r2"],
                nrmse=test["nrmse"],
                memory_r2=test["memory_r2"],
                memoryless_r2=base["memoryless"]["r2"],
                steps=train.get("steps"),
                train_s=train.get("seconds"),
                wall_s=wall,
            )
        )
        print(json.dumps(rows[-1]), flush=True)

    head = (
        f"`{' '.join(sys.argv)}` — {platform.machine()}, {os.cpu_count()} cores, "
        f"{platform.python_version()}, {time.strftime('%Y-%m-%d')}"
    )
    lines = [
        head,
        "",
        "| task | model | test R² | NRMSE | memory_r2 | memoryless R² | steps | "
        "train s | command s |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    f = lambda v, p=4: "n/a" if v is None else f"{v:.{p}f}"  # noqa: E731
    for r in rows:
        if "error" in r:
            lines.append(
                f"| {r['task']} | failed: {r['error'][:80]} | | | | | | | {r['wall_s']:.0f} |"
            )
            continue
        lines.append(
            f"| {r['task']} | {r['model']} | {f(r['r2'])} | {f(r['nrmse'])} | "
            f"{f(r['memory_r2'], 3)} | {f(r['memoryless_r2'])} | {r['steps']} | "
            f"{r['train_s']:.0f} | {r['wall_s']:.0f} |"
        )
    table = "\n".join(lines)
    print(table)
    res = Path(args.out) if args.smoke else ROOT / "benchmarks" / "results"
    res.mkdir(parents=True, exist_ok=True)
    (res / "tasks.json").write_text(
        json.dumps(dict(command=" ".join(sys.argv), rows=rows), indent=2)
    )
    (res / "tasks.md").write_text(table + "\n")
    if args.smoke:
        failed = [r["task"] for r in rows if "error" in r or r.get("r2") is None]
        print(
            f"wrote {res / 'tasks.json'}\nsmoke: "
            + (f"FAILED ({', '.join(failed)})" if failed else f"OK ({len(rows)} task(s))")
        )
        return 1 if failed else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
