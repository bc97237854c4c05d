"""lagnet: teach neural networks functions of a time series' past, and tell the truth about
how well they learned.

The public API is what this module re-exports; everything else may change. The exports are
loaded when first used (PEP 562): ``import lagnet`` alone does not import JAX, so the
``lagnet`` command can catch a Ctrl-C that arrives while JAX loads (see ``__main__``)."""

from importlib import import_module
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version
from typing import TYPE_CHECKING

# public name -> the module that defines it
_EXPORTS = {
    "build_config": "lagnet.api",
    "train": "lagnet.api",
    "memory_capacity": "lagnet.capacity",
    "RunConfig": "lagnet.config",
    "load_config": "lagnet.config",
    "merge": "lagnet.config",
    "LagnetError": "lagnet.errors",
    "bench": "lagnet.leaderboard",
    "CallableProcess": "lagnet.processes.custom",
    "TASKS": "lagnet.registry",
    "task_config": "lagnet.registry",
    "Run": "lagnet.runs",
    "load": "lagnet.runs",
    "run": "lagnet.runs",
    "SweepResult": "lagnet.sweeps",
    "sweep": "lagnet.sweeps",
    "compile_target": "lagnet.targets",
}

if TYPE_CHECKING:  # what the names are, for type checkers and editors
    from lagnet.api import build_config as build_config
    from lagnet.api import train as train
    from lagnet.capacity import memory_capacity as memory_capacity
    from lagnet.config import RunConfig as RunConfig
    from lagnet.config import load_config as load_config
    from lagnet.config import merge as merge
    from lagnet.errors import LagnetError as LagnetError
    from lagnet.leaderboard import bench as bench
    from lagnet.processes.custom import CallableProcess as CallableProcess
    from lagnet.registry import TASKS as TASKS
    from lagnet.registry import task_config as task_config
    from lagnet.runs import Run as Run
    from lagnet.runs import load as load
    from lagnet.runs import run as run
    from lagnet.sweeps import SweepResult as SweepResult
    from lagnet.sweeps import sweep as sweep
    from lagnet.targets import compile_target as compile_target

try:
    __version__ = _version("lagnet")
except PackageNotFoundError:  # pragma: no cover — run from a source tree never installed
    __version__ = "0+unknown"

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'lagnet' has no attribute {name!r}")
    value = getattr(import_module(_EXPORTS[name]), name)
    globals()[name] = value  # once loaded, an ordinary attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
