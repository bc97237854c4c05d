"""Stochastic processes: each simulates a batch of paths at once as a pure JAX function. One
file per process, each declaring itself in :data:`lagnet.processes.family.PROCESSES`."""

from lagnet.processes.base import Process as Process
from lagnet.processes.base import build_process as build_process
from lagnet.processes.family import PROCESSES as PROCESSES
from lagnet.processes.family import ProcessConfig as ProcessConfig
from lagnet.processes.family import process_config as process_config
from lagnet.processes.spec import parse_process_spec as parse_process_spec
