"""The one pipeline: ``run(config) -> Run``. The CLI, the Python API and (later) sweeps call it.

A run directory holds everything needed to look at a result again without retraining:

    config.toml         the fully resolved config (``lagnet train config.toml`` reproduces it)
    metrics.json        test metrics, baselines, per-step errors, long horizon, verdict
    history.csv         step, seconds, lr, loss, val_mse, val_r2 at each validation
    model.safetensors   weights (+ model.json: structure and scalings' shapes)
    predictions.npz     a sample of test paths with truth, prediction and baseline
    plots/*.png         the five standard plots
    report.html         one self-contained page

It is written under a temporary name and renamed at the end, so a crash never leaves a
half-written directory that looks complete.
"""

from __future__ import annotations

import csv
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from threading import Event

import jax
import jax.numpy as jnp
import numpy as np

from lagnet.checkpoint import json_object, load_model, npz_arrays, read_file, save_model
from lagnet.compiling import one_compilation_at_a_time
from lagnet.config import RunConfig, config_to_toml, load_config
from lagnet.errors import LagnetError
from lagnet.evaluation import TestSet, baseline_lags, evaluate, prepare_test, verdict
from lagnet.files import atomic_write, write_json, write_text
from lagnet.fitting import fit
from lagnet.models import Normalised, count_parameters, predict
from lagnet.notebook import run_html
from lagnet.plots import read_history, save_plots
from lagnet.processes import Process
from lagnet.report import write_report
from lagnet.rundir import (
    STATUS,
    RunDirectory,
    check_out_dir,
    interrupt_on_sigterm,
    owned,
    unfinished,
)
from lagnet.samples import HISTORY_COLUMNS, Callback, check_target
from lagnet.settings import FLOAT32_MAX
from lagnet.tasks import build_task, with_inputs


def enable_compilation_cache() -> None:
    """Keep compiled train steps on disk (JAX's persistent cache, in ``$XDG_CACHE_HOME/lagnet``
    or ``~/.cache/lagnet``), so a second run of the same shapes skips compilation: measured
    8.3 s → 4.7 s before the first validation of the default GRU on 2 cores. ``LAGNET_CACHE=0``
    turns it off; a cache directory the user configured for JAX is left alone.

    The cache only saves time, so when it cannot be written (a full disk) or an entry cannot be
    read (one cut short by a full disk), the run goes on without it and says nothing: JAX's
    warning on each compilation would bury lagnet's own messages."""
    if os.environ.get("LAGNET_CACHE", "1") == "0":
        return
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    ours = base / "lagnet" / "jax"
    if jax.config.jax_compilation_cache_dir:
        if jax.config.jax_compilation_cache_dir == str(ours):  # turned on by an earlier run
            quiet_cache_warnings()  # again: the warning filters may have been reset since
        return
    try:
        ours.mkdir(parents=True, exist_ok=True)
    except OSError:  # a read-only home: run without the cache
        return
    quiet_cache_warnings()
    jax.config.update("jax_compilation_cache_dir", str(ours))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)


def quiet_cache_warnings() -> None:
    """Say nothing when a compilation cache entry cannot be written or read (JAX warns)."""
    warnings.filterwarnings(
        "ignore", "Error (reading|writing) persistent compilation cache entry", UserWarning
    )


@contextmanager
def on_device(name: str):
    """Run under ``auto`` (JAX's default backend), ``cpu`` or ``gpu``."""
    if name == "auto":
        yield
        return
    try:
        devices = jax.devices("cuda" if name == "gpu" else "cpu")
    except RuntimeError:
        raise LagnetError("device", name, "no such device on this machine") from None
    with jax.default_device(devices[0]):
        yield


