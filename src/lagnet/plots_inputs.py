"""A run's several inputs in its figures: which channels are drawn, in which colour, and the
title lines that say which are not (as the figures of a several-output target say which output
they draw). With one input nothing here adds a word or a colour.

Shape legend: ``L`` time steps, ``C`` input channels.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional

import numpy as np

from lagnet.figure_base import INPUT

# Input channels drawn on a sample path's right axis; more would hide the truth and prediction.
MAX_DRAWN_INPUTS = 4
# The first input keeps the grey of a one-input run; the others avoid the truth's blue, the
# model's orange and the memoryless baseline's red.
INPUT_COLORS = (INPUT, "tab:green", "tab:purple", "tab:brown")
# Names listed in a title line before "…".
MAX_LISTED = 6


def channel_names(
    channels: int, input_names: Optional[Sequence[str]] = None, input_name: str = "x"
) -> list[str]:
    """A name for each of ``channels`` input channels: ``input_names`` when it names each,
    else ``input_name`` for one channel and ``x0, x1, …`` (as ``lagnet.sklearn`` names them)
    for several."""
    if input_names is not None and len(input_names) == channels:
        return [str(name) for name in input_names]
    if channels == 1:
        return [input_name]
    return [f"{input_name}{c}" for c in range(channels)]


def listed(names: Sequence[str], limit: int = MAX_LISTED) -> str:
    """``x, z`` — the first ``limit`` names, then ``…``."""
    shown = ", ".join(names[:limit])
    return shown + (", …" if len(names) > limit else "")


def first_input_line(names: Sequence[str]) -> Optional[str]:
    """The title line of a figure drawn against the first of several inputs (None for one)."""
    if len(names) < 2:
        return None
    return f"{names[0]}[t] is the first of {len(names)} inputs ({listed(names)})"


def undrawn_line(names: Sequence[str], limit: int = MAX_DRAWN_INPUTS) -> Optional[str]:
    """The title line naming the inputs left off a sample-paths figure (None: all drawn)."""
    if len(names) <= limit:
        return None
    rest = names[limit:]
    return f"the first {limit} of {len(names)} inputs drawn; not drawn: {listed(rest)}"


def join_lines(*lines: Optional[str]) -> Optional[str]:
    """The lines given, one per line; None when there are none."""
    kept = [line for line in lines if line]
    return "\n".join(kept) if kept else None


def draw_inputs(twin, t: np.ndarray, x_path: np.ndarray, names: Sequence[str]) -> None:
    """Input channels of one path, ``x_path`` (L, C), on the right axis ``twin``: the first
    ``MAX_DRAWN_INPUTS``, each in its own colour and labelled for the legend."""
    drawn = min(len(names), MAX_DRAWN_INPUTS)
    for c in range(drawn):
        twin.plot(t, x_path[:, c], color=INPUT_COLORS[c], lw=0.9, label=f"input {names[c]}")
    if drawn == 1:
        twin.set_ylabel(f"input {names[0]}", color=INPUT)
    else:
        twin.set_ylabel("inputs")
