"""lagnet: teach neural networks functions of a time series' past, and tell the truth about
how well they learned."""

from lagnet.api import build_config as build_config
from lagnet.bench import bench as bench
from lagnet.api import train as train
from lagnet.config import RunConfig as RunConfig
from lagnet.config import load_config as load_config
from lagnet.errors import LagnetError as LagnetError
from lagnet.processes.custom import CallableProcess as CallableProcess
from lagnet.registry import TASKS as TASKS
from lagnet.registry import task_config as task_config
from lagnet.runs import Run as Run
from lagnet.runs import load as load
from lagnet.runs import run as run
from lagnet.targets import compile_target as compile_target

__version__ = "0.1.0"
__all__ = ["CallableProcess", "LagnetError", "Run", "RunConfig", "TASKS", "bench",
           "build_config", "compile_target", "load", "load_config", "run", "task_config", "train"]