@dataclass
class Run:
    """A trained model with its config, metrics and history."""

    config: RunConfig
    model: Normalised
    metrics: dict
    history: dict[str, list] = field(default_factory=dict)
    predictions: dict = field(default_factory=dict)
    path: Path | None = None

    def __repr__(self) -> str:
        """A line, not the arrays (printing a run dumped 15 000 characters of predictions)."""
        train, test = self.metrics.get("train") or {}, self.metrics.get("test") or {}

        def num(v):
            return "None" if v is None else f"{v:.5f}"

        return (
            f"Run(path={str(self.path) if self.path else None!r}, model={self.config.model.kind},"
            f" target={self.config.target.formula!r}, steps={train.get('steps')}, "
            f"test_r2={num(test.get('r2'))}, memory_r2={num(test.get('memory_r2'))})"
        )

    def predict(self, x) -> np.ndarray:
        """Predict on inputs in the user's units: x (N, L) for one input series or (N, L, C).
        Returns (N, L) for a single output from (N, L) input, else (N, L, O)."""
        x, squeeze = model_inputs(x, int(self.model.x_mean.shape[0]))
        y = np.asarray(predict(self.model, jnp.asarray(x)))
        return y[..., 0] if squeeze and y.shape[2] == 1 else y

    def _repr_html_(self) -> str:  # Jupyter: verdict, metrics against baselines, key plots
        return run_html(self)

    def save(self, directory: str | Path, *, plots: bool = True) -> Path:
        """Write the run directory atomically. An existing run directory there is replaced;
        any other existing, non-empty directory is refused."""
        directory = check_out_dir(directory)
        directory.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it private; a run directory is not
        try:
            self.write_files(tmp, plots=plots)
            write_json(tmp / STATUS, dict(status="complete", updated=time.time()))
            if directory.exists():
                old = directory.with_name(f".{directory.name}.old-{os.getpid()}")
                os.replace(directory, old)
                os.replace(tmp, directory)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp, directory)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        self.path = directory
        return directory

    def write_files(self, directory: Path, *, plots: bool = True) -> None:
        """Write the run's files into ``directory``, each one atomically."""
        write_text(directory / "config.toml", config_to_toml(self.config))
        write_json(directory / "metrics.json", _json_safe(self.metrics))
        atomic_write(directory / "history.csv", lambda tmp: _write_history(tmp, self.history))
        save_model(
            self.model,
            self.config.model,
            directory,
            dict(inputs=list(self.config.target.inputs or ()), formula=self.config.target.formula),
            kind=(self.metrics.get("train") or {}).get("kind"),
        )
        if self.predictions:
            atomic_write(directory / "predictions.npz", lambda tmp: _savez(tmp, self.predictions))
        if plots:
            render(directory)
        self.path = directory


def _savez(path: Path, arrays: dict) -> None:
    with open(path, "wb") as f:
        np.savez_compressed(f, **arrays)


def render(directory: Path) -> None:
    """(Re)make plots/*.png and report.html from the files in a run directory."""
    save_plots(directory)
    write_report(directory)


