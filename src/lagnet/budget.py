"""Sizes fitted to a wall-clock budget.

When a run has a budget (``train.max_seconds``) but the user chose none of the sizes — the
model's width, the batch, the learning rate — lagnet picks them from :data:`TABLE`, measured
per family and budget on 2 CPU cores (``benchmarks/budget_table.py``; the numbers behind each
row are in ``benchmarks/README.md``). The defaults of the configs are sized for about a
minute; a short budget is better spent on a smaller model and batch that take many more
steps, a long one on a wider model. ``train.steps`` is lifted out of the way (to
:data:`NO_STEP_LIMIT`) unless given, so that the budget, not a step count, ends training.

Given any of :data:`SIZES` (a flag, ``--set``, a config file, a keyword argument), nothing is
picked: the user's sizes are kept, with the config's defaults for the rest.

>>> class C:  # what :func:`pick` reads of a config
...     class train:
...         max_seconds = 10.0
...         model_fields_set = {"max_seconds"}
...     class model:
...         kind = "gru"
...         model_fields_set = set()
>>> pick(C)[0]
{'model.hidden': 16, 'train.batch': 16, 'train.lr': 0.02, 'train.val_every': 250, 'train.steps': 1000000}
"""

from __future__ import annotations

import math
from typing import Any

# The settings every row holds (a family's row may hold more of its own, such as the LRU's
# state size); given any of a row's settings, the table stays out of the way.
SIZES = ("model.hidden", "train.batch", "train.lr")
# Settings a row may hold that are not sizes: a user's choice of one replaces just that one.
# Validation every 100 steps on 512 paths costs a batch-16 run a tenth of its steps (a pass
# is about 11 steps' work); every 250 steps, 4%: 12-19% more steps and a higher memory_r2
# on the forum task at 10 s, 3 seeds (benchmarks/README.md, budgets).
SOFT = ("train.val_every",)
NO_STEP_LIMIT = 1_000_000

# family -> rows of (budget up to this many seconds, the sizes for it), budgets ascending.
# Measured on 2 CPU cores (JAX 0.10.2), 3 seeds a row where the README says so:
#   gru ≤ 20 s: the forum task (x_t² + w·x_{t-1}², w = 0.1, 0.5, 1) at 10 s;
#   gru ≤ 120 s: NARMA-10 and the adding problem (paths of 200 and 100 steps) at 60 s;
#   gru beyond: NARMA-10 at 300 s.
_RECURRENT = (
    (20.0, {"model.hidden": 16, "train.batch": 16, "train.lr": 2e-2, "train.val_every": 250}),
    (120.0, {"model.hidden": 32, "train.batch": 32, "train.lr": 1e-2}),
    (math.inf, {"model.hidden": 64, "train.batch": 32, "train.lr": 5e-3}),
)
# The Transformer: the forum task at 60 s (2 layers of 32: batch 16 takes 4× the steps of
# batch 32 on the CPU and reached memory_r2 0.987 where batch 32 stopped at 0.93).
_TRANSFORMER = ((math.inf, {"model.hidden": 32, "train.batch": 16, "train.lr": 2e-3}),)
# The LRU (2 blocks, no norm): the adding problem and NARMA-10 at 60 s. A smaller batch takes
# 2-3x the steps of the default 128, which decides it on the CPU; state 64 halved the adding
# problem's error at equal steps against 32 (0.011 against 0.025 at 3000 steps): adding
# 0.0035-0.0046, where batch 32 at rate 3e-3 reached 0.055.
_LRU = (
    (
        math.inf,
        {"model.hidden": 32, "model.lru_state": 64, "train.batch": 16, "train.lr": 1e-2},
    ),
)
TABLE: dict[str, tuple[tuple[float, dict[str, Any]], ...]] = {
    "gru": _RECURRENT,
    "lru": _LRU,
    "lstm": _RECURRENT,
    "transformer": _TRANSFORMER,
}


def pick(cfg: Any) -> tuple[dict[str, Any], str | None]:
    """The sizes the table gives ``cfg`` (dotted field -> value) and a note saying so; ``{}``
    and None when the run has no budget, the family no row, or the user chose a size."""
    train, model = cfg.train, cfg.model
    if train.max_seconds is None or "max_seconds" not in train.model_fields_set:
        return {}, None
    rows = TABLE.get(model.kind)
    if rows is None:
        return {}, None
    given = {f"train.{k}" for k in train.model_fields_set} | {
        f"model.{k}" for k in model.model_fields_set
    }
    sizes = next(s for most, s in rows if train.max_seconds <= most)
    if given & ((set(SIZES) | set(sizes)) - set(SOFT)):
        return {}, None
    picked = {k: v for k, v in sizes.items() if k not in given}
    shown = ", ".join(f"{k} = {v:g}" for k, v in picked.items())
    if "train.steps" not in given:
        picked["train.steps"] = NO_STEP_LIMIT
    note = (
        f"budget {train.max_seconds:g} s, {model.kind}: {shown} (lagnet's budget table; "
        "set any of them to choose the sizes yourself)"
    )
    return picked, note
