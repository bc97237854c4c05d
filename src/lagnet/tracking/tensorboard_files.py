"""TensorBoard event files for a lagnet run: :class:`TensorBoardTracker` (made by
:func:`lagnet.tracking.make_tracker`). Written with tensorboardX, a small pure-Python writer
(numpy and protobuf), so neither TensorFlow nor PyTorch is needed; an optional extra
(``pip install "lagnet[tensorboard]"``), imported only when a tracker is made. Read the files
with ``tensorboard --logdir runs/tensorboard``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lagnet.config import RunConfig, config_to_toml
from lagnet.errors import LagnetError
from lagnet.files import check_parents, missing_folders, remove_empty
from lagnet.rundir import check_writable
from lagnet.runs import Run
from lagnet.tracking.names import final_metrics, run_status

DEFAULT_LOGDIR = "runs/tensorboard"


class TensorBoardTracker:
    """One directory of event files per run under ``logdir`` (``LAGNET_TENSORBOARD_DIR``, else
    ``runs/tensorboard``; under the parent's directory when nested): the config as text,
    every number of each validation as a scalar ``history/<name>`` at its step (the columns
    of history.csv, and more), and the final
    metrics as scalars (``test/mse``, ``baselines/memoryless/r2``, …) at the last step."""

    def __init__(self, parent: str | None = None, logdir: str | os.PathLike | None = None):
        _tensorboardx()
        self.parent = parent
        where = logdir or os.environ.get("LAGNET_TENSORBOARD_DIR") or DEFAULT_LOGDIR
        # the setting as the user wrote it (the default: named by the variable that moves it)
        self.setting = ("uri" if logdir else "LAGNET_TENSORBOARD_DIR", str(where))
        self.uri = str(Path(where).resolve())
        self.run_dir: Path | None = None  # the open run's directory
        self.last_run_id: str | None = None  # the last run's directory, as text
        self._writer = None

    def __getstate__(self) -> dict:
        return dict(self.__dict__, _writer=None)

    def describe(self) -> str:
        """Where the last run went, in words."""
        return f"TensorBoard files in {self.last_run_id}"

    def check(self) -> None:
        """Refuse, in one line naming the setting and its value, a log directory that cannot
        be made (under a file, or where nothing may be written), before anything trains."""
        field, given = self.setting
        check_parents(given, field)
        if Path(self.uri).exists() and not Path(self.uri).is_dir():
            raise LagnetError(field, given, "exists and is not a folder")
        check_writable(given, field)

    def start(
        self, cfg: RunConfig | None = None, name: str | None = None, tags: dict | None = None
    ) -> str:
        """Open a run directory named ``name`` (default ``cfg.name``; ``-2``, ``-3``, … added
        when taken) and write the config, and ``tags`` as a text entry. Returns the
        directory."""
        from tensorboardX import SummaryWriter

        base = Path(self.uri) / self.parent if self.parent else Path(self.uri)
        self.run_dir = _free(base / safe_name(name or (cfg.name if cfg is not None else "run")))
        self._made = missing_folders(self.run_dir)
        self._writer = SummaryWriter(str(self.run_dir))
        if cfg is not None:
            self._writer.add_text("config", _code(config_to_toml(cfg)), 0)
        if tags:
            self._writer.add_text("tags", _code("\n".join(f"{k} = {v}" for k, v in tags.items())))
        self.last_run_id = str(self.run_dir)
        return self.last_run_id

    def __call__(self, row: dict) -> None:
        """One validation: every number of the row, at ``row["step"]``."""
        step = int(row["step"])
        for k, v in row.items():
            if k != "step" and isinstance(v, (int, float)) and not isinstance(v, bool):
                self._open().add_scalar(f"history/{k}", float(v), step)

    def finish(self, result: Run) -> None:
        """The final metrics (metrics.json's numbers, ``.`` as ``/``) and the verdict; close
        (status KILLED when Ctrl-C or SIGTERM stopped training, else FINISHED)."""
        writer, step = self._open(), int(result.metrics["train"]["steps"])
        for k, v in final_metrics(result.metrics).items():
            writer.add_scalar(k.replace(".", "/"), v, step)
        headline = (result.metrics.get("verdict") or {}).get("headline")
        if headline:
            writer.add_text("verdict", headline, step)
        self.end(run_status(result))

    def end(self, status: str = "FINISHED") -> None:
        """Close the open run's files, with ``status`` (FINISHED, FAILED, KILLED) as the text
        entry ``status`` (event files have no status of their own)."""
        if self._writer is not None:
            self._writer.add_text("status", status)
            self._writer.close()
        self._writer, self.run_dir = None, None

    def discard(self) -> None:
        """Remove the open run's directory: bad input refused before its first validation."""
        if self._writer is not None:
            run_dir = self.run_dir
            self._writer.close()
            self._writer, self.run_dir = None, None
            shutil.rmtree(run_dir, ignore_errors=True)
            remove_empty(self._made[1:])  # and the folders it made (runs/tensorboard)

    @contextmanager
    def parent_run(
        self,
        name: str,
        cfg: RunConfig | None = None,
        *,
        reopen: str | None = None,
        params: dict[str, str] | None = None,
    ) -> Iterator[str]:
        """A directory for the block's runs (started by this tracker or its :meth:`child`
        trackers), made now; yields its name relative to ``logdir``. ``name`` (spaces as
        ``-``) gets ``-2``, ``-3``, … when taken, so a new sweep never mixes with an old one;
        ``reopen``: the directory to go on with (a resumed sweep's), when it is still there.
        ``params``: not kept (a sweep's spec is logged as text by :meth:`log_files`)."""
        outer = self.parent
        if reopen is not None and (Path(self.uri) / reopen).is_dir():
            self.parent = reopen
        else:
            base = Path(self.uri) / outer if outer else Path(self.uri)
            made = _free(base / safe_name(name))
            made.mkdir(parents=True)
            self.parent = str(made.relative_to(self.uri))
        try:
            yield self.parent
        finally:
            self.parent = outer

    def log_files(self, run_id: str, paths: list[Path]) -> None:
        """The text files of ``paths`` (Markdown, TOML) as text entries, named by file, in
        the run directory ``run_id`` (relative to ``logdir``: a sweep's parent)."""
        from tensorboardX import SummaryWriter

        texts = [p for p in paths if p.is_file() and p.suffix in (".md", ".toml")]
        if not texts:
            return
        with SummaryWriter(str(Path(self.uri) / run_id)) as writer:
            for p in texts:
                text = p.read_text()
                writer.add_text(p.stem, text if p.suffix == ".md" else _code(text))

    def child(self) -> TensorBoardTracker:
        """A fresh tracker on the same log directory, nested under this one's parent."""
        return TensorBoardTracker(parent=self.parent, logdir=self.uri)

    def _open(self):
        if self._writer is None:
            raise RuntimeError("the tracker has no open run: call start(cfg) first")
        return self._writer


def safe_name(name: str) -> str:
    """A directory name without spaces (``sweep t1`` -> ``sweep-t1``): a TensorBoard run's
    name, typed in shells and URLs."""
    return "-".join(str(name).split()) or "run"


def _code(text: str) -> str:
    """Text shown as code: TensorBoard's text plugin reads Markdown (four-space indent)."""
    return "\n".join("    " + line for line in text.splitlines())


def _free(path: Path) -> Path:
    """``path``, or ``path-2``, ``path-3``, … when it exists (runs never share files)."""
    candidate, i = path, 1
    while candidate.exists():
        i += 1
        candidate = path.with_name(f"{path.name}-{i}")
    return candidate


def _tensorboardx():
    try:
        import tensorboardX
    except ImportError:
        raise LagnetError(
            "track",
            "tensorboard",
            'tensorboardX is not installed: pip install "lagnet[tensorboard]"',
        ) from None
    return tensorboardX
