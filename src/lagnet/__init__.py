"""lagnet: teach neural networks functions of a time series' past, and tell the truth about
how well they learned.

The public API is what this module re-exports; everything else may change."""

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version

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

__all__ = [
    "CallableProcess",
    "LagnetError",
    "Run",
    "RunConfig",
    "TASKS",
    "bench",
    "build_config",
    "compile_target",
    "load",
    "load_config",
    "memory_capacity",
    "merge",
    "run",
    "sweep",
    "SweepResult",
    "task_config",
    "train",
]
