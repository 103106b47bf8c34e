"""A cold `xmodal query`: this checkout against a baseline checkout on one index, or on one index against another.

    git worktree add /tmp/xmodal-base COMMIT
    .venv/bin/python benchmarks/cold_query.py INDEX --baseline /tmp/xmodal-base [--runs 7] [--query Q ...]
    .venv/bin/python benchmarks/cold_query.py INDEX --baseline-index OLD_INDEX [--runs 7] [--query Q ...]

Each measured run is a whole fresh process, ``python -m cli query Q --index
INDEX --json``, started in one checkout or the other (``-m`` imports ``cli``
and ``xmodal`` from the checkout it starts in), timed from start to exit as a
user feels it. The two sides alternate, and so does which goes first, so a
change of the machine's load falls on both. One unmeasured run of each first
writes Python's bytecode caches, as on a user's machine. Prints the median of
each and their ratio. With ``--baseline`` the index must be one both checkouts
can read; ``--baseline-index`` compares two indexes of the same photos made
differently (by the same checkout), for a change to how an index is written.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from reindex import timed  # a fresh process, bytecode caches on as on a user's machine

HERE = Path(__file__).resolve().parent.parent


def query_seconds(checkout: Path, index: Path, query: str) -> float:
    return timed([sys.executable, "-m", "cli", "query", query, "--index", str(index), "--json"], cwd=checkout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("index", type=Path)
    baseline = parser.add_mutually_exclusive_group(required=True)
    baseline.add_argument("--baseline", type=Path, help="another checkout of xmodal (git worktree add)")
    baseline.add_argument("--baseline-index", type=Path, help="another index, queried by this checkout")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--query", action="append", help='default: "a dog runs on the beach" and "beach"')
    args = parser.parse_args()
    index = args.index.resolve()
    sides = {  # name: (checkout, index)
        "this": (HERE, index),
        "baseline": (args.baseline.resolve(), index) if args.baseline else (HERE, args.baseline_index.resolve()),
    }
    print(f"{'query':28s} {'this':>10s} {'baseline':>10s} {'ratio':>6s}   (medians of {args.runs} cold processes, s)")
    for query in args.query or ["a dog runs on the beach", "beach"]:
        for side in sides.values():
            query_seconds(*side, query)
        times: dict[str, list[float]] = {name: [] for name in sides}
        for run in range(args.runs):
            order = list(sides) if run % 2 == 0 else list(reversed(sides))
            for name in order:
                times[name].append(query_seconds(*sides[name], query))
        this, base = (statistics.median(times[name]) for name in sides)
        print(f"{query:28s} {this:10.3f} {base:10.3f} {this / base:6.2f}")


if __name__ == "__main__":
    main()
