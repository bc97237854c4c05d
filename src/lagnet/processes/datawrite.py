"""The writer behind ``lagnet simulate``: (N, L) series as a file that ``data(...)`` reads
back (:mod:`lagnet.processes.datafiles`): CSV or Parquet in the long layout, NPZ one array
per series. Written under a temporary name and renamed, so no half-written file is left."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import numpy as np

from lagnet.errors import LagnetError
from lagnet.processes.datafiles import LONG_KEYS

WRITES = (".csv", ".parquet", ".npz")


def write_series(path: Path, series: dict[str, np.ndarray], field: str = "process.name") -> None:
    """Write (N, L) arrays by name: CSV or Parquet in the long layout (path, t, one column per
    series), NPZ one array per series. Atomic: a temporary name in the same directory, then a
    rename, so a full disk or a read-only location leaves no partial file (refused: ``out``).
    ``field`` is the setting that named the series, named when one clashes with path or t."""
    suffix = path.suffix.lower()
    if suffix not in WRITES:
        raise LagnetError("out", str(path), f"must end in {', '.join(WRITES)}")
    if suffix != ".npz" and set(LONG_KEYS) & set(series):
        raise LagnetError(
            field,
            sorted(set(LONG_KEYS) & set(series))[0],
            "clashes with the long format's columns path and t",
        )
    if path.exists() and not path.is_file():  # a directory, or a device such as /dev/full
        raise LagnetError("out", str(path), "exists and is not a regular file")
    tmp = path.with_name(f".{path.name}.tmp{suffix}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _write(tmp, suffix, series)
        os.replace(tmp, path)
    except OSError as err:
        raise LagnetError(
            "out", str(path), f"cannot write it ({err.strerror or err}); nothing was written"
        ) from None
    finally:
        with contextlib.suppress(OSError):  # a location that refused the write
            tmp.unlink(missing_ok=True)


def _write(tmp: Path, suffix: str, series: dict[str, np.ndarray]) -> None:
    paths, length = next(iter(series.values())).shape
    if suffix != ".npz":
        pi, ti = np.meshgrid(np.arange(paths), np.arange(length), indexing="ij")  # (N, L)
    if suffix == ".npz":
        with open(tmp, "wb") as f:  # a file object: numpy would append .npz to a name
            np.savez_compressed(f, **series)
    elif suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        columns = {
            "path": pi.ravel(),
            "t": ti.ravel(),
            **{n: v.ravel() for n, v in series.items()},
        }
        try:
            pq.write_table(pa.table(columns), tmp)
        except pa.ArrowException as err:  # a failed write surfaces as an Arrow error
            raise OSError(str(err)) from None
    else:
        names = list(series)
        table = np.column_stack([pi.ravel(), ti.ravel()] + [series[n].ravel() for n in names])
        # %.9g: float32 needs 9 significant digits to be read back exactly.
        np.savetxt(
            tmp,
            table,
            delimiter=",",
            header=",".join(["path", "t", *names]),
            comments="",
            fmt=["%d", "%d"] + ["%.9g"] * len(names),
        )
