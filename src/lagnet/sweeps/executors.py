"""Where units run. Each executor takes units and yields ``(unit, rows)`` as they finish;
a point's result does not depend on which one ran it (the same packs, the same single-threaded
settings in every worker).

* :class:`InProcess` — here, one after another (``--workers 1``): compilations are shared;
* :class:`Pool` — a local process pool, spawned (never forked after JAX started), one
  single-threaded worker per core; a worker that dies (SIGKILL, out of memory) is replaced and
  its unit run again, up to ``retries`` times, then its points are recorded as ``killed``;
* :class:`RayCluster` — each unit a Ray task on an existing cluster (``--ray ADDRESS`` or
  ``auto``); the run directories come back to the driver as a tar, so no shared file system is
  needed; Ray retries a task whose worker died.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from lagnet.errors import LagnetError
from lagnet.rundir import read_status
from lagnet.sweeps.units import Job, row_of, run_unit, run_unit_shipped, unpack_dirs

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


def _was_killed(unit: Sequence[Job], root: Path) -> bool:
    """True when a point of ``unit`` was cut off mid-run (its directory still says running):
    the unit whose worker died. The pool's other workers are stopped with SIGTERM, which a
    run takes like Ctrl-C (checkpoint, status interrupted): their units run again for free."""
    return any(
        (read_status(root / j.id) or {}).get("status") in ("running", "killed") for j in unit
    )


class Pool:
    name = "local pool"

    def __init__(self, root: Path, workers: int, process=None, retries: int = 2):
        self.root, self.workers, self.process, self.retries = root, workers, process, retries

    def run(self, units: Sequence[list[Job]]) -> Iterator[tuple[list[Job], list[dict]]]:
        pending = [(u, 0) for u in units]
        while pending:
            ctx = multiprocessing.get_context("spawn")
            with _environment(WORKER_ENV):
                pool = cf.ProcessPoolExecutor(
                    max_workers=self.workers, mp_context=ctx, initializer=_worker_init
                )
            broken: list[tuple[list[Job], int]] = []
            try:
                futures = {
                    pool.submit(run_unit, u, self.root, self.process): (u, n) for u, n in pending
                }
                pending = []
                for fut in cf.as_completed(futures):
                    unit, tries = futures[fut]
                    try:
                        yield unit, fut.result()
                    except cf.process.BrokenProcessPool:
                        broken.append((unit, tries))
            finally:
                pool.shutdown(wait=True, cancel_futures=True)
            killed = [_was_killed(unit, self.root) for unit, _ in broken]
            for (unit, tries), hit in zip(broken, killed):
                tries += 1 if hit or not any(killed) else 0  # no culprit seen: count them all
                if tries <= self.retries:
                    pending.append((unit, tries))
                else:
                    yield unit, killed_rows(unit, f"its worker was killed {tries} times")


class RayCluster:
    name = "ray"

    def __init__(self, root: Path, address: str, process=None, retries: int = 2):
        try:
            import ray
        except ImportError:
            raise LagnetError("--ray", address, "needs Ray: pip install 'lagnet[ray]'") from None
        self.ray, self.root, self.process, self.retries = ray, root, process, retries
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
            raise LagnetError("--ray", address, f"cannot join the Ray cluster ({e})") from None

    def run(self, units: Sequence[list[Job]]) -> Iterator[tuple[list[Job], list[dict]]]:
        ray = self.ray
        remote = ray.remote(num_cpus=1, max_retries=self.retries)(run_unit_shipped)
        refs = {remote.remote(u, self.process): u for u in units}
        while refs:
            done, _ = ray.wait(list(refs), num_returns=1)
            unit = refs.pop(done[0])
            try:
                rows, data = ray.get(done[0])
            except ray.exceptions.WorkerCrashedError as e:
                yield unit, killed_rows(unit, f"worker died (killed): {str(e).splitlines()[0]}")
                continue
            except ray.exceptions.RayError as e:
                yield unit, killed_rows(unit, f"{type(e).__name__}: {str(e).splitlines()[0]}")
                continue
            unpack_dirs(data, self.root)
            yield unit, rows

    def close(self) -> None:
        self.ray.shutdown()


def make_executor(root: Path, workers: int, ray: str | None, process, units: int):
    if ray is not None:
        return RayCluster(root, ray, process)
    if workers == 1 or units <= 1:
        return InProcess(root, process)
    return Pool(root, min(workers, units), process)
