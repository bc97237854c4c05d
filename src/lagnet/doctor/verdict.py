"""The doctor's verdict in words: how much memory the target needs and the model uses, how
gradients travel through time, the most fundamental cause found, and what to try.

Example::

    >>> lines(compose(facts, found, kmax=7))
    ['The target needs 5 steps of memory (its largest lag); the model uses about 1.',
     'Gradients through time fall by 10⁻⁶ over 5 steps at initialisation (vanishing).',
     'The model sees only the last 2 input(s) (model.window = 2), …',
     'Try: window ≥ 6: model.window = 6, or a recurrent model: model.kind = gru.']
"""

from __future__ import annotations

from typing import Optional

from lagnet import optimal as optimum
from lagnet.doctor.findings import Facts, Finding, power_of_ten
from lagnet.shown import below


def _steps(n: int) -> str:
    return f"{n} step" + ("" if n == 1 else "s")


def memory_line(f: Facts, kmax: int) -> Optional[str]:
    need = f.memory
    if f.memory_r2 is None or need is None:
        return None
    source = "its largest lag" if f.true_lag is not None else "by the lag oracle"
    uses = (
        f"about {f.effective}"
        if f.effective is not None
        else f"more than the lag oracle up to {kmax} steps back"
    )
    against = optimum.removed(f.metrics)  # judged against the optimum, as the run's verdict
    if against is not None:
        head = (
            "The model learned the past as far as it can be learned: it removed "
            if f.learned
            else "The model removed "
        ) + f"{against} "
    else:
        learned = f"The model learned the past (memory_r2 {below(f.memory_r2, 3)}). "
        head = learned if f.learned else ""
    return f"{head}The target needs {_steps(need)} of memory ({source}); the model uses {uses}."


def flow_line(f: Facts) -> Optional[str]:
    init, trained = f.flow_init, f.flow_trained
    main = init or trained
    if main is None or f.memory_r2 is None:
        return None
    if main["state"] == "cut off" or (trained and trained["state"] == "cut off"):
        reach = (trained or main)["reach"]
        return (
            f"Inputs more than {_steps(max(reach, 0))} back have no effect on the output "
            "(its gradient is exactly 0: the receptive field ends there)."
        )

    def verb(flow: dict) -> str:
        return "fall" if flow["decades"] < 0 else "grow"

    when = " at initialisation" if init is not None else ""
    text = (
        f"Gradients through time {verb(main)} by {power_of_ten(main['decades'])} over "
        f"{_steps(main['horizon'])}{when} ({main['state']})"
    )
    if init is not None and trained is not None:
        text += f"; after training they {verb(trained)} by {power_of_ten(trained['decades'])}"
    return text + "."


def compose(f: Facts, found: list[Finding], kmax: int) -> dict:
    """The verdict as data: ``lines`` (memory, gradients), the ranked ``causes`` (codes of
    causes and warnings), the first one's message, the others', what to ``try``, notes."""
    serious = [x for x in found if x.severity != "note"]
    primary = serious[0] if serious else None
    if primary is None:
        cause = (
            "Nothing found that stops the model from learning the past."
            if f.learned or f.memory_r2 is None
            else "No cause found."
        )
    else:
        cause = primary.message
    tries = [r.text for r in primary.remedies] if primary else []
    return dict(
        learned_past=f.learned if f.memory_r2 is not None else None,
        lines=[x for x in (memory_line(f, kmax), flow_line(f)) if x],
        causes=[x.code for x in serious],
        primary=primary.code if primary else None,
        cause=cause,
        also=[x.message for x in serious[1:]],
        try_=("Try: " + ", or ".join(tries) + ".") if tries else None,
        notes=[x.message for x in found if x.severity == "note"],
    )


def lines(verdict: dict) -> list[str]:
    """The short verdict, one sentence a line: what the CLI prints."""
    out = list(verdict["lines"])
    if verdict["primary"] == "no_memory":
        out = []  # the cause says it all
    out.append(verdict["cause"])
    if verdict["also"]:
        out.append("Also: " + " ".join(verdict["also"]))
    if verdict["try_"]:
        out.append(verdict["try_"])
    out += [f"Note: {note}" for note in verdict["notes"]]
    return out
