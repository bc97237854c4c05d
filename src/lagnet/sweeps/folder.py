"""A sweep's folder: made (or found again, to resume) before anything runs; its finished
points read back as rows."""

from __future__ import annotations

import csv
import functools
import time
from collections.abc import Sequence
from pathlib import Path

import tomli_w

from lagnet.errors import LagnetError
from lagnet.files import check_parents, read_json, write_text
from lagnet.rundir import check_writable, read_status
from lagnet.sweeps.outputs import read_csv
from lagnet.sweeps.spec import as_stored, effective, sweep_fields
from lagnet.sweeps.units import Job, row_of


def prepare_folder(out: str | Path | None, spec, resume: bool, sets: Sequence[str] = ()) -> Path:
    """The sweep's folder with its ``spec.toml`` (the spec as given, with ``sets``), once
    :func:`check_folder` lets it be."""
    out = Path(out or Path("sweeps") / time.strftime("sweep-%Y%m%d-%H%M%S")).resolve()
    if check_folder(out, spec, resume, sets):
        out.mkdir(parents=True, exist_ok=True)
        write_text(out / "spec.toml", tomli_w.dumps(_plain(as_stored(spec, sets))))
    (out / "points").mkdir(exist_ok=True)
    return out


def check_folder(out: str | Path | None, spec, resume: bool, sets: Sequence[str] = ()) -> bool:
    """Refuse, in one line and before anything is written, a folder this sweep may not write:
    one that is not a sweep's, one that holds a sweep (unless ``resume``) or one that holds
    another sweep (its spec or ``--set`` values differ; ``trials`` may). A folder that does not
    exist yet is made. True when its ``spec.toml`` is (re)written: a new folder, or more (or
    fewer) trials."""
    if out is None:
        return True
    check_parents(out)  # d.csv/x: one line, before anything is made
    out = Path(out).resolve()
    if out.exists() and not out.is_dir():
        raise LagnetError("out", str(out), "exists and is not a folder")
    check_writable(out, "out")  # /proc/sw failed after the first point, exit 1
    if not out.is_dir() or not any(p.name != ".lock" for p in out.iterdir()):
        return True
    if not (out / "spec.toml").is_file():
        raise LagnetError("out", str(out), "exists and is not a sweep folder; choose another")
    if not resume:
        raise LagnetError("out", str(out), "holds a sweep: --resume it, or choose another folder")
    return not _same_sweep(out, spec, sets)


def _same_sweep(out: Path, spec, sets: Sequence[str]) -> bool:
    """Raise unless the folder's spec makes the same sweep as ``spec`` with ``sets``; True if
    it holds the same ``trials`` too."""
    given_spec, given_base = effective(spec, sets)
    try:
        held_spec, held_base = effective(out / "spec.toml")
    except LagnetError as e:
        raise LagnetError("spec", str(out / "spec.toml"), f"cannot be read again ({e})") from None
    given, held = sweep_fields(given_spec, given_base), sweep_fields(held_spec, held_base)
    for name in [*given, *(k for k in held if k not in given)]:
        if given.get(name) != held.get(name):
            raise LagnetError(
                "spec", f"{name} = {given.get(name)}", f"{out} holds a different spec "
                f"({name} = {held.get(name)} there): resume with the spec and --set values that "
                "made it, or choose another --out"
            )  # fmt: skip
    return given_spec.trials == held_spec.trials


def _plain(obj):
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


def finished_row(job: Job, root: Path) -> dict | None:
    """The row of a point that already finished (a resumed sweep skips it), else None. Its
    ``seconds`` is the wall time the point took, as the sweep recorded it when it finished."""
    d = root / job.id
    if (read_status(d) or {}).get("status") != "complete":
        return None
    metrics = read_json(d / "metrics.json")
    return None if metrics is None else row_of(job, metrics, point_seconds(job.id, root))


def point_seconds(point: str, root: Path) -> float | None:
    """The wall time a finished point took: its ``seconds`` in the sweep's ``sweep.csv``
    (beside ``root``, the ``points/`` folder), written when the point finished and carried
    over by every resume; if the driver died before writing it, the time its run directory
    was held (``status.json``: started to finished). Not ``metrics.json``'s train seconds:
    those are training alone, without the point's compilation and evaluation."""
    csv_path = root.parent / "sweep.csv"
    if csv_path.is_file():
        st = csv_path.stat()
        held = _recorded_seconds(str(csv_path), st.st_mtime_ns, st.st_size).get(point)
        if held is not None:
            return held
    status = read_status(root / point) or {}
    started, updated = status.get("started"), status.get("updated")
    return updated - started if started is not None and updated is not None else None


@functools.lru_cache(maxsize=4)
def _recorded_seconds(path: str, mtime_ns: int, size: int) -> dict[str, float]:
    """Seconds by point id of the complete rows of a ``sweep.csv`` (a row of an earlier,
    failed try of a point is not its time), read once per version of the file: a resume asks
    for every point."""
    try:
        rows = read_csv(Path(path))
    except (OSError, UnicodeDecodeError, csv.Error):  # unreadable: the status times serve
        return {}
    return {
        str(r["id"]): float(r["seconds"])
        for r in rows
        if r.get("status") == "complete" and isinstance(r.get("seconds"), (int, float))
    }
