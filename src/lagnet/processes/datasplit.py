"""Held-out parts of observed data, and windows that never cross a gap.

A data file is divided once into train, validation and test parts:

  by time   for a few long series: disjoint, ordered stretches of every path — train first,
            then validation, then test (70/15/15 by default) — with ``gap`` steps dropped
            before the validation and before the test stretch. ``gap`` is at least the
            target's and the model's reach, so no test step's inputs were trained on;
  by path   for many independent paths: the first 70% of the paths train, the next 15%
            validate, the last 15% test (no gap is needed between independent paths);
  none      every part is the whole file: the old in-sample fit, labelled as such.

A ``Windows`` holds one part, (S, P, T) with NaN where a value is missing (``missing =
"skip"``), and draws random windows of it that never contain a NaN: the usable starts of a
window length are found once on the host, and the draw is a pure function of the key.

Legend: S series, P paths, T steps, N windows, L steps per window.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from lagnet.errors import LagnetError

PARTS = ("train", "val", "test")
PART_NAMES = {"train": "training", "val": "validation", "test": "test"}
PATH_SPLIT_MIN = 20  # paths from which ``split_by = "auto"`` splits by path, not by time


def split_kind(by: str, paths: int) -> str:
    """ "path" or "time": ``by`` as given, or for "auto" by path once there are many paths."""
    if by != "auto":
        return by
    return "path" if paths >= PATH_SPLIT_MIN else "time"


def cut(values: np.ndarray, fractions: tuple[float, ...], by: str, gap: int, label: str):
    """``values`` (S, P, T) cut into len(fractions) consecutive parts along paths (``by`` =
    "path") or along time ("time", with ``gap`` steps dropped before every part but the first).
    Returns the parts, each (S, P', T'); an empty part is refused, saying why."""
    _, p, t = values.shape
    total = p if by == "path" else t
    bounds = [int(b) for b in np.round(np.cumsum((0.0, *fractions)) / sum(fractions) * total)]
    parts = []
    for i, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:])):
        lo = lo if (by == "path" or i == 0) else lo + gap
        if hi - lo < 1:
            why = (
                f"{p} paths give it none"
                if by == "path"
                else f"{t} steps × {fractions[i]:g} leave {max(0, hi - lo)} steps after a gap "
                f"of {gap}"
            )
            eaten = by == "time" and i > 0 and hi - lo + gap >= 1  # only the gap ate it
            raise LagnetError(
                "process.gap" if eaten else "process.split",
                gap if eaten else list(fractions),
                f"the {PART_NAMES[PARTS[i]]} part of {label} is empty ({why}); "
                "use a longer file, other shares, or --test-data",
            )
        parts.append(values[:, lo:hi] if by == "path" else values[:, :, lo:hi])
    return parts


def blocks(values: np.ndarray, window: int | None, label: str) -> np.ndarray:
    """Each path cut into non-overlapping blocks of ``window`` steps, as paths: (S, P·B, W)."""
    if window is None:
        return values
    s, p, t = values.shape
    b = t // window
    if b == 0:
        raise LagnetError(
            "process.window", window, f"longer than the series in {label} ({t} steps)"
        )
    return values[:, :, : b * window].reshape(s, p * b, window)  # (S, P·B, W)


class Windows:
    """Random windows of one part (S, P, T) of the data; NaN marks a gap no window crosses."""

    def __init__(self, values: np.ndarray, label: str):
        self.values = values  # host, read-only
        self.label = label
        ok = np.all(np.isfinite(values), axis=0)  # (P, T)
        self.gappy = not ok.all()
        # bad[p, t]: non-finite steps of path p before step t, (P, T + 1)
        self._bad = np.concatenate(
            [np.zeros((ok.shape[0], 1), np.int64), np.cumsum(~ok, axis=1)], axis=1
        )
        self._device = None
        self._starts: dict[int, tuple[jax.Array, jax.Array]] = {}

    @property
    def paths(self) -> int:
        return int(self.values.shape[1])

    @property
    def steps(self) -> int:
        return int(self.values.shape[2])

    @functools.cached_property
    def max_length(self) -> int:
        """The longest window without a gap."""
        if not self.gappy:
            return self.steps
        ok = np.all(np.isfinite(self.values), axis=0)
        longest = 0
        for row in ok:  # the longest run of True in each path
            edges = np.flatnonzero(np.diff(np.r_[0, row.astype(np.int8), 0]))
            if len(edges):
                longest = max(longest, int(np.max(edges[1::2] - edges[::2])))
        return longest

    def usable(self, length: int) -> int:
        """Windows of ``length`` steps that cross no gap (path and start pairs)."""
        if length > self.steps:
            return 0
        if not self.gappy:
            return self.paths * (self.steps - length + 1)
        clean = self._bad[:, length:] == self._bad[:, : self.steps - length + 1]  # (P, T-L+1)
        return int(clean.sum())

    def _array(self) -> jax.Array:
        if self._device is None:  # made once, concrete even when first asked for in a trace
            with jax.ensure_compile_time_eval():
                self._device = jnp.asarray(self.values)  # (S, P, T) on the default device
        return self._device

    def sample(self, key: jax.Array, n: int, length: int) -> jax.Array:
        """n windows of ``length`` steps, (S, N, L): a random path and start each — uniform
        over every window that crosses no gap."""
        return self.sample_from(self.arrays(length), key, n, length)

    def sample_from(self, arrays: tuple, key: jax.Array, n: int, length: int) -> jax.Array:
        """:meth:`sample` from ``arrays`` (:meth:`arrays`, traced inside a program)."""
        if not self.gappy:
            return _windows(key, *arrays, n=n, length=length)
        return _windows_at(key, *arrays, n=n, length=length)

    def arrays(self, length: int) -> tuple:
        """What windows of ``length`` steps are drawn from, on the device: (values,) and, when
        the data has gaps, the path and start of every usable window."""
        if length > self.max_length:
            raise LagnetError(
                "length",
                int(length),
                f"longer than the series in {self.label} ({self.max_length} steps"
                + (" without a gap)" if self.gappy else ")"),
            )
        if not self.gappy:
            return (self._array(),)
        if length not in self._starts:
            clean = self._bad[:, length:] == self._bad[:, : self.steps - length + 1]
            path, start = np.nonzero(clean)
            with jax.ensure_compile_time_eval():
                self._starts[length] = (
                    jnp.asarray(path, jnp.int32),
                    jnp.asarray(start, jnp.int32),
                )
        return (self._array(), *self._starts[length])


@functools.partial(jax.jit, static_argnames=("n", "length"))
def _windows(key, values, *, n: int, length: int):
    """n windows: path ~ U{0..P-1}, start ~ U{0..T-length}; (S, N, L)."""
    _, p, t = values.shape
    k_path, k_start = jax.random.split(key)
    path = jax.random.randint(k_path, (n,), 0, p)
    start = jax.random.randint(k_start, (n,), 0, t - length + 1)
    steps = start[:, None] + jnp.arange(length)  # (N, L)
    return values[:, path[:, None], steps]  # (S, N, L)


@functools.partial(jax.jit, static_argnames=("n", "length"))
def _windows_at(key, values, paths, starts, *, n: int, length: int):
    """n windows drawn uniformly from the usable (path, start) pairs; (S, N, L)."""
    i = jax.random.randint(key, (n,), 0, paths.shape[0])
    steps = starts[i][:, None] + jnp.arange(length)  # (N, L)
    return values[:, paths[i][:, None], steps]  # (S, N, L)
