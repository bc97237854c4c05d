"""The doctor on a filtering task judges the model as the run's verdict does: against the
optimal filter. A GRU that removed 98.1% of the error the Hamilton filter removes has memory_r2
0.155 (the filter's own is 0.158); the doctor called that unlearned, advised a wider model
trained longer, and ``--fix`` would have retrained for nothing."""

from lagnet import optimal as optimum
from lagnet.doctor.checks import check_all
from lagnet.doctor.findings import Facts
from lagnet.doctor.verdict import compose, lines
from lagnet.registry import task_config
from lagnet.tasks import build_task
from lagnet.verdict import verdict

HAMILTON = dict(name="Hamilton filter", mse=0.0837, r2=0.665)


def _metrics(model_mse: float, optimal: dict | None = HAMILTON) -> dict:
    """regime-filter's numbers (a 10 s GRU): memoryless MSE 0.0994, the filter's 0.0837."""
    mem = dict(mse=0.0994, r2=0.602, inputs=1)
    test = dict(mse=model_mse, r2=1 - model_mse / 0.25, memory_r2=1 - model_mse / mem["mse"])
    test.update(length=200, paths=100, nonfinite_paths=0)
    base = dict(memoryless=mem, linear_lags=dict(mse=0.09, r2=0.64, lags=2))
    if optimal is not None:
        base["optimal"] = optimal
        test["reachable_share"] = optimum.reachable_share(
            model_mse, mem["mse"], optimal["mse"], 0.25, test["memory_r2"]
        )
    return dict(
        test=test,
        baselines=base,
        target=dict(memory_share=0.398, variance=0.25),
        train=dict(stopped="max_seconds", steps=2000),
        long_horizon=dict(ratio=None, length=2000),
        drift=dict(ratio=None),
    )


def _facts(metrics: dict, inputs=("x",)) -> Facts:
    cfg = task_config("regime-filter")
    cfg = cfg.model_copy(update=dict(target=cfg.target.model_copy(update=dict(inputs=inputs))))
    target = build_task(cfg, length=cfg.train.length).target
    return Facts(cfg, target, metrics, {}, [], None, 1, 1, None, None, {}, 1.0, 0.0, 0.5)


def test_a_model_near_the_optimum_gets_no_capacity_advice():
    metrics = _metrics(0.0840)
    assert verdict(metrics)["learned_past"] is True  # the run's verdict
    f = _facts(metrics)
    assert f.memory_r2 < 0.2 and f.learned  # judged by the reachable share, 98.1%
    found = check_all(f)
    assert "capacity" not in [x.code for x in found]
    v = compose(f, found, kmax=32)
    assert v["learned_past"] is True and v["primary"] is None and v["try_"] is None
    text = "\n".join(lines(v))
    assert "as far as it can be learned" in text and "98.1%" in text
    assert "Hamilton filter" in text and "the optimum's 0.158" in text
    assert "Nothing found that stops the model from learning the past." in text


def test_a_model_far_from_the_optimum_still_gets_advice():
    f = _facts(_metrics(0.0960))  # 21.7% of the reachable error removed
    assert not f.learned
    found = check_all(f)
    assert "capacity" in [x.code for x in found]
    text = "\n".join(lines(compose(f, found, kmax=32)))
    assert "The model removed 21.7% of the error that the best possible predictor" in text


def test_without_an_optimum_memory_r2_decides():
    f = _facts(_metrics(0.0840, optimal=None))
    assert not f.learned and "capacity" in [x.code for x in check_all(f)]


def test_the_hidden_input_note_quotes_the_optimum_not_the_oracle():
    """The regime is not observed; with a known optimum, its error is what a perfect model
    keeps (the lag oracle's finite look-back can be beaten: sv 0.333 vs 0.377 at k = 32)."""
    (note,) = [x for x in check_all(_facts(_metrics(0.0840))) if x.code == "hidden_inputs"]
    assert "Hamilton filter" in note.message and "MSE 0.0837" in note.message
    assert "84.2% of the memoryless baseline's" in note.message
    assert "lag oracle" not in note.message
    (plain,) = [x for x in check_all(_facts(_metrics(0.0840, None))) if x.code == "hidden_inputs"]
    assert "lag oracle shows at its longest lag" in plain.message
