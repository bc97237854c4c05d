"""``python -m lagnet`` — the same as the ``lagnet`` command.

Ctrl-C while the command line is still being loaded (importing JAX takes a second or more)
is a quiet exit 130, like Ctrl-C anywhere else, not a traceback of the import."""

import sys


def main() -> None:
    try:
        from lagnet.cli import main as run
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    run()


if __name__ == "__main__":
    main()
