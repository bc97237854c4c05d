"""Packaging: the wheel installs and works without the source tree; the tree passes ruff.

The wheel test builds lagnet's wheel from a copy of the sources (no build isolation: the test
extra brings setuptools), installs it with ``--no-deps`` into a fresh venv, and lets that venv
see the dev venv's site-packages through a ``.pth`` path line, so jax & co. are not installed a
second time. A path line only appends the directory to ``sys.path``; the ``.pth`` files in it
(the editable install's among them) are not processed, so ``import lagnet`` can only find the
wheel's copy — which the test checks rather than assumes.
"""

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import venv
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as dist_version
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = ("train", "eval", "simulate", "report", "tasks", "bench", "doctor")
PIP_QUIET = ("--no-index", "--disable-pip-version-check", "-q")  # nothing is downloaded
TINY = {  # a run that takes seconds: only the plumbing is under test
    "train.val_every": 10,
    "train.val_paths": 16,
    "train.pilot_paths": 16,
    "eval.test_paths": 16,
    "eval.baseline_paths": 100,
    "eval.long_paths": 4,
}
TINY_TRAIN = [
    *("--process", "ar1(rho=0.1)", "--steps", "20", "--batch", "8", "--length", "20", "--quiet"),
    *(arg for key, value in TINY.items() for arg in ("--set", f"{key}={value}")),
]
LINTED = ("src", "tests", "benchmarks")


def _env() -> dict:
    """The environment for the fresh venv's processes: CPU, one thread, no source tree."""
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env.update(
        JAX_PLATFORMS="cpu",
        MPLBACKEND="Agg",
        LAGNET_CACHE="0",
        XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
        OMP_NUM_THREADS="1",
        OPENBLAS_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        PYTHONNOUSERSITE="1",
        COLUMNS="200",
    )
    return env


def _run(cmd, cwd, timeout=600):
    proc = subprocess.run(
        [str(c) for c in cmd], cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, (
        f"{' '.join(map(str, cmd))} exited {proc.returncode}\n"
        f"--- stdout\n{proc.stdout[-4000:]}\n--- stderr\n{proc.stderr[-4000:]}"
    )
    return proc


def _site_packages(python: Path) -> Path:
    """The site-packages directory of the environment ``python`` runs in, as it says itself."""
    code = "import sysconfig; print(sysconfig.get_path('purelib'))"
    return Path(_run([python, "-c", code], cwd=python.parent).stdout.strip())


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A fresh venv holding lagnet from its wheel and nothing else of its own."""
    try:
        setuptools_major = int(dist_version("setuptools").split(".")[0])
    except PackageNotFoundError:
        setuptools_major = 0
    if setuptools_major < 77:
        pytest.fail(
            "building the wheel without isolation needs setuptools>=77 in this venv "
            "(pyproject.toml's test extra; run scripts/venv.sh)"
        )

    tmp = tmp_path_factory.mktemp("packaging")
    # Build from a copy: an in-tree build writes build/ and *.egg-info beside the sources.
    src = tmp / "source"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(
        ROOT / "src",
        src / "src",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"),
    )
    dist = tmp / "dist"
    pip = [sys.executable, "-m", "pip"]
    _run([*pip, "wheel", "--no-deps", "--no-build-isolation", *PIP_QUIET, "-w", dist, src], tmp)
    (wheel,) = dist.glob("lagnet-*.whl")

    env_dir = tmp / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    # The dev venv's pip installs into the fresh interpreter's environment.
    _run([*pip, "--python", python, "install", "--no-deps", *PIP_QUIET, wheel], tmp)
    # Only now let the fresh venv see the dependencies (after the install, so that pip never
    # mistakes the dev venv's editable lagnet for one it should replace).
    site = _site_packages(python)
    assert (site / "lagnet" / "__init__.py").is_file(), f"the wheel did not land in {site}"
    deps = sysconfig.get_path("purelib")  # this (dev) venv's site-packages: jax, typer, ...
    (site / "_lagnet_test_deps.pth").write_text(Path(deps).as_posix() + "\n")
    return env_dir


@pytest.mark.slow
def test_wheel_installs_its_own_copy(installed):
    probe = (
        "import importlib.metadata as md, pathlib, lagnet\n"
        "print(pathlib.Path(lagnet.__file__).resolve())\n"
        "print(lagnet.__version__)\n"
        "print((pathlib.Path(lagnet.__file__).parent / 'py.typed').is_file())\n"
        "print(pathlib.Path(md.distribution('lagnet').locate_file('')).resolve())\n"
    )
    out = _run([installed / "bin" / "python", "-c", probe], cwd=installed).stdout.split("\n")
    module, version, typed, dist_info = out[:4]
    env_dir = installed.resolve()
    assert Path(module).is_relative_to(env_dir), f"lagnet imported from {module}, not the wheel"
    assert not Path(module).is_relative_to(ROOT / "src")
    assert Path(dist_info).is_relative_to(env_dir), f"lagnet's metadata came from {dist_info}"
    assert version == "0.1.0"
    assert typed == "True", "py.typed is not installed beside lagnet/__init__.py"


@pytest.mark.slow
def test_wheel_cli_help(installed):
    out = _run([installed / "bin" / "lagnet", "--help"], cwd=installed).stdout
    # A command's row: its name first (after rich's box border, if any), then its help.
    missing = [c for c in COMMANDS if not re.search(rf"^\W*{c}\s{{2,}}\S", out, re.M)]
    assert not missing, f"`lagnet --help` does not list {missing}:\n{out}"


@pytest.mark.slow
def test_wheel_trains(installed, tmp_path):
    run_dir = tmp_path / "run"
    _run([installed / "bin" / "lagnet", "train", *TINY_TRAIN, "--out", run_dir], tmp_path)
    assert (run_dir / "metrics.json").is_file()
    assert (run_dir / "report.html").is_file()


@pytest.mark.parametrize("args", [("check",), ("format", "--check")], ids=["check", "format"])
def test_ruff(args):
    """The tree is lint-clean and formatted (the config is pyproject.toml's [tool.ruff])."""
    if importlib.util.find_spec("ruff") is None:
        pytest.fail(
            "ruff is not installed: it is in pyproject.toml's test extra (run scripts/venv.sh)"
        )
    proc = subprocess.run(
        [sys.executable, "-m", "ruff", *args, "--no-cache", *LINTED],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, (
        f"ruff {' '.join(args)} found problems (fix with `ruff check --fix` / `ruff format`):\n"
        f"{proc.stdout[-6000:]}{proc.stderr[-2000:]}"
    )
