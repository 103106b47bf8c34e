"""A cold `xmodal query`: this checkout against a baseline checkout on one index, or on one index against another.

    git worktree add /tmp/xmodal-base COMMIT
    .venv/bin/python benchmarks/cold_query.py INDEX --baseline /tmp/xmodal-base [--runs 7] [--query Q ...]
    .venv/bin/python benchmarks/cold_query.py INDEX --baseline-index OLD_INDEX [--runs 7] [--query Q ...]
    .venv/bin/python benchmarks/cold_query.py INDEX --baseline ... --captions 15 [--shared ../shared/data] [--work data]

Each measured run is a whole fresh process, ``python -m cli query Q --index
INDEX --json``, started in one checkout or the other (``-m`` imports ``cli``
and ``xmodal`` from the checkout it starts in), timed from start to exit as a
user feels it. The two sides alternate, and so does which goes first, so a
change of the machine's load falls on both. One unmeasured run of each first
writes Python's bytecode caches, as on a user's machine. Prints the median of
each and their ratio. With ``--baseline`` the index must be one both checkouts
can read; ``--baseline-index`` compares two indexes of the same photos made
differently (by the same checkout), for a change to how an index is written.

The same query asked again finds in the page cache what an earlier process read,
unless that process dropped it. ``--captions N`` asks a different query in every
process instead, as a user does: N Flickr8k val captions per side, drawn at
random and none asked twice, each side's processes in a block of their own
(interleaved, one side's reads would warm the other's), twice: baseline then
this, then this then baseline. Prints each side's median over its 2N runs.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
from pathlib import Path

from reindex import timed  # a fresh process, bytecode caches on as on a user's machine
from results import shared_paths, unpack

HERE = Path(__file__).resolve().parent.parent


def query_seconds(checkout: Path, index: Path, query: str) -> float:
    return timed([sys.executable, "-m", "cli", "query", query, "--index", str(index), "--json"], cwd=checkout)


def distinct_captions(args: argparse.Namespace, count: int) -> list[str]:
    """``count`` different Flickr8k val captions, in a random order (seed 0)."""
    from xmodal.training.datasets import read_captions

    flickr = read_captions(unpack(args.shared, args.work, ("flickr8k-captions",))["flickr8k-captions"])
    val = sorted({" ".join(c.split()) for c, p in zip(flickr.captions, flickr.photo_of) if flickr.splits[p] == "val"})
    return random.Random(0).sample(val, count)


def report(label: str, times: dict[str, list[float]]) -> None:
    """One line: each side's median and their ratio."""
    this, base = statistics.median(times["this"]), statistics.median(times["baseline"])
    print(f"{label:28s} {this:10.3f} {base:10.3f} {this / base:6.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("index", type=Path)
    baseline = parser.add_mutually_exclusive_group(required=True)
    baseline.add_argument("--baseline", type=Path, help="another checkout of xmodal (git worktree add)")
    baseline.add_argument("--baseline-index", type=Path, help="another index, queried by this checkout")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--query", action="append", help='default: "a dog runs on the beach" and "beach"')
    parser.add_argument("--captions", type=int, help="a different val caption in every process, N per side and round")
    shared, work = shared_paths()
    parser.add_argument("--shared", type=Path, default=shared, help="for --captions: where the photo sets are")
    parser.add_argument("--work", type=Path, default=work, help="for --captions: where they are unpacked")
    args = parser.parse_args()
    index = args.index.resolve()
    sides = {  # name: (checkout, index)
        "this": (HERE, index),
        "baseline": (args.baseline.resolve(), index) if args.baseline else (HERE, args.baseline_index.resolve()),
    }
    print(f"{'query':28s} {'this':>10s} {'baseline':>10s} {'ratio':>6s}   (medians of cold processes, s)")
    if args.captions:
        for side in sides.values():  # bytecode caches
            query_seconds(*side, "a dog")
        captions = iter(distinct_captions(args, 4 * args.captions))
        times: dict[str, list[float]] = {name: [] for name in sides}
        for order in (["baseline", "this"], ["this", "baseline"]):
            for name in order:
                times[name] += [query_seconds(*sides[name], next(captions)) for _ in range(args.captions)]
        report(f"{4 * args.captions} different captions", times)
        return
    for query in args.query or ["a dog runs on the beach", "beach"]:
        for side in sides.values():
            query_seconds(*side, query)
        times = {name: [] for name in sides}
        for run in range(args.runs):
            order = list(sides) if run % 2 == 0 else list(reversed(sides))
            for name in order:
                times[name].append(query_seconds(*sides[name], query))
        report(query, times)


if __name__ == "__main__":
    main()
