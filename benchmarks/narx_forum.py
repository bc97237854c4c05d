"""The forum's AR(1) question answered in closed form: how fast does NARX recover
f = x_t² + 0.1·x_{t-1}², and how exactly?

    .venv/bin/python benchmarks/narx_forum.py [--repeats 3]

Measured three ways, each printing the fit time lagnet reports (``metrics.train.seconds``:
held-out sample, training sample, FROLS, validation), the test MSE on 1000 held-out paths
and the recovered formula:

* ``cli``: ``lagnet train --model narx`` as a fresh process, ``--repeats`` times with a fresh,
  empty compilation cache for the first run (``cold``) and that cache for the rest (``cache``);
  ``wall`` is the whole command (Python start, import, fit, evaluation, plots, report).
* ``in-process``: ``training.fit`` twice in one process; the second call finds every
  computation compiled (``warm``), which is the cost of the fit itself.
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


def cli_run(out: Path, cache: Path) -> dict:
    script = Path(sys.executable).parent / "lagnet"
    start = [str(script)] if script.exists() else [sys.executable, "-c",
                                                   "from lagnet.cli import app; app()"]
    cmd = [*start, "train", "--process", "ar1(rho=0.1)", "--target", FORMULA, "--model", "narx",
           "--quiet", "--out", str(out)]
    env = dict(os.environ, XDG_CACHE_HOME=str(cache))
    env.pop("LAGNET_CACHE", None)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, cwd=ROOT)
    wall = time.perf_counter() - t0
    m = json.loads((out / "metrics.json").read_text())
    return dict(fit_s=m["train"]["seconds"], wall_s=wall, test_mse=m["test"]["mse"],
                formula=m["train"]["formula"])


def in_process() -> list[dict]:
    from lagnet.config import make_config
    from lagnet.tasks import build_task
    from lagnet.training import fit

    cfg = make_config(dict(process="ar1(rho=0.1)", target=dict(formula=FORMULA),
                           model=dict(kind="narx")))
    task = build_task(cfg)
    rows = []
    for label in ("first", "warm"):
        t0 = time.perf_counter()
        r = fit(cfg, task)
        rows.append(dict(run=f"in-process {label}", fit_s=time.perf_counter() - t0,
                         wall_s=None, test_mse=None, val_mse=r.info["best_val_mse"],
                         formula=r.info["formula"]))
    return rows


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args()
    import jax

    print(f"# {' '.join([os.path.basename(sys.executable)] + sys.argv)}")
    print(f"# {platform.machine()} cpus={len(os.sched_getaffinity(0))} jax={jax.__version__} "
          f"backend={jax.default_backend()} {time.strftime('%Y-%m-%d %H:%M')}")
    print(f"# lagnet train --process 'ar1(rho=0.1)' --target '{FORMULA}' --model narx --quiet")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(a.repeats):
            row = cli_run(Path(tmp) / f"run{i}", Path(tmp) / "cache")
            rows.append(dict(run=f"cli {'cold' if i == 0 else 'cache'}", val_mse=None, **row))
            print(json.dumps(rows[-1]), flush=True)
    rows += in_process()
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
    print(f"fit ≤ 1 s, best CLI run: {'PASS' if fast else 'FAIL'}; "
          f"in-process warm: {'PASS' if warm else 'FAIL'}")
    return 0 if exact and fast else 1


if __name__ == "__main__":
    sys.exit(main())
