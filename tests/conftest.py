"""Test settings: CPU only and single-threaded.

On 2 shared cores a second thread beside a busy process was measured 12–31× slower, so the
suite pins XLA and BLAS to one thread. These must be set before JAX is first imported.
"""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault(
    "XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
)
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ["LAGNET_CACHE"] = "0"  # no compiled steps shared with other runs on this machine

import jax  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture
def key():
    """A fresh PRNG key per test; tests never touch global random state."""
    return jax.random.PRNGKey(0)
