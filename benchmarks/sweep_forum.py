"""The forum question as a sweep (examples/forum_sweep.toml: w in {0, 0.1, 0.25, 0.5, 1} × 3
seeds, the default model, 1000 steps per point, evaluation included), four ways, side by side:

    commands   one `lagnet train` command after another (the formula with w written in)
    pool       `lagnet sweep --no-pack`: the local pool, one single-threaded worker per core
    pack       `lagnet sweep --pack`: same-shape points trained as one program
    default    `lagnet sweep` as it comes

    .venv/bin/python benchmarks/sweep_forum.py [--modes commands,pool,pack,default]

Every mode starts with an empty compilation cache of its own (a fresh XDG_CACHE_HOME), so none
inherits another's compiled programs; within a mode the cache is used as a user's would be.
Prints the wall time of each mode, its speed-up over `commands`, and the largest difference of
each point's test MSE from the `commands` run. ``--smoke``: 2 points of 20 steps, tiny model.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "examples" / "forum_sweep.toml"
SMOKE_SETS = [
    "model.hidden=4", "model.head=[4]", "train.batch=8", "train.length=12",
    "train.val_every=10", "train.val_paths=16", "train.pilot_paths=16",
    "eval.test_paths=20", "eval.baseline_paths=40", "eval.long_paths=4",
]  # fmt: skip


def lagnet(*args: str, env: dict) -> None:
    proc = subprocess.run([sys.executable, "-m", "lagnet", *args], env=env, capture_output=True,
                          text=True, cwd=ROOT)  # fmt: skip
    if proc.returncode not in (0, 1):
        raise SystemExit(f"lagnet {' '.join(args)} failed:\n{proc.stderr[-3000:]}")


def smoke_spec(tmp: Path) -> Path:
    import tomli_w

    from lagnet.sweeps.spec import load_spec

    spec = load_spec(SPEC)[0].model_dump(exclude_none=True)
    spec["seeds"], spec["grid"] = 1, {"target.params.w": [0.0, 0.5]}
    spec["base"]["train"] = dict(steps=20)
    for s in SMOKE_SETS:
        key, value = s.split("=")
        section, name = key.split(".")
        spec["base"].setdefault(section, {})[name] = json.loads(value)
    path = tmp / "spec.toml"
    path.write_text(tomli_w.dumps(spec))
    return path


def run_mode(mode: str, spec: Path, tmp: Path, smoke: bool) -> tuple[float, dict]:
    from lagnet.sweeps.outputs import read_csv
    from lagnet.sweeps.spec import load

    env = dict(os.environ, XDG_CACHE_HOME=str(tmp / f"cache-{mode}"))
    out = tmp / mode
    t0 = time.perf_counter()
    if mode == "commands":
        _, _, points = load(spec)
        for p in points:
            w = p.values["target.params.w"]
            sets = [a for s in (SMOKE_SETS if smoke else []) for a in ("--set", s)]
            lagnet(
                "train", "--process", "ar1(rho=0.1)", "--target", f"x[t]**2 + {w}*x[t-1]**2",
                "--steps", str(p.config.train.steps), "--seed", str(p.seed), "--quiet",
                "--out", str(out / p.id), *sets, env=env,
            )  # fmt: skip
        seconds = time.perf_counter() - t0
        mse = {
            p.id: json.loads((out / p.id / "metrics.json").read_text())["test"]["mse"]
            for p in points
        }
        return seconds, mse
    flags = {"pool": ["--no-pack"], "pack": ["--pack"], "default": []}[mode]
    lagnet("sweep", str(spec), "--out", str(out), "--quiet", *flags, env=env)
    seconds = time.perf_counter() - t0
    return seconds, {r["id"]: r["test.mse"] for r in read_csv(out / "sweep.csv")}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--modes", default="commands,pool,pack,default")
    p.add_argument("--smoke", action="store_true")
    p.add_argument("--keep", help="keep the runs in this folder")
    a = p.parse_args()
    print("#", " ".join(sys.argv), f"| {platform.machine()} {os.cpu_count()} cores |",
          time.strftime("%Y-%m-%d %H:%M"))  # fmt: skip
    tmp = Path(a.keep or tempfile.mkdtemp(prefix="lagnet-sweep-bench-"))
    tmp.mkdir(parents=True, exist_ok=True)
    spec = smoke_spec(tmp) if a.smoke else SPEC
    results = {}
    for mode in a.modes.split(","):
        seconds, mse = run_mode(mode, spec, tmp, a.smoke)
        results[mode] = (seconds, mse)
        base = results.get("commands")
        diff = None
        if base is not None:
            diff = max(abs(mse[k] - base[1][k]) / max(abs(base[1][k]), 1e-12) for k in mse)
        print(json.dumps(dict(
            mode=mode, points=len(mse), seconds=round(seconds, 1),
            speedup_vs_commands=None if base is None else round(base[0] / seconds, 2),
            max_rel_diff_test_mse_vs_commands=None if diff is None else float(f"{diff:.3g}"),
        )), flush=True)  # fmt: skip
    if not a.keep:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
