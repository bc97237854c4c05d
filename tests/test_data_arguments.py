"""Observed data is an argument of the programs that sample it, never a constant baked into
them: a program kept for its shape serves a file that changed, and a scikit-learn fit's rows
are not copied into its programs (nor into their entries in the compilation cache)."""

from __future__ import annotations

import jax
import numpy as np
import pytest

import lagnet
from lagnet.sklearn import _arrays_process
from lagnet.targets import compile_target
from lagnet.tasks import Task, simulation


def _rows_task(n: int) -> Task:
    x = np.random.default_rng(n).normal(size=(n, 12, 1))
    process = _arrays_process(x, x**2, 0)
    return Task(process, compile_target("y0[t]", series=process.series), ("x0",))


def test_a_fit_s_rows_are_not_baked_into_its_programs():
    """The compiled simulation of 1000 rows is the program of 10 rows (rows baked in as
    constants made every fit write new cache entries the size of its data)."""
    texts = []
    for n in (10, 1000):
        task = _rows_task(n)
        arrays = task.process.arrays(12)
        key, params = jax.random.PRNGKey(0), task.param_values()
        texts.append(simulation(task).lower(key, params, arrays, n=4, length=12).as_text())
        x, y, valid = task.sample(key, 4, 12)  # and it samples the rows
        np.testing.assert_allclose(np.asarray(y), np.asarray(x) ** 2, rtol=1e-5)
    # only the shapes' digits differ (baked in, 1000 rows were 190 kB of the text)
    assert abs(len(texts[1]) - len(texts[0])) < 50


def test_a_fit_draws_from_the_arrays_it_is_given():
    task = _rows_task(10)
    other = _rows_task(30).process.arrays(12)
    key = jax.random.PRNGKey(1)
    own = task.sample(key, 5, 12)
    given = jax.jit(lambda k, a: task.sample(k, 5, 12, arrays=a))(key, other)
    assert not np.allclose(np.asarray(own[0]), np.asarray(given[0]))
    np.testing.assert_allclose(np.asarray(given[1]), np.asarray(given[0]) ** 2, rtol=1e-5)


@pytest.mark.slow
def test_a_data_file_that_changed_is_trained_on_as_it_is_now(tmp_path, monkeypatch):
    """Two runs of one config in one process (a notebook), the file rewritten between them:
    the second trains on the new file. Its program, kept for the shape, once held the first
    file's values and trained on them: R² -0.20 where a fresh process got 0.996."""
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    kw = dict(
        process='data(path="d.npz")',
        target="x[t-1]",
        model="gru",
        steps=150,
        batch=16,
        length=20,
        hidden=8,
        val_every=50,
        seed=0,
        eval=dict(test_paths=64, baseline_paths=100, long_paths=4, long_factor=2),
    )
    r2 = []
    for scale, shift in ((1.0, 0.0), (100.0, 50.0)):
        np.savez("d.npz", x=(rng.normal(size=(40, 200)) * scale + shift).astype(np.float32))
        r2.append(lagnet.train(**kw).metrics["test"]["r2"])
    assert min(r2) > 0.9, r2
