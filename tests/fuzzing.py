"""What the parser fuzz tests (tests/test_fuzz_*.py) share: the property every input must have —
it builds, or it is refused with one LagnetError — checked with a time limit, without an XLA
compilation, and (for the hard cases) within a memory bound."""

from __future__ import annotations

import contextlib
import signal
import time
import tracemalloc

import jax
import numpy as np
from hypothesis import HealthCheck, settings
from jax import monitoring

from lagnet.errors import LagnetError

# The most one input may take, in CPU seconds of the thread that runs it. The bound is
# 1 s, measured by benchmarks/fuzz_parsers.py on an idle machine (slowest of 10^5: 59 ms). Wall
# time is not what is bounded: on two cores shared with other tests' child processes and other
# users, the heaviest hard case took 1.09 s of wall time one day and 3.79 s another, for the
# same work. A runaway still spends CPU; a thread waiting forever is stopped by ALARM_S.
HANG_S = 2.0
ALARM_S = 10.0  # a runaway is stopped here rather than hanging the suite

# The default tier: a fixed sequence of examples (derandomized: a failure reproduces), nothing
# written to a .hypothesis database in the working tree.
FAST = settings(
    max_examples=200,
    deadline=None,  # wall time: bounded in CPU time by outcome() instead
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
# The slow tier: ten times as many, from a fresh random seed each run.
LONG = settings(FAST, max_examples=2000, derandomize=False)

_compiles: list[str] = []
monitoring.register_event_duration_secs_listener(
    lambda event, duration, **kw: (
        _compiles.append(event) if event.endswith("backend_compile_duration") else None
    )
)


jax.device_put(np.zeros(1))  # start the backend now, not inside the first timed input


class Runaway(Exception):
    pass


def _alarm(signum, frame):
    raise Runaway(f"still running after {ALARM_S} s")


def outcome(fn, *args, **kwargs) -> tuple[str, LagnetError | None]:
    """Run ``fn``: ("built", None) or ("refused", the error). Anything else fails the test: any
    other exception, over HANG_S seconds, or an XLA compilation (building never compiles). A
    refusal must be one printable line."""
    before = len(_compiles)
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, ALARM_S)
    t0 = time.thread_time()
    try:
        fn(*args, **kwargs)
        result: tuple[str, LagnetError | None] = ("built", None)
    except LagnetError as err:
        result = ("refused", err)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    elapsed = time.thread_time() - t0
    assert elapsed < HANG_S, f"took {elapsed:.2f} CPU seconds"
    assert len(_compiles) == before, "building compiled an XLA computation"
    if result[1] is not None:
        line = str(result[1])
        assert "\n" not in line and "\r" not in line, line
        line.encode()  # printable: no lone surrogates
    return result


def within_memory(mb: float, fn, *args) -> None:
    """Fail when ``fn(*args)``'s Python allocations peak above ``mb`` megabytes (traced, so
    slowly: timing is :func:`outcome`'s job). A LagnetError is an answer, not a failure."""
    tracemalloc.start()
    try:
        with contextlib.suppress(LagnetError):
            fn(*args)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < mb * 2**20, f"peak {peak / 2**20:.1f} MB of Python allocations"
