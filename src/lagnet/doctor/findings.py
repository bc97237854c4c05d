"""What a finding is: a :class:`Finding` with the :class:`Remedy` config changes that
answer it, and the :class:`Facts` every check reads (the checks are in ``checks.py``).

A finding is a ``cause`` (explains by itself why the past was not learned), a ``warning``
(likely to hurt) or a ``note``; :data:`PRIORITY` ranks them, so the first cause named is
the most fundamental one (a model trained on another target needs no gradient analysis).

Example::

    >>> merged_overrides([Finding("receptive_field", "cause", "…",
    ...                           [Remedy("window ≥ 6", {"model.window": 6})])])
    {'model.window': 6}
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

from lagnet.config import RunConfig

PRIORITY = (
    "targets_differ",
    "no_memory",
    "receptive_field",
    "unnormalised",
    "vanishing_gradients",
    "exploding_gradients",
    "linear_head",
    "short_sequence",
    "optimiser",
    "too_few_steps",
    "long_horizon",
    "capacity",
    "hidden_inputs",
    "small_memory_share",
    "warm_up",
    "same_target",
)
# memory_r2 — or, where the optimum is known, the share of the reachable error removed — from
# which the past counts as learned (as in lagnet.verdict and lagnet.optimal.judgement)
LEARNED = 0.9


@dataclass
class Remedy:
    """A change to try: words for people, ``overrides`` (dotted config path -> value) for
    ``--fix``; an empty ``overrides`` is advice that no config change carries out."""

    text: str
    overrides: dict[str, Any] = field(default_factory=dict)


@dataclass
class Finding:
    code: str
    severity: str  # "cause" | "warning" | "note"
    message: str
    remedies: list[Remedy] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Facts:
    """Everything the checks read. ``true_lag``: the formula's largest lag when the target is
    a function of observed inputs over a fixed window (None: recursive, or it reads a series
    the model does not see); ``needed``/``effective``: memory from the lag oracle;
    ``flow_init``/``flow_trained``: :func:`lagnet.doctor.flow.flow_summary` results;
    ``horizon``: :func:`lagnet.doctor.flow.horizon_summary`; ``x_std``, ``y_mean``, ``y_std``:
    the inputs' and the target's scale on the doctor's sample (valid steps)."""

    cfg: RunConfig
    target: Any
    metrics: dict
    history: dict
    evaluations: list
    true_lag: Optional[int]
    needed: Optional[int]
    effective: Optional[int]
    flow_init: Optional[dict]
    flow_trained: Optional[dict]
    horizon: dict
    x_std: float
    y_mean: float
    y_std: float

    @property
    def memory_r2(self) -> Optional[float]:
        return (self.metrics.get("test") or {}).get("memory_r2")

    @property
    def optimal(self) -> Optional[dict]:
        """``baselines.optimal`` of metrics.json: the best possible predictor, where known."""
        return (self.metrics.get("baselines") or {}).get("optimal") or None

    @property
    def reachable_share(self) -> Optional[float]:
        """The share of the error the optimum removes that the model removed (None without
        an optimum, or where it reaches nothing the memoryless baseline does not)."""
        if self.optimal is None:
            return None
        return (self.metrics.get("test") or {}).get("reachable_share")

    @property
    def learned(self) -> bool:
        """Judged as the run's verdict judges it: by the reachable share where the optimum is
        known (on a filtering task even the optimum's own memory_r2 may be 0.16), else by
        memory_r2."""
        if self.memory_r2 is None:
            return False
        share = self.reachable_share
        return (share if share is not None else self.memory_r2) >= LEARNED

    @property
    def memory(self) -> Optional[int]:
        """Steps of memory the target needs: the formula's, else the oracle's."""
        return self.true_lag if self.true_lag is not None else self.needed


_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def power_of_ten(decades: float) -> str:
    """10^d in print: ``10⁻⁶`` for whole decades, ``0.47×`` within one."""
    if not math.isfinite(decades):
        return "beyond float32 (overflow)" if decades > 0 else "to zero"
    if abs(decades) < 1:
        return f"{10**decades:.2g}×"
    return "10" + str(round(decades)).translate(_SUPERSCRIPT)


def merged_overrides(found: list[Finding]) -> dict[str, Any]:
    """The first remedy of every cause and warning, in priority order; a setting already
    changed by a more fundamental finding is not changed again."""
    out: dict[str, Any] = {}
    for x in found:
        if x.severity == "note" or not x.remedies:
            continue
        for key, value in x.remedies[0].overrides.items():
            out.setdefault(key, value)
    return out
