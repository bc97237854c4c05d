"""Screening runs behind ``lagnet/budget.py``: one task, one budget, several settings.

    .venv/bin/python benchmarks/budget_grid.py TASK SECONDS OUT.jsonl '{"model": "gru", "hidden": 32, "batch": 32, "lr": 0.01, "steps": 1000000}' ...
    .venv/bin/python benchmarks/budget_grid.py --smoke

Each JSON argument is a run's settings (``lagnet.train`` keywords; ``seeds``: a list, default
[0]); each run is ``lagnet.train(config=task_config(TASK), max_seconds=SECONDS, seed=…,
**settings)`` in this process, and appends one JSON line (settings, test NRMSE, memory_r2,
steps, ms per step, wall seconds) to OUT.jsonl. The 2026-12-04 runs are in
``results/budget_screening-2026-12-04.jsonl``.
"""

import json
import sys
import time

import lagnet
from lagnet.registry import task_config


def main(argv: list[str]) -> int:
    if argv[:1] == ["--smoke"]:
        argv = ["ar1-square-lag", "10", "/dev/null", '{"hidden": 8, "batch": 8, "steps": 10}']
    task, secs, out = argv[0], float(argv[1]), argv[2]
    for text in argv[3:]:
        settings = json.loads(text)
        for seed in settings.pop("seeds", [0]):
            t0 = time.time()
            m = lagnet.train(config=task_config(task), max_seconds=secs, seed=seed, **settings)
            m = m.metrics
            row = dict(
                settings,
                task=task,
                secs=secs,
                seed=seed,
                nrmse=round(m["test"]["nrmse"], 4),
                mem=round(m["test"]["memory_r2"] or 0, 4),
                steps=m["train"]["steps"],
                ms=round(m["train"].get("ms_per_step") or 0, 1),
                wall=round(time.time() - t0, 1),
            )
            print(json.dumps(row), flush=True)
            with open(out, "a") as f:
                f.write(json.dumps(row) + "\n")
    if argv[2] == "/dev/null":
        print("smoke: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
