"""The verdict's sentences claim no more than the numbers: a pure delay's baseline at R²
-0.00003 is no heavy tail, "R² alone cannot show" only where the past's part is small, a model
far behind the memoryless baseline on a target that needs no memory is said to have failed,
and no number reads "-0.000"."""

from __future__ import annotations

from lagnet.shown import below
from lagnet.verdict import past_share, verdict
from test_evaluation import _metrics


def test_a_baseline_at_zero_is_no_heavy_tail():
    said = past_share(_metrics(0.72, -0.00003))
    assert "worse than their mean" not in said and "heavy tail" not in said
    assert "carries 100.00% of its variance" in said and "R² 0.0000" in said
    said = past_share(_metrics(0.72, -0.9))  # a baseline truly worse than the mean
    assert "worse than their mean" in said and "unreliable" in said


def test_r2_hides_the_past_only_when_its_part_is_small():
    assert "R² alone cannot show" in past_share(_metrics(0.95, 0.99))
    said = past_share(_metrics(0.95, 0.5))  # the past carries half: R² shows it
    assert "R² alone cannot show" not in said and "carries 50.00%" in said


def test_a_model_behind_the_memoryless_baseline_has_not_learned_a_target_without_memory():
    m = _metrics(None, 0.99994)
    m["test"].update(mse=0.9, r2=0.043)
    m["baselines"]["memoryless"]["mse"] = 5e-5
    said = verdict(m)["headline"]
    assert said.startswith("The target needs no memory") and "has not learned the target" in said
    m["test"].update(mse=4e-5, r2=0.99995)  # as good as the baseline: nothing more said
    assert "not learned" not in verdict(m)["headline"]


def test_no_number_reads_minus_zero():
    assert below(-0.00003, 4) == "-0.00003" and below(-1e-12, 3) == "0.000"
    assert below(0.00003, 4) == "0.0000"  # a positive value rounds as usual


def test_how_far_memory_r2_could_move_is_said_when_it_matters():
    m = _metrics(0.77, 0.99)
    m["test"].update(memory_r2_interval=[0.651, 0.877], paths=10)
    (said,) = [d for d in verdict(m)["details"] if "other test paths" in d]
    assert "0.651 to 0.877" in said and "10 test paths" in said and "otherwise" not in said
    m["test"].update(memory_r2=0.91, memory_r2_interval=[0.88, 0.93])  # across 0.9
    (said,) = [d for d in verdict(m)["details"] if "other test paths" in d]
    assert "the verdict could read otherwise" in said
    m["test"].update(memory_r2=0.95, memory_r2_interval=[0.94, 0.96])  # narrow: not said
    assert not [d for d in verdict(m)["details"] if "other test paths" in d]


def test_the_table_says_why_memory_r2_is_missing():
    """A constant target's table said 'the target needs no memory' above a verdict that said
    it does not vary."""
    from lagnet.cli._app import metrics_table

    m = _metrics(None, 0.99)
    m["test"].update(r2=float("nan"), nrmse=float("nan"))
    m["baselines"]["memoryless"]["mse"] = 0.0
    m["baselines"]["linear_lags"]["mse"] = 0.0
    m["long_horizon"].update(mse=0.0, r2=float("nan"))
    assert "does not vary" in metrics_table(m, "t").caption
    m["test"]["r2"] = 0.99
    assert "needs no memory" in metrics_table(m, "t").caption
