"""Series files: the reader behind ``data(...)`` processes (the writer behind ``lagnet
simulate``, :mod:`lagnet.processes.datawrite`, writes the same layouts).

  .csv      long format ``path,t,<series...>`` (one row per path and step), or plain wide
            columns, one column per series and one row per step (one long series);
  .parquet  the same two layouts (``.pq`` too);
  .npz      one array per series: (N, L) for N paths of L steps, or 1-D for one long series.

A file that cannot be read whole is refused with one line naming the file, the row (``line``
in a CSV, counting the header; ``row`` from 1 in Parquet; the index in an NPZ array) and the
column.
"""

from __future__ import annotations

import csv
import functools
import os
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from lagnet.errors import LagnetError
from lagnet.resources import check_file

SUFFIXES = (".csv", ".parquet", ".pq", ".npz")
LONG_KEYS = ("path", "t")  # the index columns of the long layout


# ----------------------------------------------------------------------------- reading
# Cells that mean "no value" (pandas' defaults, case-insensitive); inf is non-finite, too.
MISSING = frozenset({"", "na", "n/a", "nan", "-nan", "null", "none", "#n/a", "<na>", "nat"})
SKIP_HINT = 'missing = "skip" draws only windows that avoid gaps'


@functools.lru_cache(maxsize=4)
def load(
    path: str,
    resolved: str,
    mtime_ns: int,
    size: int,
    columns: tuple[str, ...] | None,
    missing: str = "refuse",
) -> tuple[tuple[str, ...], np.ndarray]:
    """(names, values (S, P, T) float32), read-only. ``path`` as the user wrote it names the
    file in messages. A missing or non-finite value is refused, naming file, line and column;
    with ``missing = "skip"`` it is kept as NaN, a gap no window will cross. Cached by file,
    modification time and size: a config is validated and then built, and a large file should
    be read once."""
    suffix = Path(path).suffix.lower()
    if suffix not in SUFFIXES:
        raise LagnetError(
            "process.path", path, f"unknown file type '{suffix}' (expected {', '.join(SUFFIXES)})"
        )
    check_file(path, _reading_bytes(resolved, suffix, size))
    if suffix == ".npz":
        names, values = _read_npz(path, resolved, columns, missing)
    else:
        read = _read_csv if suffix == ".csv" else _read_parquet
        header, cells, where = read(path, resolved, missing)
        names, values = _from_table(path, header, cells, where, columns, missing)
    with np.errstate(over="ignore", invalid="ignore"):
        wide = values
        values = values.astype(np.float32)
    overflow = np.isfinite(wide) & ~np.isfinite(values)  # finite in float64, too big for float32
    if overflow.any():
        s, p, t = (int(i[0]) for i in np.nonzero(overflow))
        raise LagnetError(
            "process.path", path, f"series '{names[s]}', path {p}, step {t}: too large for float32"
        )
    values.setflags(write=False)
    return names, values


def _reading_bytes(resolved: str, suffix: str, size: int) -> float:
    """Memory reading a file takes: a CSV's cells as Python strings (about 8× the text), a
    Parquet table's rows × columns as float64 (twice), an NPZ's arrays as float64 (twice)."""
    if suffix == ".csv":
        return 8.0 * size
    try:
        if suffix == ".npz":
            with zipfile.ZipFile(resolved) as z:
                return 3.0 * sum(i.file_size for i in z.infolist())
        import pyarrow.parquet as pq

        meta = pq.ParquetFile(resolved).metadata
        return 16.0 * meta.num_rows * meta.num_columns
    except Exception:  # noqa: BLE001 — an unreadable file is reported by its reader
        return 0.0


