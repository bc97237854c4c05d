"""``lagnet train|eval|simulate|report|tasks|bench|sweep|doctor`` — parse, then call the library.

The app and what the commands share live in ``_app.py``; each command group in a module of its
own (train.py, evaluate.py, simulate.py, tasks.py, sweep.py, doctor.py), importing only from ``_app`` and
the library. Importing this package registers them all.
"""

import sys

from lagnet.cli import doctor as _doctor  # noqa: F401 — registers `doctor`
from lagnet.cli import evaluate as _evaluate  # noqa: F401 — registers `eval`, `report`
from lagnet.cli import simulate as _simulate  # noqa: F401 — registers `simulate`
from lagnet.cli import sweep as _sweep  # noqa: F401 — registers `sweep`
from lagnet.cli import tasks as _tasks  # noqa: F401 — registers `tasks`, `bench`
from lagnet.cli import train as _train  # noqa: F401 — registers `train`
from lagnet.cli._app import app as app


def main() -> None:  # pragma: no cover
    sys.exit(app())
