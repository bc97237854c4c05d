"""Two leaderboards side by side: every cell's median test NRMSE, before → after.

    .venv/bin/python benchmarks/leaderboard_diff.py BEFORE.csv AFTER.csv

Reads two ``leaderboard.csv`` files written by ``lagnet bench`` (one row per task, model and
seed) and prints a Markdown table, tasks × models, each cell ``before → after`` (median over
seeds; a failed cell shows ``—``), the better of the two in bold when they differ by more than
5%, and per task the best family before and after. ``--smoke``: compares the stored
leaderboard with itself (every cell unchanged) and exits 0 when that holds.
"""

from __future__ import annotations

import argparse
import csv
import math
import statistics
import sys
from pathlib import Path

STORED = Path(__file__).resolve().parent / "results" / "leaderboard" / "leaderboard.csv"


def cells(path: Path) -> tuple[dict[tuple[str, str], float], list[str], list[str]]:
    """(task, model) -> median test NRMSE over its seeds (NaN: every seed failed), and the
    tasks and models in the file's order."""
    values: dict[tuple[str, str], list[float]] = {}
    tasks: list[str] = []
    models: list[str] = []
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            t, m = row["task"], row["model"]
            tasks += [t] if t not in tasks else []
            models += [m] if m not in models else []
            v = row.get("test_nrmse") or ""
            values.setdefault((t, m), [])
            if v and not row.get("error"):
                values[(t, m)].append(float(v))
    out = {k: statistics.median(v) if v else math.nan for k, v in values.items()}
    return out, tasks, models


def shown(v: float) -> str:
    return "—" if not math.isfinite(v) else ("0" if v == 0 else f"{v:.3g}")


def best(d: dict, task: str, models: list[str]) -> str:
    """The family with the lowest finite NRMSE on ``task``."""
    vals = {m: d.get((task, m), math.nan) for m in models}
    vals = {m: v for m, v in vals.items() if math.isfinite(v)}
    return min(vals, key=vals.get) if vals else "—"


def diff_table(before: Path, after: Path) -> tuple[str, int]:
    """The Markdown table and the number of cells present in both."""
    b, tasks, models = cells(before)
    a, tasks_a, models_a = cells(after)
    tasks += [t for t in tasks_a if t not in tasks]
    models += [m for m in models_a if m not in models]
    lines = [
        "| task | " + " | ".join(models) + " | best before → after |",
        "|---|" + "---:|" * len(models) + "---|",
    ]
    both = 0
    for t in tasks:
        row = []
        for m in models:
            x, y = b.get((t, m), math.nan), a.get((t, m), math.nan)
            both += (t, m) in b and (t, m) in a
            text = f"{shown(x)} → {shown(y)}"
            if math.isfinite(x) and math.isfinite(y) and abs(x - y) > 0.05 * max(x, y):
                text = f"{shown(x)} → **{shown(y)}**" if y < x else f"**{shown(x)}** → {shown(y)}"
            row.append(text)
        lines.append(
            f"| {t} | " + " | ".join(row) + f" | {best(b, t, models)} → {best(a, t, models)} |"
        )
    return "\n".join(lines), both


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("before", nargs="?", type=Path)
    ap.add_argument("after", nargs="?", type=Path)
    ap.add_argument("--smoke", action="store_true")
    args = ap.parse_args()
    if args.smoke:
        args.before = args.after = STORED
    if args.before is None or args.after is None:
        ap.error("give BEFORE.csv and AFTER.csv (or --smoke)")
    print(f"command: {' '.join([sys.executable, *sys.argv])}")
    table, both = diff_table(args.before, args.after)
    print(table)
    if args.smoke:
        ok = both > 0 and "**" not in table
        print("smoke: OK" if ok else "smoke: FAILED")
        return 0 if ok else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
