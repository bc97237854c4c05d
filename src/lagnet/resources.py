"""Memory a request needs, estimated before any of it is allocated, against the memory there is.

A request that cannot fit — a training batch × length × width, paths × length to simulate or
evaluate, a data file larger than memory — is refused with one line giving the estimate and the
limit, instead of reaching the allocator (which aborts the interpreter, or dies after trying to
allocate tens of gigabytes). The estimates count the big arrays only: sampled paths, a
network's activations kept for backpropagation, the baselines' design matrices. They are meant
to be right within a small factor, which is all that is needed to tell 1 GB from 1 TB.

The limit is the memory available now (``MemAvailable`` in /proc/meminfo, else the free pages
sysconf reports) × :data:`SAFETY`; ``LAGNET_MEMORY_LIMIT`` (bytes, or ``500M``, ``8G``)
overrides it.

>>> human(3 * 2**30)
'3.2 GB'
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
from contextlib import contextmanager
from contextvars import ContextVar

from lagnet.baselines import KNOTS, KNOTS_SEVERAL, MAX_PAIRS, PAIR_KNOTS
from lagnet.baselines_splines import ROWS_AT_ONCE
from lagnet.errors import LagnetError

SAFETY = 0.8  # share of the available memory a request may plan to use
F32, F64 = 4, 8
# Floats kept per path-step for backprop: per hidden unit and layer (gates, states), and per
# attention weight of a head and layer. Against XLA's own memory analysis of value_and_grad
# (batch 64 × 200 steps): estimate / XLA = 1.4 (GRU), 1.1 (LSTM), 2.4 (TCN), 1.0 (LRU), 1.4
# (transformer) — tests/test_resources.py holds them within 0.5–3.
ACTIVATIONS = 10
ATTENTION = 6
STATE_CHUNK = 256  # paths whose states a closed-form fit holds at once (the ESN reads 128)
# The memoryless baseline's fit (baselines.py), measured by its peak RSS for 1-12 inputs and
# 20 000-400 000 rows (benchmarks/baseline_memory.py): Gram matrices of its columns (a cubic
# spline's knots + 3 per input, (PAIR_KNOTS + 3)² per pair of inputs); for the ROWS_AT_ONCE
# rows whose design it builds at once, their blocks' values and indices; and for every row,
# the sample's copies, its fits and residuals. The constants bound what was measured.
SPLINE_GRAMS = 10  # floats per Gram entry (both halves, their sums, the solver's copies)
SPLINE_ROW = 64  # design floats per row built at once, SPLINE_ROW_INPUT per input, …_PAIR per pair
SPLINE_ROW_INPUT, SPLINE_ROW_PAIR = 32, 16
SPLINE_HELD, SPLINE_HELD_INPUT = 40, 4  # floats per row of the sample, and per input
WRITE_BUFFERS = 500_000  # bytes: zlib's and the CSV writer's buffers, whatever the size
_UNITS = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}


def parse_bytes(text: str) -> int:
    """``"8G"`` → 8·10⁹; a plain number is bytes."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][0-9]+)?)\s*([KMGT]?)B?\s*", text, re.IGNORECASE)
    if not m:
        raise LagnetError("LAGNET_MEMORY_LIMIT", text, "expected bytes, e.g. 8G, 500M or 1000000")
    return int(float(m.group(1)) * _UNITS[m.group(2).upper()])


def memory_limit() -> tuple[int, str]:
    """(bytes a request may use, where that figure came from)."""
    env = os.environ.get("LAGNET_MEMORY_LIMIT")
    if env:
        return parse_bytes(env), "LAGNET_MEMORY_LIMIT"
    available = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    available = int(line.split()[1]) * 1024
                    break
    except OSError:
        pass
    if available is None:
        try:
            available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            return 2**62, "no limit known"
    return int(available * SAFETY), f"{SAFETY:.0%} of the memory available"


def human(n: float) -> str:
    """Bytes in decimal units: 1.5 GB."""
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if abs(n) < 1000 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError  # pragma: no cover


def device_limit(device: str = "auto") -> tuple[int, str] | None:
    """(bytes a run's compiled steps may use on the accelerator it trains on, whence that
    figure) — its free memory × :data:`SAFETY` — or None on the CPU, whose limit is the
    host's."""
    if device == "cpu":
        return None
    import jax

    try:
        d = jax.devices("cuda" if device == "gpu" else None)[0]
        stats = d.memory_stats() or {}
    except RuntimeError:  # no such device: ``on_device`` says so
        return None
    if d.platform == "cpu" or "bytes_limit" not in stats:
        return None
    free = stats["bytes_limit"] - stats.get("bytes_in_use", 0)
    return int(free * SAFETY), f"{SAFETY:.0%} of the free memory of {d.device_kind}"


