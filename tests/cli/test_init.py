"""The console-script entry point (cli.main)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

INTERRUPTED_WHILE_IMPORTING = """
import builtins

real = builtins.__import__


def interrupted(name, *args, **kwargs):
    if name == "cli.app":  # as a Ctrl-C in the first tenths of a second lands
        raise KeyboardInterrupt
    return real(name, *args, **kwargs)


builtins.__import__ = interrupted
import cli

cli.main()
"""


def test_a_ctrl_c_while_the_app_is_imported_is_one_line_not_a_traceback():
    done = subprocess.run([sys.executable, "-c", INTERRUPTED_WHILE_IMPORTING], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 130 and done.stderr == "interrupted\n", done.stderr


def test_the_entry_point_runs_the_app():
    done = subprocess.run([sys.executable, "-m", "cli", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0 and "index" in done.stdout and "query" in done.stdout