def _read_csv(
    path: str, resolved: str, missing: str
) -> tuple[list[str], dict[str, list], Callable[[int], str]]:
    """Header, cells by column (strings) and where(i) naming data row i ("line k"). A blank
    line between data rows is a row of missing values (pandas writes a missing value of a
    one-column frame as ``""``, which is easy to lose in an editor); blank lines at the end
    are not rows."""
    lines: list[int] = []
    try:
        # utf-8-sig: a spreadsheet's "CSV UTF-8" starts with a byte-order mark, which would
        # become part of the first column's name
        with open(resolved, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if header is None:
                raise LagnetError("process.path", path, "the file is empty")
            header = [h.strip() for h in header]
            rows = []
            for row in reader:
                if not row:
                    row = [""] * len(header)  # a blank line: a row of gaps, unless trailing
                elif len(row) != len(header):
                    raise LagnetError(
                        "process.path",
                        path,
                        f"line {reader.line_num}: {len(row)} fields, the header "
                        f"has {len(header)} (ragged rows)",
                    )
                rows.append(row)
                lines.append(reader.line_num)
    except (UnicodeDecodeError, csv.Error, OSError) as err:
        raise LagnetError("process.path", path, f"not a readable CSV file ({err})") from None
    with open(resolved, "rb") as f:  # trailing blank lines: csv.reader gives them as []
        tail = _trailing_blank_lines(f)
    if tail:
        del rows[-tail:], lines[-tail:]
    if len(set(header)) != len(header) or not all(header):
        raise LagnetError("process.path", path, f"line 1: empty or repeated column names {header}")
    cells = {h: [r[j] for r in rows] for j, h in enumerate(header)}
    return header, cells, lambda i: f"line {lines[i]}"


def _trailing_blank_lines(f) -> int:
    """How many truly empty lines (not even ``""``) end the file."""
    f.seek(0, os.SEEK_END)
    end = f.tell()
    f.seek(max(0, end - 4096))
    tail = f.read().replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    body = tail.rstrip(b"\n")
    return max(0, len(tail) - len(body) - 1) if body else 0


def _read_parquet(
    path: str, resolved: str, missing: str
) -> tuple[list[str], dict[str, object], Callable[[int], str]]:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(resolved)
    except (pa.ArrowException, OSError) as err:
        raise LagnetError("process.path", path, f"not a readable Parquet file ({err})") from None
    cells: dict[str, object] = {}
    for name, col in zip(table.column_names, table.columns):
        if pa.types.is_integer(col.type) or pa.types.is_floating(col.type):
            if col.null_count and missing != "skip":
                i = int(pc.index(pc.is_null(col), True).as_py())
                raise LagnetError(
                    "process.path",
                    path,
                    f"row {i + 1}, column '{name}': missing value (null); {SKIP_HINT}",
                )
            col = pc.fill_null(col.cast(pa.float64()), float("nan"))
            cells[name] = col.to_numpy()
        else:
            cells[name] = str(col.type)  # not numbers: only its type is kept for the message
    return list(table.column_names), cells, lambda i: f"row {i + 1}"


def _numbers(
    path: str,
    name: str,
    cells: object,
    where: Callable[[int], str],
    named: bool,
    missing: str = "refuse",
) -> np.ndarray | None:
    """A column as float64 (rows,), NaN where a value is missing (with ``missing = "skip"``),
    or None for a text column that was not asked for. A column counts as text when its first
    present value is not a number; a number column with a text value further down is an
    error, not a text column."""
    if isinstance(cells, str):  # a Parquet column of another type
        if named:
            raise LagnetError("process.path", path, f"column '{name}' holds {cells}, not numbers")
        return None
    gaps = False
    if isinstance(cells, np.ndarray):
        values = np.array(cells, np.float64)
    else:
        try:
            values = np.array(cells, dtype=np.float64)
        except ValueError:
            values = np.empty(len(cells))
            seen = False
            for i, cell in enumerate(cells):
                if cell.strip().lower() in MISSING:
                    values[i], gaps = np.nan, True
                    continue
                try:
                    values[i] = float(cell)
                except ValueError:
                    if not seen and not named:
                        return None
                    raise LagnetError(
                        "process.path",
                        path,
                        f"{where(i)}, column '{name}': {cell!r} is not a number",
                    ) from None
                seen = True
    bad = np.flatnonzero(~np.isfinite(values))
    if len(bad) and missing != "skip":
        i = int(bad[0])
        shown = values[i] if isinstance(cells, np.ndarray) else cells[i].strip() or None
        raise LagnetError(
            "process.path",
            path,
            f"{where(i)}, column '{name}': "
            + ("an empty cell" if shown is None else repr(shown) if gaps else f"{shown}")
            + f" is a missing or non-finite value (NaN and inf are refused; {SKIP_HINT})",
        )
    values[bad] = np.nan
    return values


def _select(columns, available: list[str], path, what: str) -> list[str]:
    """The requested ``columns`` (all ``available`` when None); an unknown one is refused."""
    if columns is None:
        return available
    for name in columns:
        if name not in available:
            raise LagnetError(
                "process.columns",
                name,
                f"no such {what} in {path} (it has: {', '.join(available)})",
            )
    return list(columns)


def _from_table(path, header, cells, where, columns, missing="refuse"):
    """Long layout (``path`` and ``t`` columns) or wide; values (S, P, T)."""
    long = all(k in header for k in LONG_KEYS)
    one = [k for k in LONG_KEYS if k in header]
    if one == ["path"] or (one == ["t"] and columns is None):
        # half a long layout read as one wide series would join the paths end to end
        raise LagnetError(
            "process.path",
            path,
            f"has a {one[0]} column but no {'t' if one == ['path'] else 'path'} column: "
            "the long layout needs both (path: which series, t: the step within it)"
            + (
                "; for one series over time name the series with columns=[...]"
                if one == ["t"]
                else ""
            ),
        )
    candidates = _select(
        columns, [h for h in header if not (long and h in LONG_KEYS)], path, "series"
    )
    series = {}
    for name in candidates:
        col = _numbers(path, name, cells[name], where, columns is not None, missing)
        if col is not None:
            series[name] = col
    if not series and columns is not None and not list(columns):
        raise LagnetError("process.columns", [], f"names no series of {path}")
    if not series:
        raise LagnetError("process.path", path, "no numeric series in the file")
    names = tuple(series)
    rows = len(next(iter(series.values())))
    if rows == 0:
        raise LagnetError("process.path", path, "no data rows")
    values = np.stack([series[n] for n in names])  # (S, rows)
    if not long:
        return names, values[:, None, :]  # (S, 1, T): one long series
    pid, labels = _path_ids(path, cells["path"], where)
    keys = [pid, _numbers(path, "t", cells["t"], where, True)]
    return names, _long_to_paths(path, values, keys, where, labels, missing)


def _path_ids(path, cells, where) -> tuple[np.ndarray, Callable[[float], str]]:
    """The path column as numbers, and how to name a path in a message. A CSV column of
    names (a ticker, "AAPL": its first present cell is not a number) is numbered in order of
    first appearance; a number column keeps its rules (a missing or text cell is refused)."""
    texts = [c.strip() for c in cells] if isinstance(cells, list) else None
    present = [c for c in texts or [] if c.lower() not in MISSING]
    if not present or _is_number(present[0]):
        try:
            return _numbers(path, "path", cells, where, True), lambda p: f"{p:g}"
        except LagnetError as err:
            if isinstance(cells, str):  # a Parquet column of text
                why = f"{err.reason} (named paths: in a CSV)"
                raise LagnetError(err.field, err.value, why) from None
            raise
    for i, c in enumerate(texts):
        if c.lower() in MISSING:
            raise LagnetError(
                "process.path", path, f"{where(i)}, column 'path': {c!r} names no path"
            )
    first = {name: float(i) for i, name in enumerate(dict.fromkeys(texts))}
    names = list(first)
    return np.array([first[c] for c in texts]), lambda p: repr(names[int(p)])


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _long_to_paths(path, values, keys, where, label=lambda p: f"{p:g}", missing="refuse"):
    """Rows of (path, t) into (S, P, T): integer keys, each path's t consecutive. Rows may
    come in any order. Paths of unequal length are refused, or with ``missing = "skip"``
    padded at the end with gaps (which no window crosses)."""
    pid, t = keys
    for name, k in zip(LONG_KEYS, keys):
        frac = np.nonzero(k != np.round(k))[0]
        if len(frac):
            raise LagnetError(
                "process.path",
                path,
                f"{where(int(frac[0]))}, column '{name}': {k[frac[0]]} is not an integer",
            )
    order = np.lexsort((t, pid))  # by path, then t
    pid, t, values = pid[order], t[order], values[:, order]
    jump = np.nonzero((np.diff(t) != 1) & (np.diff(pid) == 0))[0]  # first: it names the t
    if len(jump):
        i = int(jump[0]) + 1
        said = (
            f"has t={t[i]:g} twice"
            if t[i] == t[i - 1]
            else f"goes from t={t[i - 1]:g} to t={t[i]:g} (steps must be consecutive)"
        )
        raise LagnetError(
            "process.path", path, f"{where(int(order[i]))}, column 't': path {label(pid[i])} {said}"
        )
    ids, starts, counts = np.unique(pid, return_index=True, return_counts=True)
    if missing == "skip" and (counts != counts[0]).any():  # ragged: gaps at the ends
        padded = np.full((values.shape[0], len(ids), int(counts.max())), np.nan)
        for j in range(len(ids)):
            padded[:, j, : counts[j]] = values[:, starts[j] : starts[j] + counts[j]]
        return padded  # (S, P, T)
    for j in range(len(ids)):
        if counts[j] != counts[0]:
            raise LagnetError(
                "process.path",
                path,
                f"{where(int(order[starts[j]]))}: path {label(ids[j])} has {counts[j]} "
                f"steps, path {label(ids[0])} has {counts[0]} (ragged paths; {SKIP_HINT}, "
                "and pads the shorter paths with gaps)",
            )
    return values.reshape(values.shape[0], len(ids), int(counts[0]))  # (S, P, T)


def _read_npz(
    path: str, resolved: str, columns, missing: str = "refuse"
) -> tuple[tuple[str, ...], np.ndarray]:
    try:
        with np.load(resolved, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as err:
        raise LagnetError("process.path", path, f"not a readable .npz file ({err})") from None
    names = _select(columns, list(arrays), path, "array")
    if not names:
        raise LagnetError("process.path", path, "holds no arrays")
    shape = None
    for name in names:
        a = arrays[name]
        if a.dtype.kind not in "biuf":
            raise LagnetError("process.path", path, f"array '{name}' holds {a.dtype}, not numbers")
        if a.ndim not in (1, 2) or a.size == 0:
            raise LagnetError(
                "process.path",
                path,
                f"array '{name}' has shape {a.shape}; expected (N, L) paths or one 1-D series",
            )
        a = arrays[name] = np.atleast_2d(a).astype(np.float64)  # (N, L)
        if shape is not None and a.shape != shape:
            raise LagnetError(
                "process.path",
                path,
                f"array '{name}' has shape {a.shape}, array '{names[0]}' {shape} (ragged)",
            )
        shape = a.shape
        bad = np.argwhere(~np.isfinite(a))
        if len(bad) and missing == "skip":
            a[~np.isfinite(a)] = np.nan  # a gap
        elif len(bad):
            p, t = (int(i) for i in bad[0])
            raise LagnetError(
                "process.path",
                path,
                f"array '{name}' at [{p}, {t}] "
                f"(path {p}, step {t}): {a[p, t]} (NaN and inf are refused; {SKIP_HINT})",
            )
    return tuple(names), np.stack([arrays[n] for n in names])  # (S, N, L)
