"""The doctor's checks of the target itself: whether training and the latest evaluation
used the same formula (``same_target`` / ``targets_differ``), and whether the target needs
memory at all (``no_memory``). The other checks are in :mod:`lagnet.doctor.checks`."""

from __future__ import annotations

from typing import Optional

from lagnet.doctor.findings import Facts, Finding, Remedy
from lagnet.targets import formula_text


def _same(a: str, b: str) -> bool:
    return "".join(a.split()) == "".join(b.split())


def targets(f: Facts) -> Finding:
    trained = formula_text(f.cfg.target.formula)
    other = [formula_text(e.get("formula", "")) for e in f.evaluations]
    differ = [o for o in other if not _same(o, trained)]
    if not differ:
        also = f" and all {len(other)} recorded evaluation(s) used it too" if other else ""
        return Finding(
            "same_target",
            "note",
            "Training and test targets are the same compiled formula, by "
            "construction: one Target serves the loss, validation and test" + also + ".",
        )
    last = differ[-1]
    if _same(other[-1], trained):  # the latest evaluation used it: the advice was followed
        return Finding(
            "same_target",
            "note",
            f"The latest evaluation used the trained formula, {trained}; an earlier one "
            f"(lagnet eval --target) used {last}, which says nothing about this run's learning.",
        )
    return Finding(
        "targets_differ",
        "cause",
        f"Training and evaluation targets differ: the model was trained on {trained} but "
        f"evaluated (lagnet eval --target) on {last}. It learned its training target; a score "
        "against another formula says nothing about whether it learned the past.",
        [
            Remedy(
                f'train on the formula you evaluate: target.formula = "{last}"',
                {"target.formula": last},
            ),
            Remedy("evaluate without --target, against the formula it was trained on"),
        ],
    )


def no_memory(f: Facts) -> Optional[Finding]:
    test = f.metrics.get("test") or {}
    r2 = test.get("r2")
    mem = ((f.metrics.get("baselines") or {}).get("memoryless") or {}).get("r2")
    if f.memory_r2 is not None or r2 is None or mem is None:
        return None
    return Finding(
        "no_memory",
        "cause",
        "The target needs no memory: "
        + (
            "it reads only the model's current inputs"
            if f.metrics["target"].get("reads_past") is False
            else "each output reads only the model's current inputs or is explained by them"
            if any(o.get("reads_past") is False for o in f.metrics.get("outputs") or [])
            else f"the current input alone explains it (memoryless R² {mem:.5f})"
        )
        + ", so memory_r2 is undefined (null) and there is no past to learn. Judge "
        f"the model by R² ({r2:.4f}).",
        [
            Remedy(
                "a memoryless model is enough: model.kind = window, model.window = 1",
                {"model.kind": "window", "model.window": 1},
            )
        ],
    )
