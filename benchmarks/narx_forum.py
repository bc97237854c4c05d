"""The forum's AR(1) question answered in closed form: how fast does NARX recover
f = x_t² + 0.1·x_{t-1}², and how exactly?

    .venv/bin/python benchmarks/narx_forum.py [--repeats 3]

Measured three ways, each printing the fit time lagnet reports (``metrics.train.seconds``:
held-out sample, training sample, FROLS, validation), the test MSE on 1000 held-out paths
and the recovered formula:

* ``cli``: ``lagnet train --model narx`` as a fresh process, ``--repeats`` times with a fresh,
  empty compilation cache for the first run (``cold``) and that cache for the rest (``cache``);
  ``wall`` is the whole command (Python start, import, fit, evaluation, plots, report).
* ``in-process``: ``lagnet.fitting.fit`` twice in one process; the second call finds every
  computation compiled (``warm``), which is the cost of the fit itself.

``--smoke`` runs the same measurements at a tiny size (one CLI run; 16 paths of 21 steps for
training, validation and test) in a temporary directory (or ``--out``). It checks that
the script, the CLI and the fit still work together; the timing lines are printed but not
judged, and it exits 0 when the formula was recovered exactly.
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

FORMULA = "x[t]**2 + 0.1*x[t-1]**2"
ROOT = Path(__file__).resolve().parent.parent


# --smoke: the same runs at a tiny size (dotted settings; the CLI gets them as --set)
SMOKE = {
    "train.length": 21,
    "train.batch": 8,
    "train.val_paths": 16,
    "train.pilot_paths": 16,
    "eval.test_paths": 16,
    "eval.long_paths": 4,
    "eval.long_factor": 2,
    "eval.baseline_paths": 16,
}


def cli_run(out: Path, cache: Path, sets: dict | None = None) -> dict:
    script = Path(sys.executable).parent / "lagnet"
    start = (
        [str(script)]
        if script.exists()
        else [sys.executable, "-c", "from lagnet.cli import app; app()"]
    )
    cmd = [
        *start,
        "train",
        "--process",
        "ar1(rho=0.1)",
        "--target",
        FORMULA,
        "--model",
        "narx",
        "--quiet",
        "--out",
        str(out),
    ]
    cmd += [f"--set={k}={v}" for k, v in (sets or {}).items()]
    env = dict(os.environ, XDG_CACHE_HOME=str(cache))
    env.pop("LAGNET_CACHE", None)
    env.pop("JAX_COMPILATION_CACHE_DIR", None)  # lagnet's cache in `cache`, not another
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, cwd=ROOT)
    wall = time.perf_counter() - t0
    m = json.loads((out / "metrics.json").read_text())
    return dict(
        fit_s=m["train"]["seconds"],
        wall_s=wall,
        test_mse=m["test"]["mse"],
        formula=m["train"]["formula"],
    )


def in_process(sets: dict | None = None) -> list[dict]:
    from lagnet.config import merge
    from lagnet.fitting import fit
    from lagnet.tasks import build_task

    cfg, _ = merge(
        values={
            "process": "ar1(rho=0.1)",
            "target.formula": FORMULA,
            "model.kind": "narx",
            **(sets or {}),
        }
    )
    task = build_task(cfg)
    rows = []
    for label in ("first", "warm"):
        t0 = time.perf_counter()
        r = fit(cfg, task)
        rows.append(
            dict(
                run=f"in-process {label}",
                fit_s=time.perf_counter() - t0,
                wall_s=None,
                test_mse=None,
                val_mse=r.info["best_val_mse"],
                formula=r.info["formula"],
            )
        )
    return rows


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument(
        "--smoke",
        action="store_true",
        help="a quick check at a tiny size: one CLI run, 16 paths of 21 steps",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="where to keep the run directories (default: a temporary directory)",
    )
    a = p.parse_args()
    sets = SMOKE if a.smoke else None
    if a.smoke and a.repeats == p.get_default("repeats"):
        a.repeats = 1
    import jax

    print(f"# {' '.join([os.path.basename(sys.executable)] + sys.argv)}")
    print(
        f"# {platform.machine()} cpus={len(os.sched_getaffinity(0))} jax={jax.__version__} "
        f"backend={jax.default_backend()} {time.strftime('%Y-%m-%d %H:%M')}"
    )
    print(f"# lagnet train --process 'ar1(rho=0.1)' --target '{FORMULA}' --model narx --quiet")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        where = a.out or Path(tmp)
        for i in range(a.repeats):
            row = cli_run(where / f"run{i}", where / "cache", sets)
            rows.append(dict(run=f"cli {'cold' if i == 0 else 'cache'}", val_mse=None, **row))
            print(json.dumps(rows[-1]), flush=True)
    rows += in_process(sets)
    print(json.dumps(rows[-2]), json.dumps(rows[-1]), sep="\n")

    def fmt(v):
        return "—" if v is None else f"{v:.3g}" if isinstance(v, float) else str(v)

    cols = ["run", "fit_s", "wall_s", "test_mse", "val_mse", "formula"]
    print("\n| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(fmt(r[c]) for c in cols) + " |")
    exact = all(r["formula"] == FORMULA for r in rows)
    exact &= all(r["test_mse"] is None or r["test_mse"] <= 1e-10 for r in rows)
    fast = min(r["fit_s"] for r in rows if r["run"].startswith("cli")) <= 1.0
    warm = rows[-1]["fit_s"] <= 1.0
    print(f"\nexact recovery (formula, test MSE ≤ 1e-10): {'PASS' if exact else 'FAIL'}")
    print(
        f"fit ≤ 1 s, best CLI run: {'PASS' if fast else 'FAIL'}; "
        f"in-process warm: {'PASS' if warm else 'FAIL'}"
        + (" (timings not judged with --smoke)" if a.smoke else "")
    )
    if a.smoke:
        return 0 if exact else 1
    return 0 if exact and fast else 1


if __name__ == "__main__":
    sys.exit(main())
