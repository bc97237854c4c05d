"""What a worker runs: a *unit* — one point, or a pack of points of one shape trained as one
program — each point into its own ordinary run directory, and one result row per point.

A row: the point's id, swept values and seed, ``status`` (``complete``, ``failed``,
``diverged``, ``killed``, ``interrupted``), ``error``, ``seconds``, and every scalar test
metric as ``test.<name>``. A unit never raises for a point's failure: the row says it, and the
sweep goes on. A pack that fails is run again point by point, so one bad point fails alone. A
point stopped by Ctrl-C or SIGTERM is ``interrupted`` (the signal in ``signal``): the sweep
stops there (:func:`lagnet.sweeps.core.execute`), and ``--resume`` goes on with it.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lagnet.config import RunConfig
from lagnet.errors import Preempted
from lagnet.models import family
from lagnet.resources import F32, memory_limit, step_floats
from lagnet.rundir import RunDirectory, interrupt_on_sigterm, owned, read_status
from lagnet.runs import conclude, enable_compilation_cache, on_device, run
from lagnet.samples import Callback
from lagnet.tasks import build_task, with_inputs
from lagnet.training import Member, train_pack

PACKABLE = ("seed", "name", "train.lr", "train.weight_decay")  # + target.params values
PACK_MAX = 16


@dataclass
class Job:
    """One point to run: where, with what config, and what it varies."""

    id: str
    values: dict
    seed: int
    config: RunConfig
    callbacks: list = field(default_factory=list)


def pack_key(cfg: RunConfig) -> str | None:
    """Points with one key can train as one program; None: this point trains alone (a
    closed-form or chooser family, a wall-clock budget per point, a custom process)."""
    if (
        not family(cfg.model.kind).trained
        or cfg.process.kind == "custom"
        or cfg.train.max_seconds is not None  # a pack's members share one clock
    ):
        return None
    data = cfg.model_dump(mode="json")
    for dotted in PACKABLE:
        *parents, leaf = dotted.split(".")
        node = data
        for p in parents:
            node = node[p]
        node.pop(leaf, None)
    data["target"]["params"] = sorted(data["target"].get("params") or {})
    return json.dumps(data, sort_keys=True)


def pack_memory(cfg: RunConfig, members: int) -> int:
    """Bytes a pack's step holds, roughly: each member's batch forward and backward
    (:func:`lagnet.resources.step_floats` per path-step, kept twice) — weights and optimiser
    state are small beside it."""
    tc = cfg.train
    return int(members * F32 * tc.length * tc.batch * (2 * step_floats(cfg.model, tc.length) + 3))


def make_units(jobs: Sequence[Job], pack: bool, limit_bytes: int | None = None) -> list[list[Job]]:
    """Group jobs into units: with ``pack``, same-shape points together, at most ``PACK_MAX``
    and within ``limit_bytes`` per pack (default: the memory this machine may use, see
    :func:`lagnet.resources.memory_limit`); else one point a unit."""
    if not pack:
        return [[j] for j in jobs]
    groups: dict[str, list[Job]] = {}
    units: list[list[Job]] = []
    for j in jobs:
        key = pack_key(j.config)
        if key is None:
            units.append([j])
        else:
            groups.setdefault(key, []).append(j)
    limit_bytes = memory_limit()[0] if limit_bytes is None else limit_bytes
    for members in groups.values():
        size = PACK_MAX
        if limit_bytes:
            per = max(pack_memory(members[0].config, 1), 1)
            size = max(1, min(size, limit_bytes // per))
        units.extend(members[i : i + size] for i in range(0, len(members), size))
    return units


def row_of(job: Job, metrics: dict | None, seconds: float, error: str | None = None) -> dict:
    row = dict(id=job.id, values=job.values, seed=job.seed, seconds=seconds, error=error)
    if metrics is None:
        row["status"] = "failed"
        return row
    stopped = (metrics.get("train") or {}).get("stopped")
    row["status"] = stopped if stopped in ("diverged", "interrupted") else "complete"
    row["stopped"] = stopped
    if stopped == "interrupted":
        row["signal"] = (metrics.get("train") or {}).get("signal")
    for k, v in (metrics.get("test") or {}).items():
        if isinstance(v, (int, float)) or v is None:
            row[f"test.{k}"] = v
    memoryless = (metrics.get("baselines") or {}).get("memoryless") or {}
    row["test.memoryless_r2"] = memoryless.get("r2")
    row["val.mse"] = (metrics.get("train") or {}).get("best_val_mse")  # to choose on
    row["val.r2"] = (metrics.get("train") or {}).get("best_val_r2")  # outputs weighted alike
    return row


def stop_if_interrupted(rows: Sequence[dict]) -> None:
    """A point stopped by Ctrl-C or SIGTERM (it wrote its checkpoint and best weights so far,
    and its row says ``interrupted``) stops the sweep as the signal stops a run: raised again
    once the row is recorded; ``--resume`` goes on from there."""
    for r in rows:
        if r["status"] == "interrupted":
            raise Preempted() if r.get("signal") == "SIGTERM" else KeyboardInterrupt()


def _describe(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}".splitlines()[0][:300]


def run_solo(job: Job, root: Path, process=None) -> dict:
    out = root / job.id
    t0 = time.perf_counter()
    resume = (out / "config.toml").is_file() and (read_status(out) or {}).get(
        "status"
    ) != "complete"
    try:
        r = run(job.config, out, callbacks=job.callbacks, process=process, resume=resume)
    except Exception as e:  # noqa: BLE001 — recorded in the row; the sweep goes on
        return row_of(job, None, time.perf_counter() - t0, _describe(e))
    return row_of(job, r.metrics, time.perf_counter() - t0)


def run_packed(jobs: Sequence[Job], root: Path, process=None) -> list[dict]:
    """Train ``jobs`` as one pack (see :mod:`lagnet.training.loop`), each into its directory."""
    t0 = time.perf_counter()
    tasks = [build_task(j.config, process=process) for j in jobs]
    configs = [with_inputs(j.config, t) for j, t in zip(jobs, tasks)]
    dirs = []
    try:
        for j, c in zip(jobs, configs):
            out = root / j.id
            resume = (out / "config.toml").is_file()
            dirs.append(RunDirectory.start(out, c, resume=resume))
    except BaseException:
        for d in dirs:
            d.close()
        raise
    enable_compilation_cache()
    members = [
        Member(c, t, list(j.callbacks), d.checkpoint)
        for c, t, j, d in zip(configs, tasks, jobs, dirs)
    ]
    with _all_owned(dirs), on_device(configs[0].device), interrupt_on_sigterm() as signals:
        results = train_pack(members)
        stop, signals.deferred = signals.received, True  # trained: the files are written
        runs = [conclude(c, t, r, d, stop) for c, t, r, d in zip(configs, tasks, results, dirs)]
    seconds = time.perf_counter() - t0
    return [row_of(j, r.metrics, seconds / len(jobs)) for j, r in zip(jobs, runs)]


class _all_owned:
    def __init__(self, dirs):
        self.ctx = [owned(d) for d in dirs]

    def __enter__(self):
        for c in self.ctx:
            c.__enter__()

    def __exit__(self, *exc):
        suppressed = False
        for c in reversed(self.ctx):
            try:
                suppressed = bool(c.__exit__(*exc)) or suppressed
            except BaseException:
                if exc[0] is None:
                    raise
        return suppressed


def run_unit(jobs: Sequence[Job], root: str | os.PathLike, process=None) -> list[dict]:
    """Run one unit into ``root/<id>/``; one row per job, whatever happens to a point."""
    root = Path(root)
    if len(jobs) == 1:
        return [run_solo(jobs[0], root, process)]
    try:
        return run_packed(jobs, root, process)
    except Exception:  # noqa: BLE001 — a pack that fails is run point by point
        return [run_solo(j, root, process) for j in jobs]


def run_unit_shipped(
    jobs: Sequence[Job], process=None, given: bytes = b""
) -> tuple[list[dict], bytes]:
    """:func:`run_unit` in a private folder, returned with the run directories as a tar (no
    shared file system between a cluster's worker and the driver). ``given``: the unit's
    unfinished run directories from the driver (:func:`pack_dirs`), which its points go on
    from (their checkpoints)."""
    with tempfile.TemporaryDirectory(prefix="lagnet-unit-") as tmp:
        if given:
            with tarfile.open(fileobj=io.BytesIO(given), mode="r:gz") as tar:
                tar.extractall(tmp, filter="data")
        rows = run_unit(jobs, tmp, process)
        return rows, pack_dirs(Path(tmp), jobs)


def pack_dirs(root: Path, jobs: Sequence[Job], unfinished: bool = False) -> bytes:
    """The run directories of ``jobs`` under ``root`` as a tar (their locks left out);
    ``unfinished``: only those of points that have not completed. b"" when there are none."""
    dirs = [root / j.id for j in jobs if (root / j.id / "config.toml").is_file()]
    if unfinished:
        dirs = [d for d in dirs if (read_status(d) or {}).get("status") != "complete"]
    if not dirs:
        return b""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for d in dirs:
            tar.add(d, arcname=d.name, filter=_no_lock)
    return buf.getvalue()


def _no_lock(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    return None if Path(info.name).name == ".lock" else info


def unpack_dirs(data: bytes, root: Path) -> None:
    """A worker's run directories (:func:`pack_dirs`) in place of the driver's copies, each
    whole: unpacked beside them, then swapped in (nothing stale of the old copy stays)."""
    if not data:
        return
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".unpack-", dir=root) as tmp:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            tar.extractall(tmp, filter="data")
        for new in sorted(Path(tmp).iterdir()):
            old, gone = root / new.name, Path(tmp) / f".old-{new.name}"
            if old.exists():
                old.rename(gone)
            new.rename(old)


def with_callbacks(jobs: Sequence[Job], callbacks: Sequence[Callback]) -> list[Job]:
    return [Job(j.id, j.values, j.seed, j.config, [*j.callbacks, *callbacks]) for j in jobs]
