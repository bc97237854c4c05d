"""A run directory's life: it exists at ``--out`` from the start, owned by one process, and says
what it is in ``status.json``:

    running       training (or its owner was killed: then no process holds its lock)
    interrupted   stopped by Ctrl-C or SIGTERM; the files are those of its best weights so far
    complete      finished; every file written
    failed        an error ended it (``error`` says which)

While it trains, ``checkpoint.safetensors`` holds what ``lagnet train --resume DIR`` needs to
go on. Every file is written atomically (:mod:`lagnet.files`).
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager, suppress
from pathlib import Path

from lagnet.config import RunConfig, config_to_toml
from lagnet.errors import LagnetError, Preempted
from lagnet.files import (
    DirectoryLock,
    check_parents,
    is_locked,
    missing_folders,
    read_json,
    remove_empty,
    write_json,
    write_text,
)
from lagnet.training import Checkpoint

STATUS = "status.json"
UNFINISHED = ("running", "interrupted", "failed")
REPLACED = ".replaced"  # a finished run being replaced, until the new one's first row


def read_status(directory: str | Path) -> dict | None:
    """The run directory's ``status.json``, or None (a directory from before statuses, or none)."""
    status = read_json(Path(directory) / STATUS)
    if status is not None and status.get("status") == "running" and not is_locked(directory):
        status["status"] = "killed"  # its owner died without a word (kill -9, power)
    return status


def unfinished(directory: str | Path) -> None:
    """Refuse, in one line, a run directory whose run has not written its files yet (still
    running, killed before it could, or failed); an interrupted run's files are those of its
    best weights so far, and it is accepted."""
    status = read_status(directory)
    if status is not None and status.get("status") in ("running", "killed", "failed"):
        step = f" at step {status['step']}" if "step" in status else ""
        if not Checkpoint(directory).exists() and status.get("status") == "failed":
            raise LagnetError(
                "run_dir",
                str(directory),
                f"is a run that failed, with nothing to read{_why(status)}",
            )
        raise LagnetError(
            "run_dir",
            str(directory),
            f"is an unfinished run ({status['status']}{step}); go on with "
            f"`lagnet train --resume {directory}`",
        )


def _why(status: dict) -> str:
    """The error a run failed with, its first line (an XLA error runs to dozens)."""
    lines = str(status.get("error") or "").strip().splitlines()
    return f" ({lines[0][:200]})" if lines else ""


def interrupted_note(directory: str | Path) -> str | None:
    """A line for commands that read a run: which weights an interrupted run's files hold."""
    status = read_status(directory)
    if status is not None and status.get("status") == "interrupted":
        return (
            f"{directory} was interrupted at step {status.get('step', '?')}: using its best "
            f"weights so far (go on with `lagnet train --resume {directory}`)"
        )
    return None


def is_run_dir(directory: Path) -> bool:
    return (directory / "config.toml").is_file() and (
        (directory / "metrics.json").is_file() or (directory / STATUS).is_file()
    )


def check_out_dir(directory: str | Path, resume: bool = False) -> Path:
    """The absolute output path, if writing a run there destroys nothing but an older, finished
    run (or, with ``resume``, if there is a run to go on with)."""
    field = "resume" if resume else "out"
    check_parents(directory, field)
    given, directory = directory, Path(directory).resolve()
    if resume:
        if not (directory / "config.toml").is_file():
            raise LagnetError("resume", str(directory), "is not a run directory (no config.toml)")
        return check_writable(given, field)
    if directory.exists():
        if not directory.is_dir() or (any(directory.iterdir()) and not is_run_dir(directory)):
            raise LagnetError(
                "out", str(directory), "exists and is not a run directory; choose another path"
            )
        status = read_status(directory)
        failed = status and status.get("status") == "failed"
        if failed and not Checkpoint(directory).exists() and not is_locked(directory):
            return check_writable(given, field)  # failed with nothing to go on: replaced
        if status and status.get("status") in (*UNFINISHED, "killed"):
            if is_locked(directory):
                raise LagnetError("out", str(directory), "is in use by another lagnet process")
            raise LagnetError(
                "out",
                str(directory),
                f"holds an unfinished run ({status['status']}); go on with "
                f"`lagnet train --resume {directory}`, or choose another path",
            )
    return check_writable(given, field)


def check_writable(path: str | Path, field: str = "out") -> Path:
    """The absolute ``path``, if a folder can be made in it or, while it does not exist, in
    its nearest existing parent (tried: a permission, a read-only disk or a system folder
    such as /proc refuses only then); else one line naming ``field`` and the path, before
    anything is trained."""
    directory = Path(path).resolve()
    parent = next(p for p in (directory, *directory.parents) if p.exists())
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".lagnet-probe-", dir=parent))
    except OSError as e:
        why = e.strerror or type(e).__name__
        raise LagnetError(
            field, str(path), f"cannot be written: no folder can be made in {parent} ({why})"
        ) from None
    return directory


