"""SequenceRegressor's inputs: paths of one step, paths of another length than the fit's, and
bad options, X and y refused in one line naming the field and the value."""

import numpy as np
import pytest

from lagnet.errors import LagnetError
from lagnet.sklearn import SequenceRegressor

# A small reservoir: a closed-form fit, in a fraction of a second once compiled.
ESN = dict(model="esn", reservoir=10, density=0.5, washout=0, eval=dict(test_paths=16))


def _refused(err) -> str:
    """The error's line, checked to be one line."""
    text = str(err.value)
    assert "\n" not in text
    return text


@pytest.fixture(scope="module")
def fitted():
    """An ESN fitted on 2-D X (20, 6) and per-step y, and its data."""
    x = np.random.default_rng(0).standard_normal((20, 6))
    return SequenceRegressor(**ESN).fit(x, 2 * x), x


@pytest.mark.slow
def test_one_step_paths_predict_one_step():
    """A fit on 1-step paths (padded with a zero step for training) predicted 2 steps."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((30, 1))
    est = SequenceRegressor(**ESN).fit(x, 2 * x)
    assert est.n_steps_ == 1
    assert est.predict(x).shape == (30, 1)
    assert est.score(x, 2 * x) > 0.9
    x3 = rng.standard_normal((30, 1, 2))
    est3 = SequenceRegressor(**ESN).fit(x3, x3)
    assert est3.predict(x3[:5]).shape == (5, 1, 2)
    assert est3.predict(rng.standard_normal((5, 3, 2))).shape == (5, 3, 2)


def test_a_one_step_prefix_of_longer_paths_predicts_as_they_do():
    """The model is causal: a 3-D X cut to one step predicts the first step of the whole."""
    x3 = np.random.default_rng(2).standard_normal((20, 6, 2))
    est = SequenceRegressor(**ESN).fit(x3, x3)
    whole = est.predict(x3[:5])
    first = est.predict(x3[:5, :1])
    assert first.shape == (5, 1, 2)
    np.testing.assert_allclose(first, whole[:, :1], rtol=1e-4, atol=1e-5)


def test_outputs_with_different_warm_ups_are_refused_naming_the_output():
    x = np.random.default_rng(3).standard_normal((20, 6))
    y = np.stack([np.full_like(x, np.nan), x], axis=2)
    y[:, 1:, 0] = x[:, :-1]  # output 0 reads a lag: undefined at t = 0; output 1 is not
    with pytest.raises(LagnetError) as err:
        SequenceRegressor(**ESN).fit(x, y)
    text = _refused(err)
    assert err.value.field == "y"
    assert "output 0 undefined on its first 1 step(s), output 1 on 0" in text
    assert "one warm-up" in text and "y[:, :1]" in text
    y[:, :1] = np.nan  # the remedy the line gives
    assert SequenceRegressor(**ESN).fit(x, y).predict(x).shape == (20, 6, 2)


def test_a_hole_in_y_is_named_by_path_and_step():
    x = np.random.default_rng(4).standard_normal((8, 6))
    y = x.copy()
    y[3, 4] = np.nan
    with pytest.raises(LagnetError) as err:
        SequenceRegressor(**ESN).fit(x, y)
    assert err.value.field == "y"
    assert _refused(err).startswith("y: NaN at path 3, step 4 — only leading steps")


@pytest.mark.parametrize("steps", ["a", 0, True, 2.5])
def test_bad_steps_are_refused_before_use(steps):
    x = np.zeros((8, 4))
    with pytest.raises(LagnetError) as err:
        SequenceRegressor(steps=steps, hidden=4).fit(x, x)
    assert err.value.field == "steps" and err.value.value == steps
    assert "whole number" in _refused(err)


@pytest.mark.slow
def test_a_whole_float_of_steps_is_a_number_of_steps():
    """A parameter search may hand over steps=6.0: refused as "not a whole number" (and,
    before that check, failed in range())."""
    x = np.random.default_rng(2).standard_normal((16, 8))
    est = SequenceRegressor(steps=6.0, hidden=2, model="gru", eval=dict(test_paths=16))
    assert est.fit(x, x).run_.metrics["train"]["steps"] == 6


def test_a_1d_x_is_refused_with_the_reshape_for_one_path(fitted):
    est, x = fitted
    for call in (lambda: SequenceRegressor(**ESN).fit(x[0], x[0]), lambda: est.predict(x[0])):
        with pytest.raises(LagnetError) as err:
            call()
        assert err.value.field == "X" and err.value.value == "shape (6,)"
        text = _refused(err)
        assert "X.reshape(1, -1)" in text and "reshape(-1, 1)" not in text


def test_nan_or_inf_in_x_is_named_by_path_and_step(fitted):
    est, x = fitted
    holed = x.copy()
    holed[2, 3] = np.nan
    with pytest.raises(LagnetError) as err:
        SequenceRegressor(**ESN).fit(holed, x)
    assert err.value.field == "X" and err.value.value == "NaN at path 2, step 3"
    assert "HistGradientBoosting" not in _refused(err)
    x3 = x[:, :, None].copy()
    x3[1, 2, 0] = -np.inf
    with pytest.raises(LagnetError) as err:
        est.predict(x3)
    assert err.value.value == "-inf at path 1, step 2, input 0"
    _refused(err)


@pytest.mark.parametrize(
    ("name", "said"), [("length", "X's second axis"), ("kind", "the model parameter")]
)
def test_length_and_kind_are_refused_saying_where_they_come_from(name, said):
    x = np.zeros((8, 4))
    with pytest.raises(LagnetError) as err:
        SequenceRegressor(**{name: 50}).fit(x, x)
    assert err.value.field == name and err.value.value == 50
    assert said in _refused(err)


def test_a_setting_of_other_families_names_them():
    x = np.zeros((8, 4))
    with pytest.raises(LagnetError) as err:
        SequenceRegressor(model="esn", hidden=8).fit(x, x)
    assert err.value.field == "hidden" and err.value.value == 8
    text = _refused(err)
    assert "not a setting of esn" in text
    assert "gru" in text.split("families with it:")[1] and "esn" not in text.split(":")[-1]


def test_paths_of_another_length_are_predicted_3d_and_refused_2d_saying_so(fitted):
    """A 3-D X of any length is predicted; a 2-D one must have the fit's length (scikit-learn's
    n_features_in_ checks), and the refusal says to give it 3-D."""
    est, x = fitted
    np.testing.assert_allclose(
        est.predict(x[:, :4, None]), est.predict(x)[:, :4], rtol=1e-4, atol=1e-5
    )
    with pytest.raises(LagnetError) as err:
        est.predict(x[:, :4])
    text = _refused(err)
    assert err.value.field == "X" and err.value.value == "shape (20, 4)"
    assert "X has 4 features, but SequenceRegressor is expecting 6" in text
    assert "3-D" in text
