"""One XLA compilation at a time while a run prepares its test set beside its fit.

``lagnet.run`` simulates the test set and fits the baselines in a second thread while the
model trains (the forum command's: 1.1 s hidden behind the fit, ``prepare_test`` measured with
a warm compilation cache on an idle 2-core machine). Both threads compile programs. Once in the test suite's runs two compilations at once
stopped for good: both threads in XLA's ``backend_compile_and_load``, waiting on each other
(a futex), the process idle. Within :func:`one_compilation_at_a_time` every XLA compilation in
the process takes one lock, so no two overlap; running compiled programs, tracing and loading
programs from the compilation cache still overlap.

JAX has no public hook for this: the lock wraps the module function its ``jit`` calls to
compile (``jax._src.compiler.backend_compile_and_load``; ``backend_compile`` before 0.5). A
JAX without either runs as before, unguarded."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from jax._src import compiler as _compiler

NAMES = ("backend_compile_and_load", "backend_compile")  # the first that this JAX has
_COMPILING = threading.RLock()  # held while XLA compiles
_STATE = threading.Lock()  # guards _users and the swap
_users = 0
_original = None


def _name() -> str | None:
    return next((n for n in NAMES if callable(getattr(_compiler, n, None))), None)


@contextmanager
def one_compilation_at_a_time() -> Iterator[None]:
    """Within: XLA compilations in this process, from any thread, run one after another.
    Nests, and may be entered from several threads at once: the first entry installs the
    lock, the last exit removes it."""
    global _users, _original
    name = _name()
    if name is None:
        yield
        return
    with _STATE:
        if _users == 0:
            _original = getattr(_compiler, name)
            setattr(_compiler, name, _locked(_original))
        _users += 1
    try:
        yield
    finally:
        with _STATE:
            _users -= 1
            if _users == 0:
                if getattr(getattr(_compiler, name), "__wrapped__", None) is _original:
                    setattr(_compiler, name, _original)  # not another's patch made since
                _original = None


def _locked(compile_):
    @functools.wraps(compile_)
    def compile_one_at_a_time(*args, **kwargs):
        with _COMPILING:  # waiting here releases the GIL, as any lock's wait does
            return compile_(*args, **kwargs)

    return compile_one_at_a_time
