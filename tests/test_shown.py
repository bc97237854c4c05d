"""Numbers in the verdict's sentences never overstate: a memory_r2 of 0.9998 read "removed
100.0% … (memory_r2 1.000)" under a table that said 0.9998."""

from __future__ import annotations

import math

import pytest

from lagnet.progress import speed
from lagnet.shown import below, percent
from lagnet.verdict import verdict
from test_evaluation import _metrics


@pytest.mark.parametrize(
    "x, places, text",
    [
        (0.9998, 3, "0.9998"),
        (0.95, 3, "0.950"),
        (1.0, 3, "1.000"),  # reaching the top is said as such
        (1.02, 3, "1.020"),
        (-0.55, 3, "-0.550"),
        (0.999996, 4, "0.999996"),
        (1 - 3.9e-14, 3, "1.000"),  # beyond 6 decimals the difference is noise
    ],
)
def test_below_adds_decimals_only_to_stay_below_the_top(x, places, text):
    assert below(x, places) == text
    if x < 1:
        assert float(text) < 1 or x > 1 - 1e-6


def test_percent_reaches_100_only_at_1():
    assert percent(0.9998) == "99.98%" and percent(0.21666) == "21.7%"
    assert percent(1.0) == "100.0%" and percent(0.999) == "99.9%"
    assert below(math.nan, 3) == "nan"


def test_the_verdict_says_what_the_table_says():
    said = verdict(_metrics(0.9998))["headline"]
    assert "99.98%" in said and "memory_r2 0.9998" in said
    assert "100.0%" not in said and "1.000;" not in said
    assert "memory_r2 0.950" in verdict(_metrics(0.95))["headline"]  # as before otherwise


def test_the_bar_never_says_zero_steps_per_second():
    assert speed(0.0) == "-" and speed(float("nan")) == "-"
    assert speed(0.42) == "0.42" and speed(3.14159) == "3.1" and speed(254.4) == "254"


def test_a_share_and_its_percentage_agree_at_the_cap():
    """percent(0.9999996) read "99.99996%" beside memory_r2 "1.000" in one sentence."""
    x = 0.9999996
    assert below(x, 3) == "1.000" and percent(x) == "100.0%"
    assert below(0.999996, 3) == "0.999996" and percent(0.999996) == "99.9996%"
