"""The formula and process-spec languages (and a config's process and target tables) fed many
generated inputs: each must build or be refused with one LagnetError — never another exception,
never over 1 s, never an XLA compilation.

    .venv/bin/python benchmarks/fuzz_parsers.py [--n 100000] [--seed 0] [--json FILE]
    .venv/bin/python benchmarks/fuzz_parsers.py --smoke      # 600 inputs: the script works

Five generators take turns: random formula trees over the vocabulary and beyond it, raw text
mutations of valid formulas, random spec calls, raw mutations of valid specs, and config tables.
A formula that compiles is also traced with ``jax.eval_shape`` (nothing compiled). Outcomes:
built, refused (LagnetError), crash (any other exception), hang (over 1 s, and again on a retry:
the machine may be shared; a 10 s alarm stops a runaway). Printed: command, machine, date,
counts, time per input, the slowest input, crashes, XLA compilations, peak memory. Acceptance:
>= 100000 inputs, 0 crashes, 0 hangs, 0 compilations; exit 0 when met (--smoke: no crash/hang).
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import platform
import random
import resource
import signal
import sys
import time

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from jax import monitoring  # noqa: E402

from fuzz_inputs import (  # noqa: E402 — beside this script
    FORMULAS,
    SPECS,
    config_input,
    deep,
    expr,
    formula_input,
    mutate,
    spec_text,
)
from lagnet.config import make_config  # noqa: E402
from lagnet.errors import LagnetError  # noqa: E402
from lagnet.processes import build_process  # noqa: E402
from lagnet.processes.spec import parse_process_spec  # noqa: E402
from lagnet.targets import compile_target  # noqa: E402

HANG_S, ALARM_S = 1.0, 10.0


class Hang(Exception):
    pass


def _alarm(signum, frame):
    raise Hang(f"still running after {ALARM_S} s")


# ----------------------------------------------------------------------------- building
def run_formula(arg) -> None:
    text, series, params = arg
    target = compile_target(text, series, params=params)
    shapes = {s: jax.ShapeDtypeStruct((2, 24), jnp.float32) for s in target.series}
    values = {p: 0.5 for p in target.params}
    jax.eval_shape(lambda xs: target(xs, values), shapes)  # traced, nothing compiled


def run_spec(text: str) -> None:
    parse_process_spec(text)


def run_config(data: dict) -> None:
    cfg = make_config(data)
    process = build_process(cfg.process)
    compile_target(
        cfg.target.formula, process.series, init=cfg.target.init, params=cfg.target.params
    )


# ----------------------------------------------------------------------------- the run
GENERATORS = {
    "formula_tree": (
        lambda r: formula_input(r, expr(r, r.randint(1, 6)) if r.random() < 0.93 else deep(r)),
        run_formula,
    ),
    "formula_mutation": (lambda r: formula_input(r, mutate(r, r.choice(FORMULAS))), run_formula),
    "spec_tree": (spec_text, run_spec),
    "spec_mutation": (lambda r: mutate(r, r.choice(SPECS)), run_spec),
    "config": (config_input, run_config),
}


def attempt(run, arg) -> tuple[str, float, str]:
    """(outcome, seconds, error) of one input; a 10 s alarm stops a runaway."""
    signal.setitimer(signal.ITIMER_REAL, ALARM_S)
    t0, error = time.perf_counter(), ""
    try:
        run(arg)
        outcome = "built"
    except LagnetError as err:
        outcome = "refused"
        str(err).encode()  # the one line must be printable as UTF-8
    except Hang:
        outcome = "hang"
    except Exception as err:  # noqa: BLE001 — what the fuzzer is looking for
        outcome, error = "crash", f"{type(err).__name__}: {str(err)[:200]}"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    return outcome, time.perf_counter() - t0, error


def pct(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(len(values) * q / 100))]


def fuzz(n: int, seed: int) -> dict:
    compiles: list[str] = []
    monitoring.register_event_duration_secs_listener(
        lambda event, duration, **kw: (
            compiles.append(event) if event.endswith("backend_compile_duration") else None
        )
    )
    signal.signal(signal.SIGALRM, _alarm)
    r = random.Random(seed)
    counts = {g: {"built": 0, "refused": 0, "crash": 0, "hang": 0} for g in GENERATORS}
    crashes, slowest, retried, times = [], (0.0, "", ""), 0, []
    names = list(GENERATORS)
    # The collector runs between inputs, not inside one: its full passes over JAX's caches of
    # thousands of traced formulas took up to 0.5 s, whichever input they fell in.
    gc.disable()
    gc_max = 0.0
    for i in range(n):
        if i % 1000 == 0:
            t0 = time.perf_counter()
            gc.collect()
            gc_max = max(gc_max, time.perf_counter() - t0)
        gen = names[i % len(names)]
        make, run = GENERATORS[gen]
        arg = make(r)
        outcome, elapsed, error = attempt(run, arg)
        if outcome != "hang" and elapsed > HANG_S:
            # The machine is shared: a pause in this process is not the parser's doing. Slow
            # twice is a hang.
            retried += 1
            outcome, elapsed, error = attempt(run, arg)
            outcome = "hang" if elapsed > HANG_S else outcome
        counts[gen][outcome] += 1
        times.append(elapsed)
        if outcome == "crash" and len(crashes) < 20:
            crashes.append({"generator": gen, "input": repr(arg)[:300], "error": error})
        if elapsed > slowest[0]:
            slowest = (elapsed, gen, repr(arg)[:300])
    gc.enable()
    total = {k: sum(c[k] for c in counts.values()) for k in ("built", "refused", "crash", "hang")}
    return dict(
        inputs=n,
        seed=seed,
        counts=counts,
        total=total,
        crashes=crashes,
        slowest={"seconds": round(slowest[0], 4), "generator": slowest[1], "input": slowest[2]},
        slow_once_then_fast=retried,
        longest_gc_s=round(gc_max, 3),
        ms_per_input={f"p{q}": round(1000 * pct(times, q), 2) for q in (50, 99, 99.9, 99.99)},
        xla_compilations=len(compiles),
        peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="also write the result here")
    ap.add_argument("--smoke", action="store_true", help="600 inputs: check the script works")
    args = ap.parse_args()
    n = 600 if args.smoke else args.n
    print("$ " + " ".join([os.path.relpath(sys.executable), *sys.argv]))
    print(
        f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}, "
        f"{platform.machine()} {os.cpu_count()} cores ({platform.platform()}), "
        f"Python {platform.python_version()}, JAX {jax.__version__}"
    )
    t0 = time.perf_counter()
    result = fuzz(n, args.seed)
    result["seconds"] = round(time.perf_counter() - t0, 1)
    for gen, c in result["counts"].items():
        print(f"{gen:18s} " + "  ".join(f"{k} {v:6d}" for k, v in c.items()))
    print(f"{'total':18s} " + "  ".join(f"{k} {v:6d}" for k, v in result["total"].items()))
    s = result["slowest"]
    print(f"slowest: {s['seconds']} s ({s['generator']}) {s['input'][:160]}")
    print(
        "ms per input: "
        + ", ".join(f"{k} {v}" for k, v in result["ms_per_input"].items())
        + f"; longest garbage collection between inputs {result['longest_gc_s']} s"
    )
    print(
        f"over {HANG_S} s once, then not on a retry: {result['slow_once_then_fast']}; "
        f"XLA compilations: {result['xla_compilations']}; peak RSS {result['peak_rss_mb']} MB; "
        f"{result['seconds']} s for {n} inputs"
    )
    for c in result["crashes"]:
        print(f"CRASH {c['generator']}: {c['error']}\n    input: {c['input']}")
    ok = result["total"]["crash"] == 0 and result["total"]["hang"] == 0
    accepted = ok and n >= 100_000 and result["xla_compilations"] == 0
    print(
        f"acceptance (>= 100000 inputs, 0 crashes, 0 hangs over {HANG_S} s, no compilation): "
        f"{'met' if accepted else 'NOT met'}"
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return 0 if (ok if args.smoke else accepted) else 1


if __name__ == "__main__":
    sys.exit(main())
