"""The contract every process meets, shared by the process test files (one definition)."""

import jax
import numpy as np


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
