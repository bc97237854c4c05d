"""The contract every process meets, generated from the process registry: each process
declares contract examples (``ProcessFamily.examples``), and ``check_process_contract`` runs on
every one of them (tests/test_process_contract.py)."""

from pathlib import Path

import jax
import numpy as np

from lagnet.processes import PROCESSES, Process, build_process


def check_process_contract(p, key, n: int, length: int, tol: float) -> None:
    """Series in the declared order; (N, L) float32, finite, on the default device;
    deterministic under a key; different keys differ; jitted equals eager within ``tol``."""
    out = p.sample(key, n, length)
    assert tuple(out) == p.series
    for s, a in out.items():
        assert a.shape == (n, length) and a.dtype == np.float32, s
        assert np.all(np.isfinite(a)), s
        assert a.devices() == {jax.devices()[0]}, s  # made on the default device, not the host

    again = p.sample(key, n, length)
    other = p.sample(jax.random.split(key)[1], n, length)
    jitted = jax.jit(lambda k: p.sample(k, n, length))(key)
    for s in p.series:
        np.testing.assert_array_equal(out[s], again[s])
        assert np.any(np.asarray(out[s]) != np.asarray(other[s])), s
        np.testing.assert_allclose(jitted[s], out[s], rtol=tol, atol=tol)


def examples(directory: Path) -> dict[str, Process]:
    """Every contract example of every registered process, built (a file a data process needs
    is written into ``directory``)."""
    built = {}
    for fam in PROCESSES:
        for name, cfg in fam.examples(directory).items():
            built[name] = cfg if isinstance(cfg, Process) else build_process(cfg)
    return built


def missing_from_contract(directory: Path) -> list[str]:
    """Registered processes that would skip the contract: no example declared."""
    return [fam.kind for fam in PROCESSES if not fam.examples(directory)]
