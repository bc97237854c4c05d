"""The process contract over every registered process (built-in, observed data and a user's
simulator alike), generated from the registry: a process that declares no example fails."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

import pytest

from lagnet.processes import PROCESSES
from process_contract import check_process_contract, examples, missing_from_contract

# Examples are collected before any fixture exists: their files go to a directory of their own.
_DIR = Path(tempfile.mkdtemp(prefix="lagnet-contract-"))
atexit.register(shutil.rmtree, _DIR, True)
EXAMPLES = examples(_DIR)
N, L = 50, 40


def test_every_process_is_in_the_contract():
    assert missing_from_contract(_DIR) == []
    kinds = {type(p).__name__ for p in EXAMPLES.values()}
    assert len(kinds) == len(PROCESSES.names())  # one Process class per registered kind


@pytest.mark.slow
@pytest.mark.parametrize("name", list(EXAMPLES))
def test_contract(name, key):
    check_process_contract(EXAMPLES[name], key, N, L, tol=1e-5)
