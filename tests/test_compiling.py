"""lagnet.run makes its test set in a thread beside the fit; within it XLA compiles one
program at a time (a hang was seen once with two compilations at once)."""

import json
import random
import threading
import time

import jax
import jax.numpy as jnp
import pytest
from jax._src import compiler

import lagnet
from lagnet.compiling import _name, one_compilation_at_a_time


def _compile_in_two_threads(monkeypatch, guarded: bool) -> list[tuple[float, float]]:
    """Two threads each compile a program never seen before (a fresh constant: no cache
    hit); each compilation is held 0.3 s. Returns the compilations' (start, end)."""
    name = _name()
    original = getattr(compiler, name)
    spans = []

    def slow_compile(*args, **kwargs):
        start = time.perf_counter()
        time.sleep(0.3)
        out = original(*args, **kwargs)
        spans.append((start, time.perf_counter()))
        return out

    monkeypatch.setattr(compiler, name, slow_compile)
    barrier = threading.Barrier(2)
    x = jnp.ones(3)

    def work():
        c = random.random()
        barrier.wait()
        jax.jit(lambda x: jnp.sin(x) * c)(x).block_until_ready()

    def both():
        threads = [threading.Thread(target=work) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    if guarded:
        with one_compilation_at_a_time():
            both()
    else:
        both()
    assert getattr(compiler, name) is slow_compile  # put back as it was found
    return sorted(spans)


def test_two_threads_compile_one_after_the_other(monkeypatch):
    spans = _compile_in_two_threads(monkeypatch, guarded=True)
    assert len(spans) >= 2
    assert all(later[0] >= earlier[1] for earlier, later in zip(spans, spans[1:]))


def test_without_it_they_overlap(monkeypatch):
    """The control: the test above would see an overlap if there were no lock."""
    spans = _compile_in_two_threads(monkeypatch, guarded=False)
    assert any(later[0] < earlier[1] for earlier, later in zip(spans, spans[1:]))


def test_nested_and_restored():
    name = _name()
    original = getattr(compiler, name)
    with one_compilation_at_a_time():
        guarded = getattr(compiler, name)
        assert guarded is not original and guarded.__wrapped__ is original
        with one_compilation_at_a_time():
            assert getattr(compiler, name) is guarded
        assert getattr(compiler, name) is guarded  # the outer one still holds
    assert getattr(compiler, name) is original


@pytest.mark.slow
def test_a_run_compiles_under_the_lock():
    """While lagnet.run fits (its test set made beside it), compilations take the lock."""
    seen = []
    cfg = lagnet.build_config(
        "ar1(rho=0.5)",
        "x[t-1]",
        "gru",
        hidden=4,
        steps=2,
        batch=8,
        length=20,
        val_every=2,
        eval=dict(test_paths=8, baseline_paths=16, long_paths=2),
    )
    original = getattr(compiler, _name())
    lagnet.run(cfg, callbacks=[lambda row: seen.append(getattr(compiler, _name()))])
    assert seen and all(f.__wrapped__ is original for f in seen)
    assert getattr(compiler, _name()) is original  # and after it, not


def test_a_run_says_how_long_its_test_set_took(tiny_run):
    """eval_seconds counts only what follows the fit; the test set and the baselines' fits,
    made beside the fit, have their own time (with 8 inputs: 0.4 s said, 20 s spent)."""
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    assert 0 < metrics["test_set_seconds"] < 600 and metrics["eval_seconds"] > 0


def test_a_patch_made_inside_the_window_survives_it(monkeypatch):
    name = _name()
    with one_compilation_at_a_time():
        monkeypatch.setattr(compiler, name, lambda *a, **k: None)  # a profiler's, a test's
        theirs = getattr(compiler, name)
    assert getattr(compiler, name) is theirs
