"""Test settings: CPU only and single-threaded.

On 2 shared cores a second thread beside a busy process was measured 12–31× slower, so the
suite pins XLA and BLAS to one thread. These must be set before JAX is first imported.
"""

import os
import shutil
import tempfile

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault(
    "XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
)
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ["LAGNET_CACHE"] = "0"  # no compiled steps shared with other runs on this machine
# One compilation cache for this test session only: its workers and the `lagnet` commands they
# start compile many of the same programs (the docs' commands, the benchmark smokes). Made by
# the controller (workers inherit the environment) and removed when the session ends.
if "PYTEST_XDIST_WORKER" not in os.environ and "LAGNET_TEST_JAX_CACHE" not in os.environ:
    os.environ["LAGNET_TEST_JAX_CACHE"] = tempfile.mkdtemp(prefix="lagnet-tests-jax-")
    _OWN_CACHE = os.environ["LAGNET_TEST_JAX_CACHE"]
else:
    _OWN_CACHE = None
os.environ["JAX_COMPILATION_CACHE_DIR"] = os.environ["LAGNET_TEST_JAX_CACHE"]
os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"

import jax  # noqa: E402
import pytest  # noqa: E402

# The suite's programs are tiny, so compiling them is most of its time: with most of XLA's
# optimisations off the whole suite ran 30% faster (tests/test_models.py, test_training.py and
# test_cli.py: 104 s -> 73 s on 2 cores). Set in this process only: the tests that start
# `lagnet` in a subprocess (the main job, the installed wheel, the benchmark smokes) compile as
# users do.
jax.config.update("jax_disable_most_optimizations", True)


def pytest_unconfigure(config):
    if _OWN_CACHE:
        shutil.rmtree(_OWN_CACHE, ignore_errors=True)


@pytest.fixture
def key():
    """A fresh PRNG key per test; tests never touch global random state."""
    return jax.random.PRNGKey(0)


# ----------------------------------------------------------------------------- one tiny run
# One tiny trained run serves the CLI, API, report and plot tests: trained once per session
# through the command line, copied into each test that wants to change it.
TINY_FLAGS = [
    "--hidden",
    "6",
    "--steps",
    "40",
    "--batch",
    "16",
    "--length",
    "15",
    "--quiet",
    "--set",
    "train.val_every=20",
    "--set",
    "train.val_paths=32",
    "--set",
    "train.pilot_paths=32",
    "--set",
    "eval.test_paths=40",
    "--set",
    "eval.baseline_paths=60",
    "--set",
    "eval.long_paths=5",
    "--set",
    "model.head=[8]",
]


@pytest.fixture(scope="session")
def tiny_run_dir(tmp_path_factory):
    """(run directory, what `lagnet train` printed): a GRU on the forum's target, 40 steps."""
    from typer.testing import CliRunner

    from lagnet.cli import app

    out = tmp_path_factory.mktemp("shared") / "run"
    res = CliRunner().invoke(
        app,
        [
            "train",
            "--process",
            "ar1(rho=0.1)",
            "--target",
            "x[t]**2 + 0.1*x[t-1]**2",
            "--model",
            "gru",
            "--out",
            str(out),
            *TINY_FLAGS,
        ],
    )
    assert res.exit_code == 0, res.output
    return out, res.output


@pytest.fixture
def tiny_run(tiny_run_dir, tmp_path):
    """A copy of the shared tiny run directory, this test's to change."""
    import shutil

    return shutil.copytree(tiny_run_dir[0], tmp_path / "tiny-run")
