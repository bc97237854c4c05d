"""Observed data as a process: series read from a file, served as random windows.

Formats, chosen by suffix:
  .csv      long format ``path,t,<series...>`` as ``lagnet simulate`` writes it (one row per path
            and step), or plain wide columns, one column per series and one row per step (one
            long series);
  .parquet  the same two layouts (``.pq`` too);
  .npz      one array per series: (N, L) for N paths of L steps, or 1-D for one long series.

The series are stored once as a device array (S, P, T): S series, P paths, T steps.
``sample(key, n, length)`` draws n windows of ``length`` steps — a random path and a random
start each, from ``jax.random`` — so it jits inside the training step like a simulation.

Honesty: this is not a simulation. Training, validation and test paths are all windows of the
same file, overlapping one another, so the test measures fit to this data, not generalisation
to new data (``simulated`` is False); hold out a second file for that. A file that cannot be
read whole is refused with one line naming the file, the row (``line`` in a CSV, counting the
header; ``row`` from 1 in Parquet; the index in an NPZ array) and the column.

>>> p = DataProcess(DataConfig(path="paths.csv"))           # doctest: +SKIP
>>> p.sample(jax.random.PRNGKey(0), 32, 100)["x"].shape      # doctest: +SKIP
(32, 100)
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal, Optional, final

import jax
import jax.numpy as jnp
import numpy as np
from pydantic import Field

from lagnet.errors import LagnetError
from lagnet.processes.base import Process, check_sample_shape
from lagnet.processes.datafiles import load
from lagnet.processes.family import (
    NUM,
    PROCESSES,
    STR,
    STRS,
    ProcessConfig,
    ProcessFamily,
    SpecForm,
)


class DataConfig(ProcessConfig):
    """Observed series from a file (.csv, .parquet, .npz): ``columns`` None = every numeric
    series. ``window`` cuts each series into non-overlapping blocks of that many steps, from
    which windows are drawn; None draws windows anywhere."""

    kind: Literal["data"] = "data"
    path: str
    columns: Optional[tuple[str, ...]] = None
    window: Optional[int] = Field(None, gt=1)


@final
class DataProcess(Process):
    """Windows of the series in ``config.path``. Series: the chosen columns, in file order
    (or in ``config.columns`` order); every one is observed."""

    def __init__(self, config: DataConfig):
        path = Path(config.path)
        try:
            stat = path.stat()
        except OSError:
            raise LagnetError("process.path", config.path, "no such file") from None
        names, values = load(
            config.path, str(path.resolve()), stat.st_mtime_ns, stat.st_size, config.columns
        )  # (S, P, T)
        if config.window is not None:
            blocks = values.shape[2] // config.window
            if blocks == 0:
                raise LagnetError(
                    "process.window",
                    config.window,
                    f"longer than the series in {config.path} ({values.shape[2]} steps)",
                )
            s, p = values.shape[:2]
            values = values[:, :, : blocks * config.window].reshape(
                s, p * blocks, config.window
            )  # (S, P·B, W)
        self.config = config
        self._names = names
        self._values = jnp.asarray(values)  # (S, P, T) float32 on the default device

    @property
    def series(self) -> tuple[str, ...]:
        return self._names

    @property
    def max_length(self) -> int:
        return int(self._values.shape[2])

    @property
    def simulated(self) -> bool:
        return False

    @property
    def paths(self) -> int:
        """Paths (or ``window`` blocks) the windows are drawn from."""
        return int(self._values.shape[1])

    def sample(self, key: jax.Array, n: int, length: int) -> dict[str, jax.Array]:
        check_sample_shape(n, length)
        if length > self.max_length:
            raise LagnetError(
                "length",
                int(length),
                f"longer than the series in {self.config.path} ({self.max_length} steps)",
            )
        windows = _windows(key, self._values, n=int(n), length=int(length))  # (S, N, L)
        return {name: windows[i] for i, name in enumerate(self._names)}


@functools.partial(jax.jit, static_argnames=("n", "length"))
def _windows(key, values, *, n: int, length: int):
    """n windows: path ~ U{0..P-1}, start ~ U{0..T-length}; (S, N, L)."""
    _, p, t = values.shape
    k_path, k_start = jax.random.split(key)
    path = jax.random.randint(k_path, (n,), 0, p)
    start = jax.random.randint(k_start, (n,), 0, t - length + 1)
    steps = start[:, None] + jnp.arange(length)  # (N, L)
    return values[:, path[:, None], steps]  # (S, N, L)


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
            "data": SpecForm({"path": STR, "columns": STRS, "window": NUM}, ("path",), ("path",))
        },
        examples=_examples,
    )
)
