"""SequenceRegressor against scikit-learn's own estimator checks, and as a sequence model:
per-step targets, the memoryless baseline, warm start, Pipeline, GridSearchCV, clone."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils.estimator_checks import parametrize_with_checks

from lagnet.errors import LagnetError
from lagnet.sklearn import SequenceRegressor

# Small sample sizes for lagnet's own evaluation of each fit (the checks fit many times).
SMALL = dict(eval=dict(test_paths=16, baseline_paths=64))
# A closed-form family fits in a fraction of a second once compiled: the checks' many fits
# stay cheap. A 30-unit reservoir recalls the one informative step of check_regressors_train.
CHECKED = SequenceRegressor(model="esn", reservoir=30, washout=0, **SMALL)
GRU = dict(model="gru", hidden=8, head=[8], batch=32, **SMALL)

# Checks that cannot apply to a sequence model, by name, with the reason.
SKIPPED = {
    "check_no_attributes_set_in_init": (
        "lagnet's other options (reservoir=…, eval=…) arrive as **options and are stored as "
        "attributes of their own names, which get_params reports; the check counts only the "
        "names in __init__'s signature"
    ),
}


@pytest.mark.slow  # about 50 checks, each fitting a few times: ~1 min of CPU
@parametrize_with_checks([CHECKED], expected_failed_checks=lambda est: SKIPPED, legacy=True)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def _delay_data(n=96, length=12, seed=0):
    """x i.i.d.; y[t] = x[t-1]² − x[t]: needs one step of memory, undefined at t = 0."""
    x = np.random.default_rng(seed).standard_normal((n, length))
    y = np.full_like(x, np.nan)
    y[:, 1:] = x[:, :-1] ** 2 - x[:, 1:]
    return x, y


@pytest.mark.slow
def test_per_step_target_learns_the_past_and_warm_start_goes_on():
    """A GRU learns y[t] = x[t-1]² − x[t] far beyond the memoryless baseline (which sees x[t]
    only); a warm fit goes on from the fitted weights and does not lose what was learned."""
    x, y = _delay_data()
    est = SequenceRegressor(steps=300, lr=1e-2, **GRU).fit(x, y)
    assert est.predict(x).shape == y.shape
    first = est.score(x, y)
    assert est.memoryless_score_ < 0.6 < first  # x[t] alone explains 1/3 of the variance
    assert est.run_.metrics["test"]["memory_r2"] > 0.3
    est.set_params(warm_start=True, steps=150)
    est.fit(x, y)
    assert est.run_.metrics["train"]["warm_steps"] == 150
    assert est.score(x, y) > first - 0.02


@pytest.mark.slow
def test_memoryless_score_is_the_best_function_of_the_current_input():
    """y = 2·x[t] at the last step: the memoryless baseline is exact."""
    x = np.random.default_rng(1).standard_normal((40, 5))
    est = SequenceRegressor(model="esn", reservoir=10, washout=0, **SMALL).fit(x, 2 * x[:, -1])
    assert est.memoryless_score_ == pytest.approx(1.0, abs=1e-6)
    assert est.predict(x).shape == (40,)


@pytest.mark.slow
def test_options_are_parameters_clone_and_grid_search():
    est = SequenceRegressor(model="esn", reservoir=10, density=0.5, washout=0, **SMALL)
    assert est.get_params()["reservoir"] == 10
    twin = clone(est)
    assert twin.get_params() == est.get_params() and twin is not est
    x, y = _delay_data(n=48, length=8)
    pipe = make_pipeline(FunctionTransformer(), est)
    search = GridSearchCV(pipe, {"sequenceregressor__reservoir": [10, 20]}, cv=2)
    search.fit(x, y)
    assert search.best_params_["sequenceregressor__reservoir"] in (10, 20)
    assert np.isfinite(search.score(x, y))
    with pytest.raises(LagnetError, match="hiden: 4 — unknown option"):
        SequenceRegressor(hiden=4).fit(x, y)  # checked in fit, as scikit-learn asks


def test_bad_targets_are_refused_in_one_line():
    x, y = _delay_data(n=8, length=6)
    holes = y.copy()
    holes[3, 4] = np.nan
    est = SequenceRegressor(model="esn", reservoir=5, washout=0, **SMALL)
    with pytest.raises(LagnetError, match="leading steps"):
        est.fit(x, holes)
    with pytest.raises(LagnetError, match="expected"):
        est.fit(x, y[:, :4])


@pytest.mark.slow
def test_the_readme_py_block_runs(tmp_path, monkeypatch):
    """README's scikit-learn block, on a small reservoir instead of 2000 GRU steps."""
    import re
    from pathlib import Path

    import lagnet

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    (code,) = re.findall(r"```py\n(.*?)```", readme, flags=re.S)
    tiny = code.replace(
        'model="gru", steps=2000, hidden=16', 'model="esn", reservoir=10, density=0.5'
    )
    assert tiny != code
    monkeypatch.chdir(tmp_path)
    x, y = _delay_data(n=32, length=8)
    namespace = {"X": x, "y": y, "lagnet": lagnet}
    exec(compile(tiny, "README.md", "exec"), namespace)  # noqa: S102 — the README's own code
    assert (tmp_path / "runs" / "arrays" / "report.html").is_file()
    assert 0 < namespace["mc"]["total"] <= 10
