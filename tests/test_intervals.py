"""memory_r2's bootstrap interval over test paths, checked against its definition: on test sets
drawn again and again from one population, the 95% interval of each covers the population's
memory_r2 about 95% of the time, and it narrows as the paths grow in number."""

from __future__ import annotations

import numpy as np

from lagnet.intervals import memory_r2_interval


def _test_set(rng, n, length=20):
    """A target and two predictions: the model's error has variance 0.3 on every path, the
    memoryless baseline's 1.0 (population memory_r2 0.7); paths differ in scale."""
    scale = rng.gamma(4.0, 0.25, (n, 1, 1))  # (N, 1, 1) mean 1
    y = rng.normal(size=(n, length, 1))
    y_hat = y + np.sqrt(0.3 * scale) * rng.normal(size=y.shape)
    y_mem = y + np.sqrt(scale) * rng.normal(size=y.shape)
    return y, y_hat, y_mem, np.ones(length, bool)


def test_the_interval_covers_the_population_value_about_95_percent_of_the_time():
    rng = np.random.default_rng(0)
    hits = 0
    for i in range(200):
        lo, hi = memory_r2_interval(*_test_set(rng, 40), [True], seed=i)
        hits += lo <= 0.7 <= hi
    assert 0.88 <= hits / 200 <= 0.99, hits


def test_it_narrows_with_more_paths_and_keeps_only_outputs_that_need_memory():
    rng = np.random.default_rng(1)
    few = np.diff(memory_r2_interval(*_test_set(rng, 20), [True]))[0]
    many = np.diff(memory_r2_interval(*_test_set(rng, 2000), [True]))[0]
    assert many < few / 5  # about 1/sqrt(100) as wide
    y, y_hat, y_mem, valid = _test_set(rng, 200)
    two = [np.concatenate([a, a * 0 + 1.0], axis=2) for a in (y, y_hat, y_mem)]  # output 2: exact
    lo, hi = memory_r2_interval(*two, valid, [True, False])
    assert lo < 0.7 < hi  # the exact second output is not averaged in
    assert memory_r2_interval(y[:1], y_hat[:1], y_mem[:1], valid, [True]) is None
    assert memory_r2_interval(y, y_hat, y_mem, valid, [False]) is None
