"""The one error type for bad input: it names the field and the value in one line; and
:class:`Preempted`, SIGTERM raised as Ctrl-C is."""

from __future__ import annotations


class LagnetError(ValueError):
    """Bad input. ``str(err)`` is one line: ``field: value — reason``.

    The CLI prints it and exits with code 2; the Python API lets it propagate.
    """

    def __init__(self, field: str, value: object, reason: str):
        self.field = field
        self.value = value
        self.reason = reason
        # A string with a line break or a control character is shown quoted: one line.
        shown = value if isinstance(value, str) and value.isprintable() else repr(value)
        if isinstance(shown, str) and len(shown) > 120:
            shown = shown[:117] + "..."
        super().__init__(f"{field}: {shown} — {reason}")


class Preempted(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C would be: the loop checkpoints and stops the same way;
    the CLI exits 143 (Ctrl-C: 130)."""