def check(
    field: str, value: object, need: float, what: str, limit: tuple[int, str] | None = None
) -> None:
    """Refuse ``what`` when its estimate ``need`` (bytes) is over the limit (by default the
    host's)."""
    limit, source = limit or memory_limit()
    if need > limit:
        raise LagnetError(
            field,
            value,
            f"{what} needs about {human(need)} of memory, more than the {human(limit)} "
            f"it may use ({source}); ask for less",
        )


# ----------------------------------------------------------------------------- estimates
def _width(model, first: str = "hidden") -> tuple[int, int]:
    """(units per layer, layers) of a model config, from whichever settings it has: a
    network's ``hidden`` or a reservoir's size, ``first`` first (``auto`` has both)."""
    names = ("hidden", "reservoir") if first == "hidden" else ("reservoir", "hidden")
    width = getattr(model, names[0], None) or getattr(model, names[1], None) or 1
    layers = getattr(model, "num_layers", None) or 1
    return int(width), int(layers)


def step_floats(model, length: int) -> float:
    """Floats one path-step of a forward and backward pass keeps alive: every layer's
    activations, the head's, and a transformer's attention weights over its context."""
    width, layers = _width(model)
    floats = ACTIVATIONS * width * layers + 2 * sum(getattr(model, "head", ()) or ())
    heads = getattr(model, "heads", None)
    if heads:
        floats += ATTENTION * heads * layers * min(length, getattr(model, "context", length))
    return floats


def training_bytes(
    cfg, series: int, c_in: int, c_out: int, gradient: bool = True, closed_form: bool = False
) -> float:
    """A run's training: each step's batch (paths, inputs, target) and activations
    (``gradient``), a closed-form fit's fixed paths and the states of one chunk of them at a
    time (``closed_form``), the held-out sample (pilot + validation, run forward at once), a
    fixed data set if any."""
    tc, length = cfg.train, cfg.train.length
    per_step, floats = series + c_in + c_out, step_floats(cfg.model, length)
    held = max(tc.pilot_paths, tc.val_paths)
    total = held * per_step + (tc.fixed_paths or 0) * (c_in + c_out)
    if gradient:  # a batch forward and back; the validation set forward, all at once
        total += tc.batch * (per_step + 2 * floats) + tc.val_paths * floats / 2
    if closed_form:
        width, layers = _width(cfg.model, "reservoir")
        total += (tc.fixed_paths or held) * per_step + 2 * STATE_CHUNK * width * layers
    return F32 * length * total


def evaluation_bytes(ev, c_in: int, c_out: int, length: int, lags: int) -> float:
    """An evaluation on the host, in float64: the test paths with their predictions, the
    baselines' sample and design matrices, the long-horizon paths."""
    test = ev.test_paths * length * (c_in + 3 * c_out)
    rows = ev.baseline_paths * length
    return F64 * (
        test
        + rows * (c_in + c_out)
        + max(
            memoryless_floats(rows, c_in),
            2 * rows * (c_in * lags + 1),  # the linear-lags design
        )
        + ev.long_paths * length * ev.long_factor * (c_in + 2 * c_out)
    )


