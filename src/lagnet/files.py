"""Files that are never half-written, and directories that one process owns at a time.

Every file of a run directory is written under a temporary name in the same directory, flushed
to disk and renamed over its final name, so a reader (or a process that resumes after kill -9)
sees the old file or the new one, never a mixture. A run directory is owned through an
advisory lock on ``.lock`` inside it, which the operating system releases when its owner dies,
however it dies.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from lagnet.errors import LagnetError


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` to make the file under a temporary name beside ``path``, fsync it,
    then rename it over ``path``. On any failure the temporary file is removed and ``path`` is
    left as it was; a location that refuses the write (a full disk, a read-only directory) is a
    :class:`LagnetError` naming the file, in one line."""
    path = Path(path)
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as err:
        raise _unwritable(path, err) from err
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; a run's files are not
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise _unwritable(path, err) from err  # the cause: shown with LAGNET_DEBUG=1
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def _unwritable(path: Path, err: OSError) -> LagnetError:
    return LagnetError("out", str(path), f"cannot write it ({err.strerror or err})")


def write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json(path: str | os.PathLike, obj) -> Path:
    return write_text(path, json.dumps(obj, indent=2, allow_nan=False))


def read_json(path: str | os.PathLike) -> dict | None:
    """A JSON file's object, or None when it is missing or unreadable."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


class DirectoryLock:
    """An exclusive, non-blocking advisory lock on ``directory/.lock`` for this process's
    lifetime (or until :meth:`release`). A second owner gets a :class:`LagnetError` naming
    ``field`` and the directory, and the pid of the owner."""

    def __init__(self, directory: Path, field: str = "out"):
        self.path = Path(directory) / ".lock"
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            owner = os.pread(self.fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(self.fd)
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise LagnetError(
                    field, str(directory), f"is in use by another lagnet process (pid {owner})"
                ) from None
            raise
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, str(os.getpid()).encode(), 0)

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> DirectoryLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def is_locked(directory: Path) -> bool:
    """True while some live process holds ``directory``'s lock."""
    path = Path(directory) / ".lock"
    if not path.is_file():
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False


def check_parents(path: str | os.PathLike, field: str = "out") -> None:
    """Refuse, in one line naming ``field``, a ``path`` that cannot be made because one of
    its parents is a file (``d.csv/run``): making it failed with NotADirectoryError, or
    FileExistsError, once the run had begun."""
    given = Path(path)
    for parent in Path(os.path.abspath(given)).parents:
        if parent.exists() or parent.is_symlink():
            if not parent.is_dir():
                shown = next((p for p in given.parents if p.resolve() == parent.resolve()), parent)
                what = "a file" if parent.is_file() else "something else"
                raise LagnetError(field, str(given), f"{shown} is {what}, not a folder")
            return


def missing_folders(path: Path) -> tuple[Path, ...]:
    """``path`` and its parents that do not exist yet, deepest first: what making ``path``
    makes, for :func:`remove_empty` to take back."""
    return tuple(p for p in (path, *path.parents) if not p.exists())


def remove_empty(folders: tuple[Path, ...]) -> None:
    """Remove ``folders`` (deepest first), stopping at the first that is not an empty folder."""
    for folder in folders:
        if not folder.is_dir() or any(folder.iterdir()):
            break
        folder.rmdir()
