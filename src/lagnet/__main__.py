"""``python -m lagnet`` — the same as the ``lagnet`` command."""

from lagnet.cli import main

main()
