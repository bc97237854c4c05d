"""One MLflow run per lagnet run: :class:`MlflowTracker` (made by
:func:`lagnet.tracking.make_tracker`, where the hooks and the store are described).

MLflow is an optional extra (``pip install "lagnet[mlflow]"``), imported only when a tracker
is made.
"""

from __future__ import annotations

import os
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from lagnet.config import RunConfig
from lagnet.errors import LagnetError
from lagnet.runs import Run
from lagnet.tracking.mlflow_store import (
    check_experiment,
    check_store,
    open_error,
    quick_http,
    quiet_logs,
    remove_for_good,
)
from lagnet.tracking.names import config_params, final_metrics, run_status

ARTEFACTS = ("report.html", "config.toml", "metrics.json", "history.csv")


class MlflowTracker:
    """Logs one lagnet run as one MLflow run (see :mod:`lagnet.tracking`). Made by
    :func:`~lagnet.tracking.make_tracker`; one run at a time, and it can be used again for
    the next."""

    def __init__(
        self, parent: str | None = None, uri: str | None = None, experiment: str | None = None
    ):
        mlflow = _mlflow()
        self.parent = parent
        given = uri or mlflow.get_tracking_uri()
        # the setting as the user wrote it, for one-line errors
        self.setting = ("uri" if uri else "MLFLOW_TRACKING_URI", given)
        self.uri = _absolute(given)
        self.experiment = experiment
        self.run_id: str | None = None  # the open run
        self.last_run_id: str | None = None  # the last run started
        self._logged_params: set[str] = set()
        self._made_experiment: str | None = None  # made by the open run's start
        self._client = None

    def __getstate__(self) -> dict:
        return dict(self.__dict__, _client=None)  # the client holds a connection: make anew

    def describe(self) -> str:
        """Where the last run went, in words."""
        return f"MLflow run {self.last_run_id} in {self.uri}"

    # ------------------------------------------------------------------------- store
    @property
    def client(self):
        if self._client is None:
            from mlflow.tracking import MlflowClient

            quiet_logs()
            with warnings.catch_warnings():
                # MLflow's SQL store uses a SQLAlchemy loader that SQLAlchemy 2.1 deprecates:
                # theirs to fix, and nothing a lagnet user can act on.
                warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"mlflow\.")
                client = MlflowClient(tracking_uri=self.uri)
                client.search_experiments(max_results=1)  # open the store now
            self._client = client
        return self._client

    def check(self) -> None:
        """Refuse, in one line naming the setting (``MLFLOW_TRACKING_URI``,
        ``MLFLOW_EXPERIMENT_NAME``, ``MLFLOW_EXPERIMENT_ID``, or ``uri=`` / ``experiment=``)
        and its value, a store or experiment a run cannot use: in seconds, before anything
        trains, and writing nothing (a SQLite file not made yet is not made here)."""
        field, given = self.setting
        name = self.experiment or os.environ.get("MLFLOW_EXPERIMENT_NAME")
        named = None
        if name is not None:
            named = ("experiment" if self.experiment else "MLFLOW_EXPERIMENT_NAME", name)
        exp_id = ("MLFLOW_EXPERIMENT_ID", os.environ.get("MLFLOW_EXPERIMENT_ID", "0"))
        if not check_store(self.uri, field, given):
            return check_experiment(None, named, exp_id)
        try:
            with quick_http():
                client = self.client
                check_experiment(client, named, exp_id)
        except LagnetError:
            raise
        except Exception as e:  # MLflow's, SQLAlchemy's or the OS's: the store's fault
            self._client = None
            raise open_error(e, field, given) from None

    def experiment_id(self) -> str:
        """The experiment's id: ``experiment=`` or the MLflow environment's, created when
        named and missing; else MLflow's default experiment ("0")."""
        name = self.experiment or os.environ.get("MLFLOW_EXPERIMENT_NAME")
        if name is None:
            return os.environ.get("MLFLOW_EXPERIMENT_ID", "0")
        found = self.client.get_experiment_by_name(name)
        if found:
            return found.experiment_id
        self._made_experiment = self.client.create_experiment(name)
        return self._made_experiment

    # ------------------------------------------------------------------------- one run
    def start(
        self, cfg: RunConfig | None = None, name: str | None = None, tags: dict | None = None
    ) -> str:
        """Open a run named ``name`` (default ``cfg.name``) with the config as parameters
        and ``tags`` (text by name); nested under ``self.parent`` when set. Returns the
        MLflow run id."""
        tags = {"lagnet.version": _version(), **{k: str(v) for k, v in (tags or {}).items()}}
        if self.parent:
            tags["mlflow.parentRunId"] = self.parent
        name = name or (cfg.name if cfg is not None else "run")
        self._made_experiment = None
        self.run_id = self.client.create_run(
            self.experiment_id(), run_name=name, tags=tags
        ).info.run_id
        self.last_run_id = self.run_id
        self._logged_params = set()
        if cfg is not None:
            self.log_params(cfg)
        return self.run_id

    def log_params(self, cfg: RunConfig) -> None:
        """The config's settings not logged yet (MLflow parameters cannot change; the run
        adds what it resolves, such as ``target.inputs``)."""
        new = {k: v for k, v in config_params(cfg).items() if k not in self._logged_params}
        self._log_params(self._open(), new)
        self._logged_params.update(new)

    def __call__(self, row: dict) -> None:
        """One validation: every number of the row, at ``step=row["step"]``."""
        step = int(row["step"])
        values = {k: v for k, v in row.items() if k != "step"}
        self.log_metrics(values, step)

    def log_metrics(self, values: dict[str, Any], step: int = 0) -> None:
        """Numbers by name at ``step`` (non-numbers and None are skipped)."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        batch = [
            Metric(k, float(v), now, step)
            for k, v in values.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)
        ]
        for i in range(0, len(batch), 1000):
            self.client.log_batch(self._open(), metrics=batch[i : i + 1000])

    def finish(self, result: Run) -> None:
        """Final metrics (flattened metrics.json), the verdict as a tag, and the report,
        config.toml, metrics.json, history.csv and plots/ as artefacts; then close the run:
        KILLED when Ctrl-C or SIGTERM stopped it (its files are the best weights so far),
        else FINISHED. A run not saved to a directory is saved to a temporary one for its
        artefacts."""
        run_id = self._open()
        self.log_params(result.config)
        self.log_metrics(final_metrics(result.metrics), step=int(result.metrics["train"]["steps"]))
        headline = (result.metrics.get("verdict") or {}).get("headline")
        if headline:
            self.client.set_tag(run_id, "lagnet.verdict", headline)
        if result.path is not None:
            self.client.set_tag(run_id, "lagnet.run_dir", str(result.path))
            self._log_directory(Path(result.path))
        else:
            with tempfile.TemporaryDirectory(prefix="lagnet-track-") as tmp:
                kept = result.path
                try:
                    self._log_directory(result.save(Path(tmp) / "run"))
                finally:
                    result.path = kept
        self.end(run_status(result))

    def end(self, status: str = "FINISHED") -> None:
        """Close the open run with an MLflow status (FINISHED, FAILED, KILLED)."""
        if self.run_id is not None:
            self.client.set_terminated(self.run_id, status)
            self.run_id = None

    def discard(self) -> None:
        """Delete the open run, for good where the store allows (a SQL store: see
        :func:`~lagnet.tracking.mlflow_store.remove_for_good`), and the experiment its
        start made if it holds no other run: bad input refused before its first
        validation."""
        if self.run_id is not None:
            run_id, self.run_id = self.run_id, None
            self.client.set_terminated(run_id, "FAILED")
            self.client.delete_run(run_id)
            remove_for_good(self.client, run_id, self._made_experiment)

    # ------------------------------------------------------------------------- sweeps
    @contextmanager
    def parent_run(
        self,
        name: str,
        cfg: RunConfig | None = None,
        *,
        reopen: str | None = None,
        params: dict[str, str] | None = None,
    ) -> Iterator[str]:
        """Open a parent run for the block and yield its id. Runs this tracker (or
        :meth:`child` trackers) start inside the block nest under it; it is closed FINISHED,
        or FAILED / KILLED if the block raises. ``reopen``: a parent run to go on with (a
        resumed sweep's), when the store still holds it in this experiment; ``params``:
        logged when a new parent run is opened (parameters cannot change)."""
        outer, outer_parent = self.run_id, self.parent
        if reopen is not None and self._reopenable(reopen):
            self.client.update_run(reopen, status="RUNNING")
            parent_id = reopen
        else:
            parent_id = self.start(cfg, name)
            self._log_params(parent_id, params or {})
        self.run_id, self.parent = outer, parent_id
        status = "FINISHED"
        try:
            yield parent_id
        except KeyboardInterrupt:
            status = "KILLED"
            raise
        except BaseException:
            status = "FAILED"
            raise
        finally:
            self.client.set_terminated(parent_id, status)
            self.parent = outer_parent

    def log_files(self, run_id: str, paths: list[Path]) -> None:
        """Files (and folders, under their name) as artefacts of the run ``run_id``; those
        that do not exist are skipped. A file logged again replaces the earlier one."""
        for path in paths:
            if path.is_file():
                self.client.log_artifact(run_id, str(path))
            elif path.is_dir():
                self.client.log_artifacts(run_id, str(path), path.name)

    def _reopenable(self, run_id: str) -> bool:
        from mlflow.exceptions import MlflowException

        try:
            held = self.client.get_run(run_id).info
        except MlflowException:  # gone from the store
            return False
        return held.lifecycle_stage == "active" and held.experiment_id == self.experiment_id()

    def _log_params(self, run_id: str, params: dict[str, str]) -> None:
        from mlflow.entities import Param

        batch = [Param(k, str(v)[:6000]) for k, v in params.items()]  # MLflow's longest
        for i in range(0, len(batch), 100):  # MLflow takes at most 100 a batch
            self.client.log_batch(run_id, params=batch[i : i + 100])

    def child(self) -> MlflowTracker:
        """A fresh tracker on the same store and experiment, nested under this one's parent."""
        return MlflowTracker(parent=self.parent, uri=self.uri, experiment=self.experiment)

    # ------------------------------------------------------------------------- helpers
    def _open(self) -> str:
        if self.run_id is None:
            raise RuntimeError("the tracker has no open run: call start(cfg) first")
        return self.run_id

    def _log_directory(self, directory: Path) -> None:
        for name in ARTEFACTS:
            if (directory / name).is_file():
                self.client.log_artifact(self.run_id, str(directory / name))
        if (directory / "plots").is_dir():
            self.client.log_artifacts(self.run_id, str(directory / "plots"), "plots")


def _version() -> str:
    try:
        return version("lagnet")
    except PackageNotFoundError:  # a source tree never installed
        return "0+unknown"


def _mlflow():
    try:
        import mlflow
    except ImportError:
        raise LagnetError(
            "track", "mlflow", 'MLflow is not installed: pip install "lagnet[mlflow]"'
        ) from None
    return mlflow


def _absolute(uri: str) -> str:
    """A relative SQLite or plain-path store as an absolute one (MLflow's default is
    ``sqlite:///mlflow.db``, relative to the working directory)."""
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        return "sqlite:///" + str(Path(uri.removeprefix("sqlite:///")).resolve())
    if "://" not in uri and not uri.startswith("databricks"):
        return Path(uri).resolve().as_uri()
    return uri
