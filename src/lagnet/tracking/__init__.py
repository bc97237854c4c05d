"""Experiment tracking: one MLflow run, or one directory of TensorBoard event files, per lagnet
run.

A tracker is a training callback (it receives one row a validation: step, seconds, lr, loss,
val_mse, val_r2, planned, steps_per_s) with hooks on either side of training::

    tracker = make_tracker("mlflow")       # None for no tracking; a bad name is refused here
    tracker.start(cfg, "ar1")              # a run; parameters = the resolved config, dotted
    result = run(cfg, out, callbacks=[tracker])   # metrics at each validation, step=step
    tracker.finish(result)                 # final metrics; report, config, metrics, plots

(:func:`tracked_run` is those three lines; it marks the run KILLED when Ctrl-C or SIGTERM
stopped training, FAILED when training raises.) A sweep opens a parent run and nests each point's run under it::

    sweep = make_tracker("mlflow")
    with sweep.parent_run("my-sweep") as parent_id:   # parent_id: a string that travels
        point = make_tracker("mlflow", parent=parent_id, uri=sweep.uri)   # or sweep.child()

The store is MLflow's own choice — ``MLFLOW_TRACKING_URI`` when set, else MLflow's default
(``sqlite:///mlflow.db`` in the working directory for MLflow 3) — resolved to an absolute
URI and checked when the tracker is made (:mod:`lagnet.tracking.mlflow_store`), so a worker
in another directory writes to the same store and a bad one is refused before training. The
experiment is ``experiment=`` or ``MLFLOW_EXPERIMENT_NAME`` / ``MLFLOW_EXPERIMENT_ID``, else
MLflow's default one. A tracker holds only strings between runs, so it pickles.

``make_tracker("tensorboard")`` writes event files instead, one directory per run under
``runs/tensorboard`` (or ``LAGNET_TENSORBOARD_DIR``); the same hooks, and a parent run is a
directory (:mod:`lagnet.tracking.tensorboard_files`).

What is logged is the same for both (:mod:`lagnet.tracking.names`). MLflow and tensorboardX
are optional extras (``pip install "lagnet[mlflow]"``, ``"lagnet[tensorboard]"``) imported
only when a tracker is made: ``import lagnet`` stays fast.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Union

from lagnet.config import RunConfig
from lagnet.errors import LagnetError
from lagnet.processes import Process
from lagnet.runs import Run, run
from lagnet.samples import Callback
from lagnet.tracking.mlflow_runs import MlflowTracker
from lagnet.tracking.names import config_params, final_metrics, flatten
from lagnet.tracking.tensorboard_files import TensorBoardTracker

__all__ = [
    "TRACKERS",
    "MlflowTracker",
    "TensorBoardTracker",
    "Tracker",
    "config_params",
    "final_metrics",
    "flatten",
    "make_tracker",
    "tracked_run",
]

TRACKERS = ("mlflow", "tensorboard")
Tracker = Union[MlflowTracker, TensorBoardTracker]


def make_tracker(
    kind: str | None,
    *,
    parent: str | None = None,
    uri: str | None = None,
    experiment: str | None = None,
) -> Tracker | None:
    """The tracker called ``kind`` (``"mlflow"`` or ``"tensorboard"``), or None for
    ``None``/``"none"``. ``parent``: the run to nest this one under (a sweep's: an MLflow run
    id, or a TensorBoard subdirectory); ``uri``: where to write (an MLflow tracking URI,
    default MLflow's own with ``MLFLOW_TRACKING_URI`` first; or TensorBoard's log
    directory); ``experiment``: the MLflow experiment's name. The store and the experiment
    are checked here: one that cannot take a run (a server that does not answer, a SQLite
    file under a file, a deleted experiment) is a :class:`~lagnet.errors.LagnetError` naming
    the setting (``MLFLOW_TRACKING_URI``, ``LAGNET_TENSORBOARD_DIR``, …) and its value, in
    seconds."""
    if kind is None or kind == "none":
        return None
    if kind == "mlflow":
        tracker = MlflowTracker(parent=parent, uri=uri, experiment=experiment)
    elif kind == "tensorboard":
        if experiment is not None:
            raise LagnetError("experiment", experiment, "an MLflow setting; not for tensorboard")
        tracker = TensorBoardTracker(parent=parent, logdir=uri)
    else:
        raise LagnetError("track", kind, f"unknown tracker; one of: {', '.join(TRACKERS)}, none")
    tracker.check()  # a store that cannot take the run: one line now, not after training
    return tracker


def tracked_run(
    tracker: Tracker | None,
    config: RunConfig,
    out: str | Path | None = None,
    callbacks: Iterable[Callback] = (),
    process: Process | None = None,
    name: str | None = None,
    resume: bool = False,
    started: Callable[[], None] | None = None,
) -> Run:
    """:func:`lagnet.runs.run` under a tracker (or plainly, when ``tracker`` is None): its
    run opens once the input is accepted (then ``started`` is called), sees every validation
    and closes with the result: FINISHED, or KILLED when Ctrl-C or SIGTERM stopped training
    (the run returns, with the best weights so far); FAILED on any error, which propagates.
    Input refused before the first validation leaves no tracked run (one opened is
    discarded, for good where the store allows). A resumed run (``resume``) is a new tracked
    run."""
    more = {"resume": True} if resume else {}  # run() takes resume= since checkpoints
    if tracker is None:
        return run(config, out, callbacks, process=process, started=started, **more)
    rows = []

    def begin() -> None:
        tracker.start(config, name or (Path(out).name if out is not None else None))
        if started is not None:
            started()

    watched = [*callbacks, tracker, rows.append]
    try:
        result = run(config, out, watched, process=process, started=begin, **more)
    except KeyboardInterrupt:
        tracker.end("KILLED")  # nothing to end when no run was opened
        raise
    except LagnetError:
        if rows or resume:
            tracker.end("FAILED")
        else:
            tracker.discard()
        raise
    except BaseException:
        tracker.end("FAILED")
        raise
    tracker.finish(result)
    return result
