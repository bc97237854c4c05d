"""The training progress bar: a plain callback for the training loop (rich)."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from lagnet.config import TrainConfig


class ProgressBar:
    """Shows step, loss, validation R², steps/s and ETA. Use as a context manager, pass the
    instance as a callback to ``training.fit`` and its ``start`` as the run's ``started``."""

    def __init__(self, cfg: TrainConfig, console: Console | None = None):
        self.progress = Progress(
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
        self.started = False
        self.task = self.progress.add_task("train", total=cfg.steps, loss="-", r2="-", speed="-")

    def start(self) -> None:
        self.progress.start()
        self.started = True

    def stop(self) -> None:
        """Stop drawing; a bar never started is left alone (stopping it would print a blank
        line where stderr is not a terminal)."""
        if self.started:
            self.progress.stop()
            self.started = False

    def __enter__(self) -> ProgressBar:
        """Within: the bar drawn from :meth:`start` (pass it as a run's ``started``, so that
        input the run refuses is said without a bar) and stopped at the end."""
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __call__(self, event: dict) -> None:
        self.progress.update(
            self.task,
            completed=event["step"],
            total=event["planned"],
            loss=f"{event['loss']:.3g}",
            r2=f"{event['val_r2']:.5f}",
            speed=f"{event['steps_per_s']:.0f}",
        )
