"""Budgets spent well: the commands a user types with ``--max-seconds`` and nothing else set,
each in a fresh process, timed whole (start-up, compilation, training, test, plots, report).

    .venv/bin/python benchmarks/budgets.py                       # every part, 3 seeds
    .venv/bin/python benchmarks/budgets.py --parts forum,narma --seeds 0,1,2
    .venv/bin/python benchmarks/budgets.py --smoke               # tiny, to check the script

Parts (each row: the command, its wall time, the run's steps and test metric):

- ``forum``: ``lagnet train --process "ar1(rho=0.1)" --target "x[t]**2 + W*x[t-1]**2"
  --max-seconds 10`` for W = 0.1, 0.5, 1 (memory_r2); first once with an empty compilation
  cache (the cold time), then every seed with the caches warm (compilation and bytecode);
- ``narma``: ``lagnet train --task narma10 --max-seconds 60`` (NRMSE), and once at 300 s;
- ``lru``: ``lagnet train --task T --model M --max-seconds 60`` for T = adding, narma10 and
  M = gru, lru (NRMSE);
- ``transformer``: ``lagnet train --process "ar1(rho=0.1)" --target "x[t]**2 + 0.1*x[t-1]**2"
  --model transformer --max-seconds 60`` (memory_r2, and the whole command's time).

Writes one JSON line per run to ``--out/budgets.jsonl`` and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FORUM = ["--process", "ar1(rho=0.1)", "--target", "x[t]**2 + {w}*x[t-1]**2"]
SMOKE_SETS = [
    "train.steps=10",
    "train.val_every=5",
    "train.val_paths=16",
    "train.pilot_paths=16",
    "eval.test_paths=16",
    "eval.long_paths=4",
    "eval.baseline_paths=16",
]


def commands(parts: list[str], seeds: list[int]) -> list[tuple[str, list[str], str, dict]]:
    """(part, arguments after ``lagnet train``, the metric to read, extra) per run."""
    runs = []
    if "forum" in parts:
        for w in ("0.1", "0.5", "1"):
            args = [a.format(w=w) for a in FORUM] + ["--max-seconds", "10"]
            runs.append(("forum", args + ["--seed", str(seeds[0])], "memory_r2", {"cold": True}))
            for s in seeds:
                runs.append(("forum", args + ["--seed", str(s)], "memory_r2", {}))
    if "narma" in parts:
        for s in seeds:
            runs.append(
                (
                    "narma",
                    ["--task", "narma10", "--max-seconds", "60", "--seed", str(s)],
                    "nrmse",
                    {},
                )
            )
        runs.append(("narma", ["--task", "narma10", "--max-seconds", "300"], "nrmse", {}))
    if "lru" in parts:
        for task in ("adding", "narma10"):
            for model in ("gru", "lru"):
                for s in seeds:
                    args = ["--task", task, "--model", model, "--max-seconds", "60"]
                    runs.append(("lru", args + ["--seed", str(s)], "nrmse", {}))
    if "transformer" in parts:
        for s in seeds:
            args = [a.format(w="0.1") for a in FORUM]
            args += ["--model", "transformer", "--max-seconds", "60", "--seed", str(s)]
            runs.append(("transformer", args, "memory_r2", {}))
    return runs


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--parts", default="forum,narma,lru,transformer")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--out", default=None, help="default: a new temporary directory")
    ap.add_argument("--smoke", action="store_true", help="one forum run, 10 steps")
    args = ap.parse_args()
    out = Path(args.out or tempfile.mkdtemp(prefix="lagnet-budgets-"))
    out.mkdir(parents=True, exist_ok=True)
    parts = ["forum"] if args.smoke else args.parts.split(",")
    seeds = [0] if args.smoke else [int(s) for s in args.seeds.split(",")]
    runs = commands(parts, seeds)
    if args.smoke:
        runs = [(p, a + [f"--set={s}" for s in SMOKE_SETS], m, {}) for p, a, m, _ in runs[1:2]]
    script = ROOT / ".venv" / "bin" / "lagnet"
    lagnet = [str(script)] if script.exists() else [sys.executable, "-m", "lagnet"]
    print(f"command: {' '.join([sys.executable, *sys.argv])}")
    print(f"machine: {platform.platform()}  {os.cpu_count()} CPUs")
    print(f"date: {datetime.now(timezone.utc).isoformat(timespec='seconds')}")
    rows = []
    for i, (part, cmd, metric, extra) in enumerate(runs):
        env = dict(os.environ)
        # Warm means every cache a user's second run has, Python's bytecode included (this
        # workplace's shells set PYTHONDONTWRITEBYTECODE; a user's Python writes .pyc files).
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        if extra.get("cold"):  # an empty cache: lagnet's, and none configured for JAX
            env["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="lagnet-cold-cache-")
            env.pop("JAX_COMPILATION_CACHE_DIR", None)
        run_dir = out / f"run{i:02d}"
        t0 = time.perf_counter()
        proc = subprocess.run(
            [*lagnet, "train", *cmd, "--out", str(run_dir), "--quiet"],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
        )
        wall = time.perf_counter() - t0
        if run_dir.is_dir():  # what the user saw, for the docs
            (run_dir / "command-output.txt").write_text(proc.stderr + proc.stdout)
        row = dict(part=part, command="lagnet train " + " ".join(cmd), wall=round(wall, 1))
        row["cache"] = "cold" if extra.get("cold") else "warm"
        row["load"] = round(os.getloadavg()[0], 2)  # the machine's 1-minute load after the run
        if proc.returncode != 0:
            row["error"] = (proc.stderr or proc.stdout).strip().splitlines()[-1:]
        else:
            m = json.loads((run_dir / "metrics.json").read_text())
            row.update(
                metric=metric,
                value=m["test"][metric],
                steps=m["train"]["steps"],
                train_s=round(m["train"]["seconds"], 1),
                picked=[ln for ln in proc.stderr.splitlines() if "budget table" in ln][:1],
            )
        rows.append(row)
        print(json.dumps(row), flush=True)
        with open(out / "budgets.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")
    print()
    print("| part | command | cache | steps | train s | command s | metric |")
    print("|---|---|---|---:|---:|---:|---|")
    for r in rows:
        value = f"{r['metric']} {r['value']:.4g}" if "value" in r else f"error {r['error']}"
        print(
            f"| {r['part']} | `{r['command']}` | {r['cache']} | {r.get('steps', '')} | "
            f"{r.get('train_s', '')} | {r['wall']} | {value} |"
        )
    groups: dict[tuple, list] = {}
    for r in rows:
        if "value" in r and r["cache"] == "warm":
            key = (r["part"], r["command"].rsplit(" --seed", 1)[0])
            groups.setdefault(key, []).append(r)
    print()
    print("| part | command | runs | median metric | median command s |")
    print("|---|---|---:|---:|---:|")
    for (part, cmd), rs in groups.items():
        print(
            f"| {part} | `{cmd}` | {len(rs)} | "
            f"{statistics.median(r['value'] for r in rs):.4g} | "
            f"{statistics.median(r['wall'] for r in rs):.1f} |"
        )
    failed = [r for r in rows if "error" in r]
    if args.smoke:
        print("smoke: OK" if not failed else "smoke: FAILED")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
