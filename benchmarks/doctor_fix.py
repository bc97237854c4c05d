"""Does `lagnet doctor --fix` fix what it diagnoses? Two runs made to fail in a known way,
diagnosed, retrained once with the doctor's suggested changes, and compared on the same test
set:

    .venv/bin/python benchmarks/doctor_fix.py [--steps 1500] [--quick] [--out DIR]

  b  memory longer than the receptive field: a window MLP seeing 2 inputs, target
     x[t]**2 + 0.5*x[t-5]**2 on AR(1) paths;
  c  vanishing gradients: a tanh Elman RNN (hidden 32), target x[t-40] on AR(1) paths.

For each it prints the cause the doctor named, the changes --fix made, and test memory_r2
before and after. Acceptance: the cause is the one built in, and memory_r2 rises by ≥ 0.5.

``--smoke`` runs the same code at a tiny size — case b only, 10 steps on 8 paths of 21 steps,
16 validation and test paths, the doctor's --quick diagnostics — in a temporary directory (or
``--out``); the fixed run keeps the tiny sizes (the doctor's changes to train.steps, batch,
length and max_seconds are not applied). It checks that training, diagnosis, --fix and
writing still work together, not that the fix helps: the acceptance line is printed but not
judged, and it exits 0 when the doctor named a cause, made a change, the fixed run has a test
memory_r2 and doctor.json was written.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

CASES = {
    "b": dict(
        cause="receptive_field",
        target="x[t]**2 + 0.5*x[t-5]**2",
        model=dict(kind="window", window=2),
    ),
    "c": dict(
        cause="vanishing_gradients",
        target="x[t-40]",
        model=dict(kind="rnn", activation="tanh", hidden=32),
    ),
}


# --smoke: the same runs at a tiny size (sections of the run config)
SMOKE = dict(
    train=dict(batch=8, length=21, val_every=5, val_paths=16, pilot_paths=16),
    eval=dict(test_paths=16, long_paths=4, long_factor=2, baseline_paths=16),
)
SMOKE_KEEP = ("train.steps", "train.batch", "train.length", "train.max_seconds")


def one(name: str, case: dict, steps: int, out: Path, quick: bool, smoke: bool = False) -> dict:
    from lagnet.config import make_config
    from lagnet.doctor import diagnose, fix, verdict_lines, write
    from lagnet.runs import run

    sizes = SMOKE if smoke else {}
    cfg = make_config(
        dict(
            name=f"doctor-{name}",
            process="ar1(rho=0.1)",
            target=dict(formula=case["target"]),
            model=case["model"],
            train=dict(sizes.get("train", {}), steps=steps),
            eval=sizes.get("eval", {}),
        )
    )
    t0 = time.perf_counter()
    run(cfg, out / name)
    t_train = time.perf_counter() - t0
    d = diagnose(out / name, quick=quick)
    t_doctor = time.perf_counter() - t0 - t_train
    if smoke:  # keep the fixed run tiny: the doctor asks for more steps and a bigger batch
        kept = {k: v for k, v in d.doc["overrides"].items() if k not in SMOKE_KEEP}
        dropped = sorted(set(d.doc["overrides"]) - set(kept))
        if dropped:
            print(f"# smoke: not applying {', '.join(dropped)}")
        d.doc["overrides"] = kept
    result = fix(d)
    write(d)
    if result is None:  # nothing suggested: "before" and "after" are the same run
        same = dict(
            r2=d.metrics["test"]["r2"],
            memory_r2=d.metrics["test"]["memory_r2"],
            effective_memory=d.doc["memory"]["effective"],
        )
        result = dict(overrides={}, before=same, after=same)
    t_fix = time.perf_counter() - t0 - t_train - t_doctor
    for line in verdict_lines(d.doc["verdict"]):
        print(f"#   {line}")
    before, after = result["before"], result["after"]
    row = dict(
        case=name,
        target=case["target"],
        model=case["model"]["kind"],
        cause=d.doc["verdict"]["primary"],
        changes=result["overrides"],
        memory_r2_before=before["memory_r2"],
        memory_r2_after=after["memory_r2"],
        r2_before=before["r2"],
        r2_after=after["r2"],
        effective_before=before["effective_memory"],
        effective_after=after["effective_memory"],
        train_s=round(t_train, 1),
        doctor_s=round(t_doctor, 1),
        fix_s=round(t_fix, 1),
    )
    row["gain"] = row["memory_r2_after"] - row["memory_r2_before"]
    row["ok"] = row["cause"] == case["cause"] and row["gain"] >= 0.5
    print(json.dumps(row), flush=True)
    return row


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=1500, help="training steps of the failing runs")
    p.add_argument("--quick", action="store_true", help="the doctor's --quick diagnostics")
    p.add_argument("--out", type=Path, default=None, help="where to keep the run directories")
    p.add_argument("--cases", default="b,c")
    p.add_argument(
        "--smoke",
        action="store_true",
        help="a quick check at a tiny size: case b, 10 steps, --quick diagnostics",
    )
    a = p.parse_args()
    if a.smoke:
        if a.cases == p.get_default("cases"):
            a.cases = "b"
        if a.steps == p.get_default("steps"):
            a.steps = 10
        a.quick = True
    import jax

    print(f"# {' '.join([os.path.basename(sys.executable)] + sys.argv)}")
    print(
        f"# {platform.machine()} cpus={len(os.sched_getaffinity(0))} jax={jax.__version__} "
        f"backend={jax.default_backend()} {time.strftime('%Y-%m-%d %H:%M')}"
    )
    out = a.out or Path(tempfile.mkdtemp(prefix="lagnet-doctor-fix-"))
    rows = [one(n, CASES[n], a.steps, out, a.quick, a.smoke) for n in a.cases.split(",")]
    print(f"\n# run directories under {out}\n")
    cols = [
        "case",
        "model",
        "cause",
        "changes",
        "memory_r2_before",
        "memory_r2_after",
        "gain",
        "effective_before",
        "effective_after",
        "train_s",
        "doctor_s",
        "fix_s",
    ]

    def fmt(v):
        if isinstance(v, float):
            return f"{v:.4f}" if abs(v) < 10 else f"{v:.1f}"
        if isinstance(v, dict):
            return ", ".join(f"{k}={val}" for k, val in v.items())
        return "—" if v is None else str(v)

    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(fmt(r[c]) for c in cols) + " |")
    ok = all(r["ok"] for r in rows)
    if a.smoke:
        print(f"\nacceptance (not judged with --smoke): {'PASS' if ok else 'FAIL'}")
        done = all(
            r["cause"]
            and r["changes"]
            and r["memory_r2_after"] is not None
            and (out / r["case"] / "doctor.json").is_file()
            for r in rows
        )
        print(
            f"smoke: {'OK' if done else 'FAILED'} (cause named, change made, fixed run "
            f"evaluated, doctor.json written)"
        )
        return 0 if done else 1
    print(f"\nacceptance (right cause, memory_r2 gain ≥ 0.5): {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
