"""One run of a pack and its host-side state: what the gradient loop (``loop.py``) keeps
per member beside the stacked weights, and what a checkpoint saves of it."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from lagnet.config import RunConfig
from lagnet.samples import HISTORY_COLUMNS, Callback
from lagnet.tasks import Task
from lagnet.training.durable import Checkpoint


@dataclass
class Member:
    """One run of a pack, and its host-side state."""

    cfg: RunConfig
    task: Task
    callbacks: Sequence[Callback] = ()
    checkpoint: Checkpoint | None = None
    lr_factor: float = 1.0
    divergences: int = 0
    bad_vals: int = 0
    best_val: float = math.inf  # the validation MSE at the best weights
    best_share: float = math.inf  # and their error as a share of each output's variance
    best_step: int = 0
    stopped: str | None = None
    steps: int = 0
    loss_acc: list = field(default_factory=list)
    dropped: int = 0  # training paths whose target was not finite, left out of the loss
    history: dict = field(default_factory=lambda: {k: [] for k in HISTORY_COLUMNS})

    HOST = (
        "lr_factor",
        "divergences",
        "bad_vals",
        "best_val",
        "best_share",
        "best_step",
        "stopped",
        "steps",
    )

    def host_state(self) -> dict:
        return dict(
            {k: getattr(self, k) for k in self.HOST},
            loss_acc=list(self.loss_acc),
            dropped=self.dropped,
            history=self.history,
        )

    def restore(self, state: dict) -> None:
        # A checkpoint from before best_share: NaN, "not known" (inf made the first
        # validation after resuming replace the best weights, however bad).
        self.best_share = math.nan
        for k in (*self.HOST, "loss_acc", "dropped", "history"):
            if k in state:
                setattr(self, k, state[k])
