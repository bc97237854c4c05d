"""Sweeps: many configurations and seeds in one command (``lagnet sweep SPEC.toml``,
``lagnet.sweeps(...)``), run on a local process pool or a Ray cluster, same-shape points packed
into one compiled program where that pays. See :mod:`lagnet.sweeps.core`."""

from lagnet.sweeps.core import sweep as sweep
from lagnet.sweeps.result import SweepResult as SweepResult
