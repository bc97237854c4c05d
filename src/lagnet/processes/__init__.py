"""Stochastic processes: each simulates a batch of paths at once as a pure JAX function."""

from lagnet.processes.base import Process as Process
from lagnet.processes.base import build_process as build_process
from lagnet.processes.spec import parse_process_spec as parse_process_spec
