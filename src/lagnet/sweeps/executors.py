"""Where units run. Each executor takes units and yields ``(unit, rows)`` as they finish;
a point's result does not depend on which one ran it (the same packs, the same single-threaded
settings in every worker).

* :class:`InProcess` — here, one after another (``--workers 1``): compilations are shared;
* :class:`Pool` — a local pool of long-lived spawned processes (never forked after JAX
  started), one single-threaded worker per core; a worker that dies (SIGKILL, out of memory)
  takes down only its own unit: it is replaced and the unit run again, up to ``retries``
  times, then its points are recorded as ``killed``;
* :class:`RayCluster` — each unit a Ray task on an existing cluster (``--ray ADDRESS`` or
  ``auto``); the run directories come back to the driver as a tar, so no shared file system is
  needed; Ray retries a task whose worker died.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from multiprocessing.connection import wait as mp_wait
from pathlib import Path

from lagnet.errors import LagnetError, Preempted
from lagnet.sweeps.units import (
    Job,
    pack_dirs,
    pack_key,
    row_of,
    run_unit,
    run_unit_shipped,
    unpack_dirs,
)

# Every worker single-threaded: on 2 shared cores a second thread beside a busy process was
# measured 12-31x slower.
WORKER_ENV = {
    "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "MPLBACKEND": "Agg",
}


def killed_rows(unit: Sequence[Job], error: str) -> list[dict]:
    rows = [row_of(j, None, 0.0, error) for j in unit]
    for r in rows:
        r["status"] = "killed"
    return rows


class InProcess:
    name = "in-process"

    def __init__(self, root: Path, process=None):
        self.root, self.process = root, process

    def run(self, units: Sequence[list[Job]]) -> Iterator[tuple[list[Job], list[dict]]]:
        for unit in units:
            yield unit, run_unit(unit, self.root, self.process)

    def map(self, fn: Callable, items: Sequence) -> Iterator[tuple[object, object]]:
        """``(item, fn(item))`` for each item, in order."""
        for item in items:
            yield item, fn(item)


@contextmanager
def _environment(values: dict[str, str]):
    """``values`` in os.environ while workers are spawned (they inherit it); restored after."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update({k: v for k, v in values.items() if k not in os.environ or k == "XLA_FLAGS"})
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _worker_init() -> None:
    """A pool worker dies with its driver (Linux: the parent-death signal), so a driver killed
    with SIGKILL leaves no orphan holding its points' directories."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL
    except (OSError, AttributeError):  # not Linux: workers end when their queue closes
        pass


def _worker_main(conn) -> None:
    """A pool worker: take ``(fn, args)`` from the driver, send back ``("ok", result)`` (or
    ``("error", text)``), until told ``None``. It lives for many units, so compiled programs
    are reused from one to the next."""
    _worker_init()
    while True:
        msg = conn.recv()
        if msg is None:
            return
        fn, args = msg
        try:
            conn.send(("ok", fn(*args)))
        except Exception as e:  # noqa: BLE001 — reported to the driver, the worker goes on
            conn.send(("error", f"{type(e).__name__}: {e}".splitlines()[0][:300]))


class _Worker:
    def __init__(self, ctx):
        self.conn, child = ctx.Pipe()
        with _environment(WORKER_ENV):
            self.proc = ctx.Process(target=_worker_main, args=(child,), daemon=True)
            self.proc.start()
        child.close()
        self.job = None  # (key, fn, args, tries) it is running
        self.group = None  # the compiled programs it holds: the group of its last call

    def stop(self, grace: float = 5.0) -> None:
        with suppress(OSError):
            self.conn.send(None)
        self.proc.join(timeout=grace)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()


STOP_GRACE = 60.0  # seconds a stopped sweep's busy worker has to checkpoint its point


class Pool:
    """``workers`` long-lived spawned processes; each takes one call at a time. A worker that
    dies (SIGKILL, out of memory) takes down only the call it was running: it is replaced, and
    the call is made again up to ``retries`` times, then reported as killed."""

    name = "local pool"

    def __init__(self, root: Path | None, workers: int, process=None, retries: int = 2):
        self.root, self.workers, self.process, self.retries = root, workers, process, retries
        self.stopping: int | None = None  # the signal that stops the sweep (see stop_with)

    def stop_with(self, signum: int) -> None:
        """The sweep is stopping on ``signum``: busy workers are given it too (SIGTERM; a
        terminal's Ctrl-C reached them already) and ``STOP_GRACE`` seconds to checkpoint and
        mark their points interrupted, instead of 5 s and a kill (a point left "running" with
        no checkpoint, retrained from its start by --resume)."""
        self.stopping = signum

    def _calls(self, calls, groups: dict | None = None):
        """Yield ``(key, status, value)``: status "ok" (value = result), "error" (text) or
        "killed" (text), for calls = [(key, fn, args)]. ``groups``: key -> the group of calls
        that share compiled programs (None: none); see :func:`_next`."""
        ctx = multiprocessing.get_context("spawn")
        queue = [(key, fn, args, 0) for key, fn, args in calls]
        workers = [_Worker(ctx) for _ in range(min(self.workers, len(queue)))]
        groups = groups or {}
        try:
            while queue or any(w.job for w in workers):
                for w in workers:
                    if w.job is None and queue:
                        w.job = _next(queue, w, workers, groups)
                        w.group = groups.get(w.job[0])
                        with suppress(OSError):  # died idle: replaced below, the call retried
                            w.conn.send((w.job[1], w.job[2]))
                busy = [w for w in workers if w.job]
                ready = mp_wait([w.conn for w in busy] + [w.proc.sentinel for w in busy])
                for i, w in enumerate(list(workers)):
                    if not w.job:
                        continue
                    if w.conn in ready or (w.proc.sentinel in ready and w.conn.poll()):
                        try:
                            status, value = w.conn.recv()
                        except (EOFError, OSError):
                            status = None
                        if status is not None:
                            key, w.job = w.job[0], None
                            yield key, status, value
                            continue
                    if w.proc.sentinel in ready or not w.proc.is_alive():
                        key, fn, args, tries = w.job
                        w.job = None
                        w.proc.join()
                        workers[i] = _Worker(ctx)
                        if tries < self.retries:
                            queue.insert(0, (key, fn, args, tries + 1))
                        else:
                            code = w.proc.exitcode
                            yield key, "killed", f"its worker died {tries + 1} times (exit {code})"
        except KeyboardInterrupt as e:  # Ctrl-C or SIGTERM while the driver waited here
            self.stop_with(signal.SIGTERM if isinstance(e, Preempted) else signal.SIGINT)
            raise
        finally:
            for w in workers:
                if w.job is not None and self.stopping == signal.SIGTERM:
                    with suppress(OSError):
                        os.kill(w.proc.pid, signal.SIGTERM)
                w.stop(STOP_GRACE if w.job is not None and self.stopping else 5.0)

    def run(self, units: Sequence[list[Job]]) -> Iterator[tuple[list[Job], list[dict]]]:
        calls = [(i, run_unit, (u, self.root, self.process)) for i, u in enumerate(units)]
        groups = {i: pack_key(u[0].config) for i, u in enumerate(units)}
        for i, status, value in self._calls(calls, groups):
            unit = units[i]
            if status == "ok":
                yield unit, value
            elif status == "killed":
                yield unit, killed_rows(unit, value)
            else:
                yield unit, [row_of(j, None, 0.0, value) for j in unit]

    def map(self, fn: Callable, items: Sequence) -> Iterator[tuple[object, object]]:
        """``(item, fn(item))`` as they finish; a call whose worker kept dying, or that raised,
        is raised here (``fn`` should record its own errors)."""
        for i, status, value in self._calls([(i, fn, (it,)) for i, it in enumerate(items)]):
            if status != "ok":
                raise RuntimeError(f"{items[i]}: {value}")
            yield items[i], value


def _next(queue: list, worker: _Worker, workers: list[_Worker], groups: dict):
    """The call for a free ``worker``: one of the group whose programs it compiled already,
    else one of a group no other worker holds (each group is compiled by one worker, not by
    all at once), else the first. Measured on 2 cores: the four points of 2 shapes × 2 seeds,
    each alone (the sweep of tests/test_sweep.py::test_the_issue_spec_works_as_written), 31-34 s
    → 24 s with no compilation cache; the same with a warm one (16-17 s)."""
    held = {w.group for w in workers if w is not worker}
    for wanted in (lambda g: g == worker.group, lambda g: g not in held):
        for i, item in enumerate(queue):
            group = groups.get(item[0])
            if group is not None and wanted(group):
                return queue.pop(i)
    return queue.pop(0)


# Ray's own connection gives up after 20 tries of about 40 s each (a sweep at an unreachable
# address never ended); with these, one try of about 15 s. Ray reads them when it is imported;
# a value already in the environment wins.
RAY_CONNECT_ENV = {
    "RAY_gcs_server_port_wait_time_s": "1",
    "RAY_gcs_rpc_server_connect_timeout_s": "5",
    "RAY_py_gcs_connect_timeout_s": "5",
}
PROBE_SECONDS = 5.0


def _probe(address: str) -> None:
    """Refuse, at once, a ``HOST:PORT`` that nothing answers on (Ray would wait for it).
    ``auto`` and what does not look like an address are left to Ray."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not host or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=PROBE_SECONDS).close()
    except OSError as e:
        why = e.strerror or type(e).__name__
        raise LagnetError(
            "--ray", address, f"cannot join the Ray cluster (nothing answers there: {why})"
        ) from None


def join_ray(address: str):
    """Connect this process to the Ray cluster at ``address`` (again: a no-op) and return the
    ``ray`` module, or refuse in one line, within seconds. A sweep calls it before its folder
    is made, so a refused address leaves nothing behind."""
    try:
        for k, v in RAY_CONNECT_ENV.items():
            os.environ.setdefault(k, v)
        import ray
    except ImportError:
        raise LagnetError("--ray", address, "needs Ray: pip install 'lagnet[ray]'") from None
    if ray.is_initialized():
        return ray
    _probe(address)
    try:
        ray.init(
            address=address,
            ignore_reinit_error=True,
            include_dashboard=False,
            logging_level="ERROR",
            log_to_driver=False,
            runtime_env={"env_vars": WORKER_ENV},
        )
    except (ConnectionError, RuntimeError, ValueError) as e:
        with suppress(Exception):
            ray.shutdown()
        why = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise LagnetError("--ray", address, f"cannot join the Ray cluster ({why})") from None
    return ray


class RayCluster:
    name = "ray"

    def __init__(self, root: Path, address: str, process=None, retries: int = 2):
        self.ray, self.root, self.process, self.retries = join_ray(address), root, process, retries

    def run(self, units: Sequence[list[Job]]) -> Iterator[tuple[list[Job], list[dict]]]:
        ray = self.ray
        remote = ray.remote(num_cpus=1, max_retries=self.retries)(run_unit_shipped)
        # A resumed point goes on from its checkpoint: its directory travels to the worker.
        refs = {
            remote.remote(u, self.process, pack_dirs(self.root, u, unfinished=True)): u
            for u in units
        }
        while refs:
            done, _ = ray.wait(list(refs), num_returns=1)
            unit = refs.pop(done[0])
            try:
                rows, data = ray.get(done[0])
            except ray.exceptions.WorkerCrashedError as e:
                yield unit, killed_rows(unit, f"worker died (killed): {str(e).splitlines()[0]}")
                continue
            except ray.exceptions.RayTaskError as e:  # the unit raised: failed, not killed
                error = f"{type(e.cause).__name__}: {str(e.cause).splitlines()[0][:300]}"
                yield unit, [row_of(j, None, 0.0, error) for j in unit]
                continue
            except ray.exceptions.RayError as e:
                yield unit, killed_rows(unit, f"{type(e).__name__}: {str(e).splitlines()[0]}")
                continue
            unpack_dirs(data, self.root)
            yield unit, rows

    def map(self, fn: Callable, items: Sequence) -> Iterator[tuple[object, object]]:
        """``(item, fn(item))`` as Ray tasks finish (a task whose worker died is retried)."""
        remote = self.ray.remote(num_cpus=1, max_retries=self.retries)(fn)
        refs = {remote.remote(item): item for item in items}
        while refs:
            done, _ = self.ray.wait(list(refs), num_returns=1)
            yield refs.pop(done[0]), self.ray.get(done[0])

    def close(self) -> None:
        self.ray.shutdown()


def make_executor(root: Path | None, workers: int, ray: str | None, process, units: int):
    """Ray when an address is given; here for one worker or one unit; else a local pool."""
    if ray is not None:
        return RayCluster(root, ray, process)
    if workers == 1 or units <= 1:
        return InProcess(root, process)
    return Pool(root, min(workers, units), process)
