"""A sweep's folder: made (or found again, to resume) before anything runs; its finished
points read back as rows."""

from __future__ import annotations

import time
from pathlib import Path

import tomli_w

from lagnet.errors import LagnetError
from lagnet.files import read_json, write_text
from lagnet.rundir import read_status
from lagnet.sweeps.spec import load_spec
from lagnet.sweeps.units import Job, row_of


def prepare_folder(out: str | Path | None, spec, resume: bool) -> Path:
    out = Path(out or Path("sweeps") / time.strftime("sweep-%Y%m%d-%H%M%S")).resolve()
    if out.exists() and not out.is_dir():
        raise LagnetError("out", str(out), "exists and is not a folder")
    if out.is_dir() and any(p.name != ".lock" for p in out.iterdir()) and not resume:
        if not (out / "spec.toml").is_file():
            raise LagnetError("out", str(out), "exists and is not a sweep folder; choose another")
        raise LagnetError("out", str(out), "holds a sweep: --resume it, or choose another folder")
    (out / "points").mkdir(parents=True, exist_ok=True)
    data = spec if isinstance(spec, dict) else load_spec(spec)[0].model_dump(exclude_none=True)
    if not (out / "spec.toml").is_file():
        write_text(out / "spec.toml", tomli_w.dumps(_plain(data)))
    return out


def _plain(obj):
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


def finished_row(job: Job, root: Path) -> dict | None:
    """The row of a point that already finished (a resumed sweep skips it), else None."""
    d = root / job.id
    if (read_status(d) or {}).get("status") != "complete":
        return None
    metrics = read_json(d / "metrics.json")
    return (
        None
        if metrics is None
        else row_of(job, metrics, (metrics.get("train") or {}).get("seconds", 0.0))
    )
