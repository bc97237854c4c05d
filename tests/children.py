"""Starting ``lagnet`` as a child process in tests: the command and its environment (CPU only,
single-threaded, lagnet's own compilation cache off: only the test session's, see
tests/conftest.py), as a user's shell would start it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAGNET = [sys.executable, "-m", "lagnet"]


def child_env(**extra: str) -> dict[str, str]:
    env = dict(
        os.environ,
        JAX_PLATFORMS="cpu",
        OMP_NUM_THREADS="1",
        MPLBACKEND="Agg",
        LAGNET_CACHE="0",
        XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def start(*args: str, **popen) -> subprocess.Popen:
    """``python -m lagnet ARGS`` in the background, from the repository root."""
    return subprocess.Popen(
        [*LAGNET, *args],
        cwd=ROOT,
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )


def lagnet(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """``python -m lagnet ARGS`` to the end."""
    return subprocess.run(
        [*LAGNET, *args],
        cwd=ROOT,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
