"""Observed data as a process: series read from a file, served as random windows of held-out
parts.

Formats, chosen by suffix:
  .csv      long format ``path,t,<series...>`` as ``lagnet simulate`` writes it (one row per path
            and step), or plain wide columns, one column per series and one row per step (one
            long series);
  .parquet  the same two layouts (``.pq`` too);
  .npz      one array per series: (N, L) for N paths of L steps, or 1-D for one long series.

Honesty: this is not a simulation, so a run must not test on what it trained on. The file is
split (``split``, 70/15/15 by default) into training, validation and test parts — ordered
stretches of each series separated by a gap of at least the target's and the model's reach,
or, for many independent paths, whole paths (:mod:`lagnet.processes.datasplit`).
``part(name, gap)`` serves one part; a run's task asks for "train" by default, evaluation for
"test". ``test_path`` tests on a second file instead. ``split = "none"`` serves every window
of the file to every part: an in-sample fit, not a test, and labelled so wherever a metric
is shown.

A missing value (an empty cell, NA, NaN, inf, a Parquet null) is refused with file, line and
column; ``missing = "skip"`` keeps it as a gap that no window crosses and counts the usable
windows.

>>> p = DataProcess(DataConfig(path="paths.csv"))           # doctest: +SKIP
>>> p.part("test", gap=10).sample(jax.random.PRNGKey(0), 32, 100)["x"].shape   # doctest: +SKIP
(32, 100)
"""

from __future__ import annotations

import copy
from pathlib import Path
from stat import S_ISREG
from typing import Literal, Optional, Union, final

import jax
import numpy as np
from pydantic import Field, field_validator

from lagnet.errors import LagnetError
from lagnet.processes.base import Process, check_sample_shape
from lagnet.processes.datafiles import load
from lagnet.processes.datasplit import PARTS, Windows, blocks, cut, split_kind
from lagnet.processes.family import (
    NUM,
    PROCESSES,
    SHARES,
    STR,
    STRS,
    ProcessConfig,
    ProcessFamily,
    SpecForm,
)

IN_SAMPLE = "in-sample fit, not a test"


class DataConfig(ProcessConfig):
    """Observed series from a file (.csv, .parquet, .npz): ``columns`` None = every numeric
    series. ``split``: shares of the training, validation and test parts (or ``"none"``: every
    window everywhere); ``split_by``: "time" (stretches of each series), "path" (whole paths)
    or "auto" (by path from 20 paths); ``gap``: steps dropped between stretches (None: the
    target's and the model's reach); ``test_path``: a second file to test on; ``missing``:
    "refuse" a missing value or "skip" the windows that cross one. ``window`` cuts each part's
    series into non-overlapping blocks of that many steps, from which windows are drawn."""

    kind: Literal["data"] = "data"
    path: str
    columns: Optional[tuple[str, ...]] = None
    window: Optional[int] = Field(None, gt=1)
    split: Union[Literal["none"], tuple[float, float, float]] = (0.7, 0.15, 0.15)
    split_by: Literal["auto", "time", "path"] = "auto"
    gap: Optional[int] = Field(None, ge=0)
    test_path: Optional[str] = None
    missing: Literal["refuse", "skip"] = "refuse"

    @field_validator("split", mode="before")
    @classmethod
    def _shares(cls, v):
        if isinstance(v, str) and v.strip().lower() != "none":  # "0.6,0.2,0.2" from a spec
            try:
                v = [float(s) for s in v.split(",")]
            except ValueError:
                raise ValueError(
                    'expected "none" or three shares such as [0.7, 0.15, 0.15]'
                ) from None
        if isinstance(v, str):
            return "none"
        if not isinstance(v, (list, tuple)) or len(v) != 3:
            raise ValueError('expected "none" or three shares such as [0.7, 0.15, 0.15]')
        if not all(isinstance(f, (int, float)) and 0 < f < 1 for f in v) or abs(sum(v) - 1) > 1e-6:
            raise ValueError("the three shares must lie between 0 and 1 and sum to 1")
        return tuple(float(f) for f in v)


def _read(path: str, columns, missing: str, field: str):
    """(names, values (S, P, T)) of one file; a missing file is refused naming ``field``."""
    try:
        stat = Path(path).stat()
    except (OSError, ValueError):  # ValueError: a NUL in the name
        raise LagnetError(field, path, "no such file") from None
    if not S_ISREG(stat.st_mode):  # a directory, or a FIFO that would block the reader forever
        raise LagnetError(field, path, "not a regular file")
    return load(path, str(Path(path).resolve()), stat.st_mtime_ns, stat.st_size, columns, missing)


