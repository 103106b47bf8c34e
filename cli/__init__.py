"""The ``xmodal`` command line: :mod:`cli.app`, reached through :func:`main`."""

from __future__ import annotations

import sys


def main() -> None:
    """Console-script entry point: :func:`cli.app.main`. A Ctrl-C that lands while Python is
    still importing the app (its first few tenths of a second) ends as one line and exit
    code 130, as an interrupt later does, not as a traceback through the importing modules."""
    try:
        from cli.app import main as run
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        raise SystemExit(130) from None
    run()
