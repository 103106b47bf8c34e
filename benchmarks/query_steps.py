"""Where a cold text query's time goes: timestamps around each step, in fresh processes.

    .venv/bin/python benchmarks/query_steps.py INDEX [--runs 5] [--query dog] [--asked-once]

Each run is a new Python process that does what `xmodal query QUERY --index
INDEX --json` does, step by step (imports, the space, opening the index, the
query with its ONNX session and tokenizer, the JSON; the index is left open, as
the command leaves it, for the exit to release), and prints the milliseconds of
each; this prints the median of each step over --runs. The same query each
run: what the last run read is in the page cache (benchmarks/cold_query.py
--captions asks a different one each time).
Python's bytecode cache is left on, as on a user's machine (see reindex.py).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

from reindex import ENV  # bytecode caches on, as on a user's machine

STEPS = r"""
import json, sys, time
marks = [("start", time.perf_counter())]
def mark(name): marks.append((name, time.perf_counter()))
import numpy; mark("import numpy")
import typer, click; mark("import typer")
import cli.app; mark("import cli.app and xmodal")
from xmodal.search.engine import Engine; from xmodal.text.factory import load_space; from xmodal.store import open_store; mark("import the engine")
space = load_space(None); mark("load the space")
store = open_store(sys.argv[1]); mark("open the index (shard)")
engine = Engine(store, space)
if sys.argv[3] == "once":  # the baseline for a short query: its second search switched off
    import xmodal.search.engine; xmodal.search.engine.feedback_for = lambda *_: None
import onnxruntime; mark("import onnxruntime")
answer = engine.query(sys.argv[2], 10); mark("query: tokenizer, session, encode, search, re-rank")
json.dumps(answer.to_dict()); mark("json")
print(json.dumps({name: 1000 * (t - marks[i][1]) for i, (name, t) in enumerate(marks[1:])}), flush=True)
import os; os._exit(0)  # as xmodal query ends (cli.app.held): the index left open, not dropped from the page cache
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("index")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--query", default="dog")
    parser.add_argument("--asked-once", action="store_true",
                        help="switch off a short query's second search (xmodal.search.feedback), for a baseline")
    args = parser.parse_args()
    runs = []
    for _ in range(args.runs + 1):  # the first, unmeasured, writes the bytecode caches
        done = subprocess.run([sys.executable, "-c", STEPS, args.index, args.query, "once" if args.asked_once else "twice"],
                              capture_output=True, text=True,
                              check=True, env=ENV)
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    for step in runs[1]:
        print(f"{step:55s} {statistics.median(run[step] for run in runs[1:]):6.1f} ms")
    print(f"{'total (in-process, after interpreter start)':55s} {statistics.median(sum(r.values()) for r in runs[1:]):6.1f} ms")


if __name__ == "__main__":
    main()