def memoryless_floats(rows: int, c_in: int) -> int:
    """At most the floats the memoryless baseline's fit holds at once, beyond its sample: its
    design is built ROWS_AT_ONCE rows at a time (priced whole, 400 000 rows of 4 inputs read
    1049 MB where the fit peaked at 183 MB)."""
    pairs = min(c_in * (c_in - 1) // 2, MAX_PAIRS)
    knots = KNOTS if c_in == 1 else KNOTS_SEVERAL
    columns = 1 + 3 * c_in + c_in * (knots + 3) + pairs * (PAIR_KNOTS + 3) ** 2
    per_row = SPLINE_ROW + SPLINE_ROW_INPUT * c_in + SPLINE_ROW_PAIR * pairs
    held = SPLINE_HELD + SPLINE_HELD_INPUT * c_in
    return SPLINE_GRAMS * columns**2 + min(rows, ROWS_AT_ONCE) * per_row + rows * held


_EVALUATING: ContextVar[bool] = ContextVar("evaluating", default=False)
# The settings a request's size comes from, in the order a tie names them.
TRAINING_SETTINGS = (
    "train.batch",
    "model.hidden",
    "model.reservoir",
    "model.layers",
    "model.heads",
    "model.context",
    "train.length",
    "train.val_paths",
    "train.pilot_paths",
    "train.fixed_paths",
)
EVALUATION_SETTINGS = (
    "eval.test_paths",
    "train.length",
    "eval.baseline_paths",
    "eval.long_paths",
    "eval.long_factor",
)


@contextmanager
def evaluating():
    """Within it, :func:`check_run` checks an evaluation of a trained model only (no
    training follows), and names the test paths or the length, the settings an evaluation
    is given."""
    token = _EVALUATING.set(True)
    try:
        yield
    finally:
        _EVALUATING.reset(token)


def _get(cfg, name: str):
    part, field = name.split(".")
    return getattr(getattr(cfg, part), field, None)


def _with(cfg, name: str, value):
    part, field = name.split(".")
    section = getattr(cfg, part).model_copy(update={field: value})
    return cfg.model_copy(update={part: section})


def culprit(cfg, need: Callable[[object], float], names: tuple[str, ...]) -> tuple[str, object]:
    """(the setting, its value) a refusal names: of the settings ``names`` that are above
    their defaults, the one whose default would shrink ``need(cfg)`` the most — the width of
    a network far too wide, not the batch it is trained on; the first of ``names`` when none
    is above its default."""
    best, best_need = names[0], math.inf
    for name in names:
        part, field = name.split(".")
        info = type(getattr(cfg, part)).model_fields.get(field)
        value = _get(cfg, name)
        if info is None or not isinstance(value, int) or isinstance(value, bool):
            continue
        default = info.default
        if default is not None and not (isinstance(default, int) and value > default):
            continue
        smaller = need(_with(cfg, name, default))
        if smaller < best_need:
            best, best_need = name, smaller
    return best, _get(cfg, best)


def check_run(
    cfg, series: int, c_in: int, c_out: int, lags: int, gradient=True, closed_form=False
) -> None:
    """Refuse a run (training, on the host and on its accelerator, and its evaluation on
    the host) that cannot fit in memory, naming the setting that makes it too large. Within
    :func:`evaluating`, the evaluation only."""
    evaluating_only = _EVALUATING.get()
    if not evaluating_only:

        def train_need(c) -> float:
            return training_bytes(c, series, c_in, c_out, gradient, closed_form)

        need = train_need(cfg)
        limits = [memory_limit()]
        accelerator = device_limit(cfg.device)
        if accelerator is not None:
            limits.append(accelerator)
        if any(need > limit for limit, _ in limits):
            field, value = culprit(cfg, train_need, TRAINING_SETTINGS)
            width, layers = _width(cfg.model)
            what = (
                f"training {cfg.model.kind} on batches of {cfg.train.batch} paths × "
                f"{cfg.train.length} steps (width {width}"
                + (f", {layers} layers)" if layers > 1 else ")")
            )
            for limit in limits:
                check(field, value, need, what, limit)

    def eval_need(c) -> float:
        return evaluation_bytes(c.eval, c_in, c_out, c.train.length, lags)

    need, ev = eval_need(cfg), cfg.eval
    limit = memory_limit()
    if need > limit[0]:
        names = EVALUATION_SETTINGS[:2] if evaluating_only else EVALUATION_SETTINGS
        field, value = culprit(cfg, eval_need, names)
        what = (
            f"evaluating on {ev.test_paths} test paths (and {ev.baseline_paths} baseline, "
            f"{ev.long_paths} long) × {cfg.train.length} steps"
        )
        check(field, value, need, what, limit)


def writing_bytes(suffix: str, paths: int, length: int, series: int) -> float:
    """Memory ``lagnet simulate``'s writer takes beyond the series themselves: CSV and
    Parquet build a table of float64 columns with the path and t index (measured with
    tracemalloc: 40–64 bytes per path-step for 1–4 series), NPZ compresses array by array
    (24 bytes per path-step), and the writers' buffers (:data:`WRITE_BUFFERS`)."""
    extra = 5 if suffix in (".csv", ".parquet") else 3
    return F64 * float(paths) * float(length) * (series + extra) + WRITE_BUFFERS


def check_simulate(paths: int, length: int, series: int, suffix: str) -> None:
    """Refuse a simulation of paths × length that cannot fit: the simulated float32 series
    (and the simulator's shocks, as many again), plus what writing the file takes."""
    need = F32 * float(paths) * float(length) * series * 2
    need += writing_bytes(suffix, paths, length, series)
    check("paths", paths, need, f"simulating {paths} paths × {length} steps of {series} series")


def check_file(label: str, need: float) -> None:
    """Refuse reading a data file whose values (and the reader's copies) cannot fit."""
    check("process.path", label, need, "reading this file")
