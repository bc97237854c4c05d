"""``lagnet train|eval|simulate|report|tasks|bench|sweep|doctor`` — parse, then call the library.

The app and what the commands share live in ``_app.py``; each command group in a module of its
own (train.py, evaluate.py, simulate.py, tasks.py, sweep.py, doctor.py), importing only from ``_app`` and
the library. Importing this package registers them all.
"""

import atexit
import os
import sys
import threading

from lagnet.cli import doctor as _doctor  # noqa: F401 — registers `doctor`
from lagnet.cli import evaluate as _evaluate  # noqa: F401 — registers `eval`, `report`
from lagnet.cli import simulate as _simulate  # noqa: F401 — registers `simulate`
from lagnet.cli import sweep as _sweep  # noqa: F401 — registers `sweep`
from lagnet.cli import tasks as _tasks  # noqa: F401 — registers `tasks`, `bench`
from lagnet.cli import train as _train  # noqa: F401 — registers `train`
from lagnet.cli._app import app as app


def main() -> None:
    """The ``lagnet`` command. When it is done (its files written and closed, atexit handlers
    run, output flushed) it leaves at once instead of tearing the interpreter down: unloading
    JAX and its compiled programs took 0.7 s after every command, measured on 2 cores. A
    non-daemon thread still running (a tracker's, a cluster's) gets the ordinary exit."""
    try:
        app()
        code = 0
    except SystemExit as e:
        code = e.code
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