def _json_safe(obj):
    """Metrics as strict JSON: NaN and ±inf (an undefined R², a run never validated) become null."""
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return float(obj) if np.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def _write_history(path: Path, history: dict[str, list]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(HISTORY_COLUMNS)
        for row in zip(*(history.get(c, []) for c in HISTORY_COLUMNS)):
            w.writerow(row)


def receptive_field(net) -> int | None:
    """Inputs the model sees at each step: a TCN's receptive field, a window model's window;
    None for a recurrence (unbounded)."""
    for name in ("receptive_field", "window"):
        value = getattr(net, name, None)
        if isinstance(value, int):
            return value
    return None


def run(
    config: RunConfig,
    out: str | Path | None = None,
    callbacks: Iterable[Callback] = (),
    process: Process | None = None,
    resume: bool = False,
    started: Callable[[], None] | None = None,
) -> Run:
    """Train, evaluate and (if ``out`` is given) write the run directory. ``process``: a ready
    process to use instead of building ``config.process`` (a ``CallableProcess``, which a
    config can only record). ``started``: called once the input is accepted (a target NaN or
    infinite on the paths is refused first), before the directory is made and the fit.

    With ``out``, the directory exists from the start (``status.json`` says ``running``), a
    gradient-trained run checkpoints into it, and Ctrl-C or SIGTERM stop training with a
    checkpoint, write the files of the best weights so far and mark it ``interrupted``:
    ``resume=True`` (``lagnet train --resume DIR``) goes on from the checkpoint. Input refused
    before the fit's first row of history (a reservoir drawn too sparse) leaves nothing
    behind, and a finished run it was to replace as it was."""
    if out is not None:
        check_out_dir(out, resume)  # a busy or foreign directory is refused first
    task = build_task(config, process=process)
    config = with_inputs(config, task)  # recorded as used, so config.toml reproduces them
    baseline_lags(task, config.eval, config.train.length)  # paths too short: refused first
    enable_compilation_cache()
    began = Event()  # set by the fit's first row of history
    # the test set is made beside the fit: their compilations take turns (see compiling.py)
    with (
        one_compilation_at_a_time(),
        ThreadPoolExecutor(1, thread_name_prefix="lagnet-test-set") as pool,
    ):
        # The test set and its baselines need no model: made while the target is checked and
        # the model trains (checked first, its compile would not overlap the test set's).
        test = pool.submit(_prepare_on, config.device, task, config.eval, config.train.length)
        with on_device(config.device):
            check_target(config, task)
        with interrupt_on_sigterm() as sig:  # from before the directory: SIGTERM finds it owned
            if started is not None:
                started()
            directory = RunDirectory.start(out, config, resume) if out is not None else None

            def first(_row) -> None:
                if not began.is_set():
                    began.set()
                    if directory is not None:
                        directory.began()  # the run this one replaces is gone for good

            # refused before it began (no row of history): nothing half-written is left
            unbegun = (lambda: not began.is_set()) if not resume else None
            with owned(directory, unbegun), on_device(config.device):
                ckpt = directory.checkpoint if directory is not None else None
                result = fit(config, task, [first, *callbacks], ckpt)
                stop, sig.deferred = sig.received, True  # the fit is done: its files are written
                return conclude(config, task, result, directory, stop, test.result())


def _prepare_on(device: str, task, cfg, length: int) -> TestSet:
    with on_device(device):  # JAX's default device is set per thread
        return prepare_test(task, cfg, length)


def conclude(
    config: RunConfig,
    task,
    result,
    directory: RunDirectory | None = None,
    signal: str | None = None,
    test: TestSet | None = None,
) -> Run:
    """Evaluate a fit on held-out paths (``test``: its test set, made already), assemble its
    metrics and verdict, and write its files into ``directory`` (marking it complete, or
    interrupted)."""
    t0 = time.perf_counter()
    ev = evaluate(result.model, task, config.eval, config.train.length, test=test)
    metrics = ev.metrics
    metrics["train"] = result.info
    if signal:
        metrics["train"]["signal"] = signal
    metrics["eval_seconds"] = time.perf_counter() - t0
    if test is not None:  # made beside the fit: the baselines' fits are most of it
        metrics["test_set_seconds"] = test.seconds
    metrics["model"] = dict(
        kind=config.model.kind,
        parameters=count_parameters(result.model.net),
        receptive_field=receptive_field(result.model.net),
    )
    metrics["device"] = str(jax.devices()[0].platform) if config.device == "auto" else config.device
    metrics["verdict"] = verdict(metrics)
    r = Run(
        config=config,
        model=result.model,
        metrics=metrics,
        history=result.history,
        predictions=ev.predictions,
    )
    if directory is not None:
        r.write_files(directory.path)
        interrupted = result.info.get("stopped") == "interrupted"
        directory.finish("interrupted" if interrupted else "complete", step=result.info["steps"])
    return r


def load(directory: str | Path) -> Run:
    """Load a run directory written by :meth:`Run.save`."""
    directory = Path(directory)
    unfinished(directory)
    for name in ("config.toml", "metrics.json", "model.json", "model.safetensors"):
        if not (directory / name).is_file():
            raise LagnetError("run_dir", str(directory), f"not a run directory (no {name})")
    config = load_config(directory / "config.toml")
    model, _ = load_model(directory)
    metrics = read_file(directory / "metrics.json", json_object)
    history = read_file(directory / "history.csv", read_history)
    history = {k: v.tolist() for k, v in history.items()}
    preds = {}
    if (directory / "predictions.npz").is_file():
        preds = read_file(directory / "predictions.npz", npz_arrays)
    return Run(
        config=config,
        model=model,
        metrics=metrics,
        history=history,
        predictions=preds,
        path=directory,
    )


def model_inputs(x, c_in: int) -> tuple[np.ndarray, bool]:
    """``x`` as (N, L, C) float32 for a model of ``c_in`` inputs, and whether it came as (N,
    L). Bad input is one line naming it: the shape as given, the first value that is not
    finite in float32 by its index (a NaN was 'x: NaN/inf'; 1e40 overflowed to inf), text or
    complex numbers (cast, or dropped the imaginary part without a word)."""
    a = np.asarray(x)
    if a.dtype.kind not in "biuf":
        hint = " (complex: give the real and imaginary parts as two inputs)"
        raise LagnetError(
            "x", f"dtype {a.dtype}", "expected real numbers" + hint * (a.dtype.kind == "c")
        )
    given, squeeze = a.shape, a.ndim == 2
    a = a[..., None] if squeeze else a
    if a.ndim != 3 or a.shape[2] != c_in:
        one = " (one path of L steps: x[None])" if len(given) == 2 and given[1] == c_in > 1 else ""
        expected = "(N, L) or (N, L, 1)" if c_in == 1 else f"(N, L, {c_in})"
        raise LagnetError("x", f"shape {given}", f"expected {expected}{one}")
    bad = ~(np.abs(a.astype(np.float64)) <= FLOAT32_MAX)  # NaN, inf, or beyond float32
    if bad.any():
        at = tuple(int(i) for i in np.argwhere(bad)[0])
        where = f"x[{at[0]}, {at[1]}]" if squeeze else f"x[{at[0]}, {at[1]}, {at[2]}]"
        raise LagnetError(where, float(a[at]), "inputs must be finite in float32")
    return a.astype(np.float32), squeeze


def default_run_dir(cfg: RunConfig) -> Path:
    """Where a run goes when no ``--out`` is given: ``runs/<name>-<date>-<time>``."""
    return Path("runs") / f"{cfg.name}-{time.strftime('%Y%m%d-%H%M%S')}"