def _remove(item: Path) -> None:
    if item.is_dir() and not item.is_symlink():
        shutil.rmtree(item)
    elif item.exists() or item.is_symlink():
        item.unlink()


class RunDirectory:
    """A run directory owned by this process from :meth:`start` to :meth:`close`."""

    def __init__(self, path: Path, lock: DirectoryLock, made: tuple[Path, ...] = ()):
        self.path = path
        self.lock = lock
        self.checkpoint = Checkpoint(path)
        self.started = time.time()
        self.made = made  # the folders this run made: the directory, then new parents

    @classmethod
    def start(cls, out: str | Path, config: RunConfig, resume: bool = False) -> RunDirectory:
        path = check_out_dir(out, resume)
        made = missing_folders(path)
        path.mkdir(parents=True, exist_ok=True)
        lock = DirectoryLock(path)
        d = cls(path, lock, made)
        aside = False  # the old run's files moved aside: what is left here is this run's
        try:
            if not resume:  # an older, finished run here is replaced: kept aside until
                _remove(path / REPLACED)  # this one's first row (a refusal puts it back)
                old = [item for item in path.iterdir() if item.name != ".lock"]
                if old:
                    (path / REPLACED).mkdir()
                    for item in old:
                        item.rename(path / REPLACED / item.name)
                aside = True
                write_text(path / "config.toml", config_to_toml(config))
            d.status("running")
        except BaseException:
            if aside:  # a full disk refused config.toml or status.json: leave no trace
                with suppress(OSError):
                    d.withdraw()
            lock.release()
            raise
        return d

    def status(self, status: str, **extra) -> None:
        write_json(
            self.path / STATUS,
            dict(
                status=status, pid=os.getpid(), started=self.started, updated=time.time(), **extra
            ),
        )

    def began(self) -> None:
        """The run has its first row: the run it replaces is gone for good."""
        _remove(self.path / REPLACED)

    def finish(self, status: str, **extra) -> None:
        """Mark the run ``status``; a complete run no longer needs its checkpoint (nor the run
        it replaced, which a run stopped before its first row keeps aside: resuming it, or a
        first row, removes it)."""
        self.status(status, **extra)
        if status == "complete":
            self.began()
            self.checkpoint.remove()

    def close(self) -> None:
        self.lock.release()

    def withdraw(self) -> None:
        """Leave nothing of a run refused before it began (bad input found only once its
        samples were drawn): its files go while the lock is held and the run it was to
        replace comes back; then the lock, and the folders this run made (the directory and
        new parents, such as ``runs/``) if empty."""
        for item in self.path.iterdir():
            if item.name not in (".lock", REPLACED):
                _remove(item)
        kept = self.path / REPLACED
        if kept.is_dir():
            for item in kept.iterdir():
                item.rename(self.path / item.name)
            kept.rmdir()
        (self.path / ".lock").unlink(missing_ok=True)  # before the lock goes: none is taken
        self.close()  # on a file about to be unlinked
        remove_empty(self.made)


class Signals:
    """What :func:`interrupt_on_sigterm` saw: ``received`` is "SIGTERM" once one came. While
    ``deferred`` (the run writing its files), one is noted and not raised."""

    received: str | None = None
    deferred: bool = False


@contextmanager
def interrupt_on_sigterm():
    """Within: SIGTERM raises :class:`Preempted` (main thread only; elsewhere a no-op)."""
    seen = Signals()

    def handler(signum, frame):
        seen.received = "SIGTERM"
        if not seen.deferred:
            raise Preempted()

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield seen
        return
    try:
        yield seen
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def owned(directory: RunDirectory | None, withdraw: Callable[[], bool] | None = None):
    """Within: an error marks ``directory`` failed (Ctrl-C: interrupted); at the end its lock
    is released. Bad input (a :class:`LagnetError`) while ``withdraw()`` is true withdraws the
    directory instead, under its lock."""
    try:
        yield
    except BaseException as e:
        if directory is not None and isinstance(e, LagnetError) and withdraw and withdraw():
            with suppress(OSError):  # the refusal is what the user must read
                directory.withdraw()
        elif directory is not None:
            stopped = isinstance(e, KeyboardInterrupt)
            with suppress(LagnetError):  # a full disk refuses status.json too: say the first
                directory.finish(
                    "interrupted" if stopped else "failed", error=f"{type(e).__name__}: {e}"
                )
        raise
    finally:
        if directory is not None:
            directory.close()
