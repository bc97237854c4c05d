"""The optimum of every filtering task, on the task's own test paths; trains nothing.

    .venv/bin/python benchmarks/optimal_filters.py [--particles 100,250,...] [--pf-seeds 2]
    .venv/bin/python benchmarks/optimal_filters.py --train --max-seconds 60 [--seeds 1]

For ``noisy-ar-filter`` (Kalman filter), ``regime-filter`` (Hamilton filter), ``sv-filter``
(bootstrap particle filter) and ``garch-vol`` (GARCH recursion) it draws the test paths exactly
as ``lagnet train --task NAME`` scores a model (``eval.seed``, ``eval.test_paths``, the task's
length), fits the memoryless baseline as evaluation does, and prints per task: the optimal
filter's MSE, R² and NRMSE, the memoryless MSE, and the filter's time.

On sv-filter, where no closed form exists, it prints the two filters of the model side by
side: the point-mass (grid) filter lagnet uses, at several grid sizes (its MSE settles once the
grid resolves the transition), and the bootstrap particle filter at several particle counts
(``--pf-seeds`` filters with different seeds each: mean and spread) — the particle filter's
Monte-Carlo error adds about Var(h_t | past)/M_eff to its MSE, so its MSE falls towards the
grid filter's as M grows.

``--train`` also runs ``lagnet train --task NAME --max-seconds S`` (the task's recommended
model, a fresh process) for the filtering tasks and prints the model's test MSE, its R² gap
to the optimum and the share of the reachable error it removed, from its metrics.json.

``--smoke`` runs the same code at a tiny size (16 paths of 30 steps, 50 and 100 particles and
grid points, no training) and exits 0 when every filter ran.
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
from datetime import date
from pathlib import Path

import jax
import numpy as np

from lagnet.evaluation import MemorylessBaseline, valid_metrics
from lagnet.filters import SV_GRID, grid_filter, particle_filter, sv_loglik
from lagnet.optimal import prediction
from lagnet.registry import task_config
from lagnet.tasks import build_task

ROOT = Path(__file__).resolve().parents[1]
TASKS = ("noisy-ar-filter", "regime-filter", "sv-filter", "garch-vol")
PARTICLES = "100,250,500,1000,2000,4000,8000"
GRID = (25, 50, 100, 200, 400)


def test_set(name: str, paths: int | None, length: int | None):
    """The task, and its test paths and baseline sample as ``evaluate`` draws them."""
    cfg = task_config(name)
    length = length or cfg.train.length
    task = build_task(cfg, length=length)
    k_test, k_base, _ = jax.random.split(jax.random.PRNGKey(cfg.eval.seed), 3)
    test = [np.asarray(a) for a in task.sample(k_test, paths or cfg.eval.test_paths, length)]
    n_base = cfg.eval.baseline_paths if paths is None else 4 * paths
    base = [np.asarray(a) for a in task.sample(k_base, n_base, length)]
    return task, test, base, k_test


def optimum(name: str, paths: int | None, length: int | None) -> dict:
    task, (x, y, valid), (xb, yb, vb), k_test = test_set(name, paths, length)
    mem = MemorylessBaseline().fit(xb[:, vb].reshape(-1, xb.shape[2]), yb[:, vb].reshape(-1, 1))
    mse_mem = valid_metrics(y, mem.predict(x.reshape(-1, x.shape[2])).reshape(y.shape), valid)
    t0 = time.perf_counter()
    opt = prediction(task, x, jax.random.fold_in(k_test, 1))  # the key evaluate uses
    seconds = time.perf_counter() - t0
    m = valid_metrics(y, opt.y, valid)
    return dict(
        task=name,
        filter=opt.name,
        particles=opt.particles,
        paths=int(x.shape[0]),
        length=int(x.shape[1]),
        mse=m["mse"],
        r2=m["r2"],
        nrmse=m["nrmse"],
        memoryless_mse=mse_mem["mse"],
        seconds=round(seconds, 2),
    )


def convergence(
    counts: list[int], grids: list[int], seeds: int, paths: int | None, length: int | None
) -> list:
    task, (x, y, valid), _, _ = test_set("sv-filter", paths, length)
    c = task.process.config
    sd_h = c.sigma_eta / np.sqrt(1 - c.phi**2)
    rows = []
    for g in grids:
        t0 = time.perf_counter()
        h = grid_filter(x[..., 0], sv_loglik, c.mu, c.phi, c.sigma_eta, sd_h, g)
        seconds = time.perf_counter() - t0
        mse = float(np.mean((h[:, valid] - y[:, valid, 0]) ** 2))
        row = dict(filter="grid", points=g, mse_mean=mse, mse_spread=0.0, seconds=round(seconds, 2))
        print(json.dumps(row), flush=True)
        rows.append(row)
    for m in counts:
        mses, secs = [], []
        for s in range(seeds):
            t0 = time.perf_counter()
            h = particle_filter(
                jax.random.PRNGKey(s), x[..., 0], sv_loglik, c.mu, c.phi, c.sigma_eta, sd_h, m
            )
            secs.append(time.perf_counter() - t0)  # the first seed's includes compilation
            mses.append(float(np.mean((h[:, valid] - y[:, valid, 0]) ** 2)))
        row = dict(
            filter="particle",
            particles=m,
            mse_mean=float(np.mean(mses)),
            mse_spread=float(np.ptp(mses)),
            seconds=round(secs[-1], 2),
            mses=mses,
        )
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def train(name: str, seconds: float, seed: int, out: Path) -> dict:
    run_dir = out / f"{name}-{seed}"
    cmd = [
        sys.executable,
        "-m",
        "lagnet",
        "train",
        "--task",
        name,
        "--max-seconds",
        str(seconds),
        "--seed",
        str(seed),
        "--quiet",
        "--out",
        str(run_dir),
    ]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    m = json.loads((run_dir / "metrics.json").read_text())
    opt, test = m["baselines"]["optimal"], m["test"]
    return dict(
        task=name,
        seed=seed,
        model=m.get("model", {}).get("kind"),
        steps=m.get("train", {}).get("steps"),
        mse=test["mse"],
        r2=test["r2"],
        optimal=opt["name"],
        optimal_mse=opt["mse"],
        optimal_r2=opt["r2"],
        r2_gap=opt["r2"] - test["r2"],
        reachable_share=test.get("reachable_share"),
        memory_r2=test.get("memory_r2"),
        command_s=round(wall, 1),
    )


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--particles", default=PARTICLES, help="comma-separated particle counts")
    ap.add_argument("--pf-seeds", type=int, default=2)
    ap.add_argument("--train", action="store_true", help="also train each filtering task")
    ap.add_argument("--max-seconds", type=float, default=60.0)
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--train-tasks", default=",".join(TASKS), help="comma-separated, for --train")
    ap.add_argument("--out", default=None, help="run directories of --train")
    ap.add_argument("--smoke", action="store_true", help="tiny size, no training")
    a = ap.parse_args()
    paths, length = (16, 30) if a.smoke else (None, None)
    counts = [50, 100] if a.smoke else [int(v) for v in a.particles.split(",")]
    grids = [50, 100] if a.smoke else list(GRID)

    print(f"command: {' '.join([os.path.relpath(sys.argv[0], ROOT), *sys.argv[1:]])}")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, JAX {jax.__version__} {jax.default_backend()}; "
        f"date {date.today()}; sv-filter's grid filter: {SV_GRID} points"
    )
    print("\n## optimal filters on each task's test paths")
    rows = [optimum(name, paths, length) for name in TASKS]
    for row in rows:
        print(json.dumps(row), flush=True)
    print("\n| task | optimal filter | MSE | R² | NRMSE | memoryless MSE | seconds |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in rows:
        name = r["filter"] + (f" ({r['particles']})" if r["particles"] else "")
        print(
            f"| {r['task']} | {name} | {r['mse']:.4g} | {r['r2']:.4f} | {r['nrmse']:.4f} | "
            f"{r['memoryless_mse']:.4g} | {r['seconds']} |"
        )

    print(
        "\n## sv-filter: the grid filter against grid points, the particle filter against "
        f"particles ({a.pf_seeds} seeds each)"
    )
    conv = convergence(counts, grids, 1 if a.smoke else a.pf_seeds, paths, length)
    print("\n| filter | points / particles | MSE (mean) | spread over seeds | seconds (last) |")
    print("|---|---:|---:|---:|---:|")
    for r in conv:
        size = r.get("points") or r.get("particles")
        print(
            f"| {r['filter']} | {size} | {r['mse_mean']:.6f} | {r['mse_spread']:.6f} | "
            f"{r['seconds']} |"
        )

    if a.train and not a.smoke:
        out = Path(a.out or tempfile.mkdtemp(prefix="lagnet-optimal-"))
        print(f"\n## lagnet train --task NAME --max-seconds {a.max_seconds:g} (runs in {out})")
        trained = []
        for name in a.train_tasks.split(","):
            for seed in range(a.seeds):
                row = train(name, a.max_seconds, seed, out)
                print(json.dumps(row), flush=True)
                trained.append(row)
        print("\n| task | model | seed | model MSE | optimal MSE | R² gap | reachable share |")
        print("|---|---|---:|---:|---:|---:|---:|")
        for r in trained:
            share = r["reachable_share"]
            print(
                f"| {r['task']} | {r['model']} | {r['seed']} | {r['mse']:.4g} | "
                f"{r['optimal_mse']:.4g} ({r['optimal']}) | {r['r2_gap']:.4f} | "
                + ("—" if share is None else f"{100 * share:.1f}%")
                + " |"
            )
    ok = all(np.isfinite(r["mse"]) for r in rows) and all(np.isfinite(r["mse_mean"]) for r in conv)
    if a.smoke:
        print("smoke: OK" if ok else "smoke: FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
