"""The memoryless baseline's cost against the estimate that guards evaluation
(``lagnet.resources.memoryless_floats``): for each number of inputs and of rows, a fresh
process fits the baseline and reports the growth of its peak RSS and the fit's time.

    .venv/bin/python benchmarks/baseline_memory.py                  # 1-12 inputs, 20k-400k rows
    .venv/bin/python benchmarks/baseline_memory.py --smoke          # tiny, to check the script

The target: sin(3·x) summed over the inputs, plus x1·x_C and noise (every input used, one
pair interacting). Prints one JSON line per case and a Markdown table; exits 1 if a peak
exceeds the estimate.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone

ONE = """
import json, resource, sys, time
import numpy as np
import scipy.sparse.linalg  # loaded before the mark
from lagnet.baselines import MemorylessBaseline
c, rows = int(sys.argv[1]), int(sys.argv[2])
rng = np.random.default_rng(0)
x = rng.normal(size=(rows, c))
y = np.sin(3 * x).sum(1, keepdims=True) + x[:, :1] * x[:, -1:] + 0.1 * rng.normal(size=(rows, 1))
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
MemorylessBaseline().fit(x, y).predict(x)
seconds = time.perf_counter() - t
grew = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024
print(json.dumps(dict(inputs=c, rows=rows, peak_mb=grew / 1e6, seconds=seconds)))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inputs", default="1,2,3,4,6,8,12")
    ap.add_argument("--rows", default="20000,100000,400000")
    ap.add_argument("--smoke", action="store_true", help="2 inputs, 5000 rows")
    args = ap.parse_args()
    from lagnet.resources import F64, memoryless_floats

    inputs = [2] if args.smoke else [int(c) for c in args.inputs.split(",")]
    rows_list = [5000] if args.smoke else [int(r) for r in args.rows.split(",")]
    print(f"command: {' '.join([os.path.basename(sys.executable), *sys.argv])}")
    print(f"machine: {platform.platform()}  {os.cpu_count()} CPUs")
    print(f"date: {datetime.now(timezone.utc).isoformat(timespec='seconds')}")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    table, over = [], 0
    for c in inputs:
        for rows in rows_list:
            out = subprocess.run(
                [sys.executable, "-c", ONE, str(c), str(rows)],
                capture_output=True,
                text=True,
                env=env,
                check=True,
            ).stdout
            row = json.loads(out.strip().splitlines()[-1])
            row["estimate_mb"] = F64 * memoryless_floats(rows, c) / 1e6
            over += row["peak_mb"] > row["estimate_mb"]
            print(json.dumps(row), flush=True)
            table.append(row)
    print(
        "\n| inputs | rows | fit s | peak RSS growth MB | estimate MB |\n|---:|---:|---:|---:|---:|"
    )
    for r in table:
        print(
            f"| {r['inputs']} | {r['rows']} | {r['seconds']:.1f} | {r['peak_mb']:.0f} "
            f"| {r['estimate_mb']:.0f} |"
        )
    print(f"\n{over} case(s) above the estimate")
    if args.smoke:
        print("smoke: OK" if not over else "smoke: FAILED")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