@final
class DataProcess(Process):
    """Windows of the series in ``config.path``. Series: the chosen columns, in file order
    (or in ``config.columns`` order); every one is observed. Built from a config it serves
    the whole file (``lagnet simulate`` draws from all of it); ``part`` gives the held-out
    parts a run uses."""

    def __init__(self, config: DataConfig):
        names, values = _read(config.path, config.columns, config.missing, "process.path")
        self.config = config
        self._names = names
        self._file = values  # (S, P, T) float32 on the host
        self._test_file = None
        if config.test_path is not None:
            _, self._test_file = _read(config.test_path, names, config.missing, "process.test_path")
        self._by = split_kind(config.split_by, values.shape[1])
        self._windows = Windows(blocks(values, config.window, config.path), config.path)
        self._part, self._gap = "all", 0
        self._parts: dict[tuple[str, int], Windows] = {}

    # ---- the parts
    def part(self, name: str, gap: int = 0) -> DataProcess:
        """The process serving part ``name`` ("train", "val", "test") of a run, with ``gap``
        steps (or ``config.gap``) between the stretches of a split by time."""
        if name not in PARTS:
            raise LagnetError("part", name, f"expected one of {', '.join(PARTS)}")
        gap = int(self.config.gap if self.config.gap is not None else gap)
        view = copy.copy(self)
        view._part, view._gap = name, gap
        view._windows = self._cut(name, gap)
        return view

    def _cut(self, name: str, gap: int) -> Windows:
        key = (name, gap)
        if key not in self._parts:
            c = self.config
            if name == "test" and self._test_file is not None:
                values, label = self._test_file, c.test_path
            elif c.split == "none":
                values, label = self._file, c.path
            else:
                shares = c.split if self._test_file is None else c.split[:2]
                pieces = cut(self._file, shares, self._by, gap, c.path)
                values = pieces[PARTS.index(name)]
                label = f"the {'validation' if name == 'val' else name} part of {c.path}"
            self._parts[key] = Windows(blocks(values, c.window, label), label)
        return self._parts[key]

    @property
    def in_sample(self) -> bool:
        """The test windows are windows the model was trained on."""
        return self.config.split == "none" and self._test_file is None

    def describe_split(self, length: int) -> dict:
        """How the data was split, for ``metrics.json["data"]``: the kind of split, the
        shares, the gap, and each part's paths, steps and usable windows of ``length``."""
        c = self.config
        parts = {}
        for name in PARTS:
            w = self._cut(name, self._gap)
            parts[name] = dict(
                source=c.test_path if name == "test" and self._test_file is not None else c.path,
                paths=w.paths,
                steps=w.steps,
                windows=w.usable(length),
            )
        return dict(
            path=c.path,
            split="none" if c.split == "none" else self._by,
            shares=None if c.split == "none" else list(c.split),
            gap=self._gap if c.split != "none" and self._by == "time" else 0,
            test=IN_SAMPLE
            if self.in_sample
            else ("a second file" if self._test_file is not None else "held out"),
            test_path=c.test_path,
            in_sample=self.in_sample,
            missing=c.missing,
            parts=parts,
        )

    @property
    def _values(self) -> jax.Array:
        """The windows' source, (S, P, T) float32 on the default device (made when first
        needed: a run samples only its parts)."""
        return self._windows._array()

    # ---- the process interface
    @property
    def series(self) -> tuple[str, ...]:
        return self._names

    @property
    def max_length(self) -> int:
        return self._windows.max_length

    @property
    def simulated(self) -> bool:
        return False

    @property
    def paths(self) -> int:
        """Paths (or ``window`` blocks) the windows are drawn from."""
        return self._windows.paths

    def usable(self, length: int) -> int:
        """Windows of ``length`` steps this part can serve (none crosses a gap)."""
        return self._windows.usable(length)

    def sample(self, key: jax.Array, n: int, length: int) -> dict[str, jax.Array]:
        check_sample_shape(n, length)
        return self.sample_from(self.arrays(int(length)), key, n, length)

    def arrays(self, length: int) -> tuple:
        return self._windows.arrays(int(length))

    def sample_from(self, arrays: tuple, key: jax.Array, n: int, length: int) -> dict:
        windows = self._windows.sample_from(arrays, key, int(n), int(length))  # (S, N, L)
        return {name: windows[i] for i, name in enumerate(self._names)}


def _examples(directory: Path) -> dict[str, DataConfig]:
    """A small NPZ of two series, for the contract suite."""
    rng = np.random.default_rng(0)
    path = directory / "contract.npz"
    np.savez(
        path,
        x=rng.normal(size=(8, 200)).astype(np.float32),
        z=rng.normal(size=(8, 200)).astype(np.float32),
    )
    return {"data": DataConfig(path=str(path))}


PROCESSES.register(
    ProcessFamily(
        kind="data",
        config=DataConfig,
        build=DataProcess,
        summary="observed series from a .csv, .parquet or .npz file",
        forms={
            "data": SpecForm(
                {
                    "path": STR,
                    "columns": STRS,
                    "window": NUM,
                    "split": SHARES,
                    "split_by": STR,
                    "gap": NUM,
                    "test_path": STR,
                    "missing": STR,
                },
                ("path",),
                ("path",),
            )
        },
        examples=_examples,
    )
)
