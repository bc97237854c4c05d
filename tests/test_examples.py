"""Every shipped example config loads and describes a runnable task."""

from pathlib import Path

import pytest

from lagnet.config import load_config
from lagnet.tasks import build_task

# run configs; a sweep's spec (*_sweep.toml) is checked by tests/test_sweep.py
EXAMPLES = sorted(
    p for p in (Path(__file__).parents[1] / "examples").glob("*.toml") if "_sweep" not in p.name
)


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_is_valid(path):
    cfg = load_config(path)
    task = build_task(cfg)
    assert task.target.max_lag < cfg.train.length


def test_forum_example_is_the_forum_network():
    cfg = load_config(Path(__file__).parents[1] / "examples" / "ar1_forum.toml")
    m = cfg.model
    assert (m.kind, m.activation, m.hidden, m.head, m.head_activation, m.skip) == (
        "rnn",
        "tanh",
        10,
        (20,),
        "identity",
        False,
    )
    assert cfg.train.batch == 32 and cfg.train.steps == 1000 and cfg.train.length == 101
