"""The MLflow store behind a tracker, checked before anything trains: a server that does not
answer, a SQLite file that cannot be made, a plain path (MLflow 3's file store), or an
experiment that is missing or deleted is one line naming the setting and its value — in
seconds, not after MLflow's retries (minutes). Also: MLflow's own INFO logging kept off the
terminal, and a discarded run removed for good."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lagnet.errors import LagnetError
from lagnet.files import check_parents
from lagnet.rundir import check_writable

# The check only: a server that cannot be reached fails at once (MLflow's own defaults are 7
# retries with backoff and a 120 s timeout; a refused connection took 4 min 16 s).
CHECK_ENV = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "5"}
FILE_STORE = "MLFLOW_ALLOW_FILE_STORE"


def quiet_logs() -> None:
    """MLflow says "Creating initial MLflow database tables..." at INFO when it makes a SQL
    store (and alembic its migrations): on stderr, before lagnet's own lines."""
    for name in ("mlflow.store.db.utils", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)


def sqlite_path(uri: str) -> Path | None:
    """The file of a ``sqlite:///`` URI (None for any other store, or SQLite in memory)."""
    if not uri.startswith("sqlite:///"):
        return None
    path = uri.removeprefix("sqlite:///").split("?")[0]
    return Path(path) if path and path != ":memory:" else None


def check_store(uri: str, field: str, given: str) -> bool:
    """Raise unless a run can be written to the store at (absolute) ``uri``; ``field`` and
    ``given`` name the setting as the user wrote it. False when the store is a SQLite file
    not made yet (then nothing is opened, so nothing is written)."""
    if uri.startswith("file:") and os.environ.get(FILE_STORE, "").lower() not in ("1", "true"):
        raise LagnetError(
            field,
            given,
            "a folder is MLflow's file store, which MLflow 3 refuses: use a SQLite file, "
            f"e.g. sqlite:///{Path(given.removeprefix('file://')).name or 'mlflow'}.db "
            f"(or set {FILE_STORE}=true)",
        )
    path = sqlite_path(uri)
    if path is None:
        return True
    try:
        check_parents(path, field)
        if path.is_dir():
            raise LagnetError(field, given, f"{path} is a folder, not a SQLite file")
        if path.exists():
            return True
        check_writable(path.parent, field)
    except LagnetError as e:  # named as the user wrote it
        raise LagnetError(field, given, e.reason) from None
    return False


def open_error(err: Exception, field: str, given: str) -> LagnetError:
    """MLflow's error on opening the store, in one line."""
    text = str(err)
    cause = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", text)
    if cause or "timed out" in text.lower():
        return LagnetError(
            field,
            given,
            f"no MLflow server answers there ({cause.group(1) if cause else 'timed out'})",
        )
    line = text.strip().splitlines()[0] if text.strip() else type(err).__name__
    return LagnetError(field, given, f"cannot be used: {line[:240]}")


@contextmanager
def quick_http() -> Iterator[None]:
    """MLflow's HTTP retries and timeout cut to fail at once (see ``CHECK_ENV``), for the
    block; restored after."""
    kept = {k: os.environ.get(k) for k in CHECK_ENV}
    os.environ.update(CHECK_ENV)
    try:
        yield
    finally:
        for k, v in kept.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def check_experiment(client, name: tuple[str, str] | None, exp_id: tuple[str, str]) -> None:
    """Raise unless the experiment can take runs. ``name``: (field, name) when one is named
    (made if missing); else ``exp_id``: (field, id). ``client`` is None for a store not made
    yet (it will hold only the default experiment, "0")."""
    from mlflow.exceptions import MlflowException

    if name is not None:
        field, value = name
        found = client.get_experiment_by_name(value) if client is not None else None
    else:
        field, value = exp_id
        if client is None:
            if value != "0":
                why = "must be a whole number" if not value.isdigit() else "no such experiment"
                raise LagnetError(field, value, f"{why} (the store is new: it holds only 0)")
            return
        try:
            found = client.get_experiment(value)
        except MlflowException as e:
            raise LagnetError(field, value, str(e).strip().splitlines()[0][:240]) from None
    if found is not None and found.lifecycle_stage == "deleted":
        raise LagnetError(
            field,
            value,
            f"the experiment (id {found.experiment_id}) is deleted: restore it with "
            f"`mlflow experiments restore --experiment-id {found.experiment_id}`, or choose "
            "another",
        )


def remove_for_good(client, run_id: str, made_experiment: str | None) -> None:
    """Remove a deleted run from the store, and the experiment made for it when it holds no
    other run. A SQL store (SQLite, PostgreSQL, …) can; a server (``http://``) cannot — its
    run stays deleted until ``mlflow gc``, its experiment stays (deleting it would hold its
    name)."""
    from mlflow.entities import ViewType

    store = getattr(getattr(client, "_tracking_client", None), "store", None)
    if not hasattr(store, "_hard_delete_run"):
        return
    # the one line the user needs is the error being raised: a store that cannot be tidied
    # (a private API of MLflow's, used by `mlflow gc`) leaves the run deleted, no more
    try:
        store._hard_delete_run(run_id)
        if made_experiment is not None and not client.search_runs(
            [made_experiment], run_view_type=ViewType.ALL, max_results=1
        ):
            client.delete_experiment(made_experiment)
            store._hard_delete_experiment(made_experiment)
    except Exception:  # noqa: BLE001
        pass
