"""``lagnet train|eval|simulate|report|tasks|processes|bench|sweep|doctor`` — parse, then call the library.

The app and what the commands share live in ``_app.py``; each command group in a module of its
own (train.py, evaluate.py, simulate.py, tasks.py, sweep.py, doctor.py), importing only from ``_app`` and
the library. Importing this package registers them all.
"""

import atexit
import inspect
import os
import sys
import threading

import typer
from rich.markup import escape

from lagnet.cli import doctor as _doctor  # noqa: F401 — registers `doctor`
from lagnet.cli import evaluate as _evaluate  # noqa: F401 — registers `eval`, `report`
from lagnet.cli import simulate as _simulate  # noqa: F401 — registers `simulate`
from lagnet.cli import sweep as _sweep  # noqa: F401 — registers `sweep`
from lagnet.cli import tasks as _tasks  # noqa: F401 — registers `tasks`, `processes`, `bench`
from lagnet.cli import train as _train  # noqa: F401 — registers `train`
from lagnet.cli._app import app as app
from lagnet.cli._app import err
from lagnet.errors import Preempted

# the order `lagnet --help` lists the commands in: the daily ones first
ORDER = ("train", "eval", "report", "doctor", "sweep", "bench", "tasks", "processes", "simulate")


def help_as_written(app: typer.Typer) -> None:
    """Show every command's and option's help as written. Rich reads `[...]` as markup, so
    `x[t]**2` was shown as `x**2` and `lagnet[ray]` as `lagnet`: escape it. A paragraph's
    single line breaks were kept in the command list: join them. List the commands in ORDER.
    Once per app: escaping twice would show the backslashes."""
    if getattr(app, "help_as_written", False):
        return
    app.help_as_written = True
    for info in app.registered_commands:
        doc = inspect.getdoc(info.callback) if info.help is None else inspect.cleandoc(info.help)
        paragraphs = [" ".join(p.split("\n")) for p in (doc or "").split("\n\n")]
        info.help = escape("\n\n".join(paragraphs))
        for param in inspect.signature(info.callback).parameters.values():
            given = param.default
            if isinstance(given, typer.models.ParameterInfo) and given.help:
                given.help = escape(given.help)

    def rank(info) -> int:
        name = info.name or info.callback.__name__
        return ORDER.index(name) if name in ORDER else len(ORDER)

    app.registered_commands.sort(key=rank)


help_as_written(app)


def main() -> None:
    """The ``lagnet`` command. When it is done (its files written and closed, atexit handlers
    run, output flushed) it leaves at once instead of tearing the interpreter down: unloading
    JAX and its compiled programs took 0.7 s after every command, measured on 2 cores. A
    non-daemon thread still running (a tracker's, a cluster's) gets the ordinary exit."""
    try:
        code = usage_in_one_line()
    except SystemExit as e:
        code = e.code
    except KeyboardInterrupt as e:  # outside a command (parsing its line): no traceback
        err.print("interrupted")
        code = 143 if isinstance(e, Preempted) else 130
    if not isinstance(code, int):  # sys.exit("message") or sys.exit(None)
        if code is not None:
            print(code, file=sys.stderr)
        code = 0 if code is None else 1
    others = [t for t in threading.enumerate() if t is not threading.main_thread()]
    if any(t.is_alive() and not t.daemon for t in others):
        sys.exit(code)
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def usage_in_one_line() -> int:
    """Run the app; a command line it cannot parse (an unknown option, a missing value, a
    value of the wrong type) is one line and exit 2, like any other bad input, not a panel.
    Typer's command-line errors are recognised by what they carry (exit code 2, a message):
    their classes are click's or Typer's own copy of click's, by version."""
    try:
        # the exit code is returned instead of raised; "lagnet" under `python -m lagnet` too
        rv = app(standalone_mode=False, prog_name="lagnet")
    except typer.Abort:
        err.print("aborted")
        return 1
    except Exception as e:
        if getattr(e, "exit_code", None) != 2 or not hasattr(e, "format_message"):
            raise
        if type(e).__name__ == "NoArgsIsHelpError":  # a bare group: its help
            if e.format_message().strip():  # with rich, the help is printed already
                e.show()
            return 2
        ctx = getattr(e, "ctx", None)
        if ctx is not None:
            where = ctx.command_path
        else:  # an option's missing value is found before the command's context exists
            words = [a for a in sys.argv[1:2] if not a.startswith("-")]
            where = " ".join(["lagnet", *words])
        message = " ".join(e.format_message().split())
        err.print(
            f"[red]error:[/] {escape(message)} (see `{escape(where)} --help`)",
            highlight=False,
            soft_wrap=True,
        )
        return 2
    return rv if isinstance(rv, int) else 0  # a typer.Exit's code; commands return None
