"""The training progress bar: a plain callback for the training loop (rich)."""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.text import Text

from lagnet.config import TrainConfig
from lagnet.errors import LagnetError


class _Headed(Progress):
    """A rich Progress drawing ``header`` (lines of text) above its bar."""

    header: tuple[Text, ...] | list[Text] = ()  # Live renders once in Progress.__init__

    def get_renderables(self):
        yield from self.header
        yield from super().get_renderables()


class ProgressBar:
    """Shows step, loss, validation R², steps/s and ETA. Use as a context manager, pass the
    instance as a callback to ``training.fit`` and its ``start`` as the run's ``started``.

    Lines given to :meth:`start` (what is trained, notes) are drawn with the bar and stay
    once the first validation row arrives; :meth:`discard` (input the fit refused before
    that) takes bar and lines away, so that the refusal is the one line left."""

    def __init__(self, cfg: TrainConfig, console: Console | None = None):
        self.progress = _Headed(
            TextColumn("[bold]train"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TextColumn("loss {task.fields[loss]}"),
            TextColumn("val R² {task.fields[r2]}"),
            TextColumn("{task.fields[speed]} steps/s"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console or Console(stderr=True),
            transient=False,
        )
        self.seen = False  # a validation row has come
        self.task = self.progress.add_task("train", total=cfg.steps, loss="-", r2="-", speed="-")

    def start(self, header: Iterable[str] = ()) -> None:
        """Draw the bar, under ``header``: lines of rich markup."""
        self.progress.header = [Text.from_markup(line) for line in header]
        self.progress.start()

    def _settle(self) -> None:
        """The header's lines printed for good, above the bar."""
        header, self.progress.header = self.progress.header, []
        for line in header:
            self.progress.console.print(line, highlight=False, soft_wrap=True)

    def stop(self) -> None:
        """Stop drawing; a bar never started is left alone (stopping it would print a blank
        line where stderr is not a terminal)."""
        if self.progress.live.is_started:
            self._settle()
            self.progress.stop()

    def discard(self) -> None:
        """Stop drawing; if no row has come, take the header and bar away."""
        if self.progress.live.is_started and not self.seen:
            self.progress.live.transient = True
            self.progress.header = []
            self.progress.live.stop()  # not Progress.stop: off a terminal it ends with a newline
        self.stop()

    def __enter__(self) -> ProgressBar:
        """Within: the bar drawn from :meth:`start`; at the end stopped, or discarded when
        the block raises a :class:`~lagnet.errors.LagnetError` (input refused)."""
        return self

    def __exit__(self, kind, *exc) -> None:
        if kind is not None and issubclass(kind, LagnetError):
            self.discard()
        self.stop()

    def __call__(self, event: dict) -> None:
        self.seen = True
        self._settle()
        self.progress.update(
            self.task,
            completed=event["step"],
            total=event["planned"],
            loss=f"{event['loss']:.3g}",
            r2=f"{event['val_r2']:.5f}",
            speed=speed(event["steps_per_s"]),
        )


def speed(steps_per_s: float) -> str:
    """Steps per second as the bar shows them: "-" before any step was timed (a short run's
    first validation read "0 steps/s"), two digits below 10."""
    if not steps_per_s > 0:
        return "-"
    return f"{steps_per_s:.0f}" if steps_per_s >= 10 else f"{steps_per_s:.2g}"
