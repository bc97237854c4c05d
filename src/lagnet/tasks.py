"""Task = process + target + which series the model sees.

``task.sample(key, n, length)`` is the one place data is made: simulate the paths, stack the
model's inputs, evaluate the compiled target. Training, validation, testing, baselines and plots
all call it, so the target cannot differ between the loss and the test.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from lagnet.config import RunConfig
from lagnet.errors import LagnetError
from lagnet.processes import Process, build_process
from lagnet.targets import Target, compile_target


@dataclass(frozen=True)
class Task:
    process: Process
    target: Target
    inputs: tuple[str, ...]

    @property
    def c_in(self) -> int:
        return len(self.inputs)

    @property
    def c_out(self) -> int:
        return self.target.outputs

    def sample(self, key: jax.Array, n: int, length: int):
        """Simulate n paths of ``length`` steps. Returns x (N, L, C) model inputs,
        y (N, L, O) target, valid (L,) bool — steps where the target is defined."""
        paths = self.process.sample(key, n, length)
        x = jnp.stack([paths[name] for name in self.inputs], axis=-1)  # (N, L, C)
        y, valid = self.target(paths)
        return x, y, valid


def build_task(cfg: RunConfig, length: int | None = None) -> Task:
    """The task of a run config; checks that the inputs exist and the sequence is long enough."""
    process = build_process(cfg.process)
    target = compile_target(cfg.target.formula, process.series)
    if not cfg.target.inputs:
        raise LagnetError("target.inputs", [], "the model needs at least one input series")
    for name in cfg.target.inputs:
        if name not in process.series:
            raise LagnetError("target.inputs", name,
                              f"not a series of the process (it has: {', '.join(process.series)})")
    length = cfg.train.length if length is None else length
    if length <= target.max_lag:
        raise LagnetError("train.length", length,
                          f"must exceed the formula's largest lag ({target.max_lag})")
    fixed = cfg.train.fixed_paths
    if fixed is not None and fixed < cfg.train.batch:
        raise LagnetError("train.fixed_paths", fixed, f"must be at least train.batch ({cfg.train.batch})")
    return Task(process, target, tuple(cfg.target.inputs))
