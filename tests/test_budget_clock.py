"""A wall-clock budget is spent on training: compilation is not on its clock, and a sweep's
point sized by the user is sized as ``lagnet train`` sizes it."""

import time

import numpy as np
import pytest

from lagnet.config import merge
from lagnet.tasks import build_task
from lagnet.training import loop


class _SlowFirstChunk:
    """Programs whose first chunk takes ``delay`` seconds more, as a cold compilation does."""

    def __init__(self, progs, delay):
        self._progs, self._delay, self._calls = progs, delay, 0

    def __getattr__(self, name):
        return getattr(self._progs, name)

    def chunk(self, *args):
        self._calls += 1
        if self._calls == 1:
            time.sleep(self._delay)
        return self._progs.chunk(*args)


@pytest.mark.slow
def test_compiling_is_not_spent_from_the_budget(monkeypatch):
    """A first chunk 3 s slower than the others (a cold compilation) with a 2 s budget:
    the run still trains for about its budget, and says what compiling took (the budget's
    clock used to start before it: a sweep point that compiled trained 100 steps in a 3 s
    budget, one that found its programs made trained 1800)."""
    real = loop.compiled
    monkeypatch.setattr(loop, "compiled", lambda *a: _SlowFirstChunk(real(*a), 3.0))
    cfg = merge(
        values={
            "train.max_seconds": 2.0,
            "train.steps": 100_000,
            "model.hidden": 4,
            "train.batch": 8,
            "train.length": 12,
            "train.val_every": 10,
            "train.val_paths": 16,
            "train.pilot_paths": 16,
        }
    )[0]
    info = loop.train(cfg, build_task(cfg)).info
    assert info["compile_seconds"] >= 2.9 and info["seconds"] <= 3.0  # before: 4 and more
    assert info["steps"] > 10 and info["stopped"] == "max_seconds"  # before: 10, one chunk


def test_a_sweep_point_given_a_size_is_sized_as_train_sizes_it():
    """A budget's table sizes only what nobody chose: merging a point's ``model.hidden`` onto
    a base the table sized kept the base's batch and rate (16, 0.02) as if chosen, where
    ``lagnet train --max-seconds 3 --hidden 24`` trains with the defaults (128, 0.005)."""
    base, notes = merge(values={"train.max_seconds": 3})
    assert base.train.batch == 16 and notes  # the table's
    point = merge(base, {"model.hidden": 24, "seed": 1})[0]
    alone = merge(values={"train.max_seconds": 3, "model.hidden": 24, "seed": 1})[0]
    assert point.model_dump() == alone.model_dump()
    again = merge(base, {"seed": 2})[0]  # nothing chosen: the table's sizes again
    assert (again.model.hidden, again.train.batch) == (base.model.hidden, base.train.batch)
    assert np.isclose(again.train.lr, base.train.lr)
