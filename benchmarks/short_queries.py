"""What asking a short query twice costs (pseudo-relevance feedback, xmodal.search.feedback).

    .venv/bin/python benchmarks/short_queries.py INDEX [--repeats 3]

A query of one or two words searches once, then again moved toward its first
photos. On an existing index (the 1M one ``store_scale.py --keep`` leaves, or
any other), this times ``Engine.query`` warm for the 151 words and phrases of
the val everyday list (``everyday_words.json``) with feedback and, as the
baseline in the same process, with it switched off (the engine's
``feedback_for`` answering None), interleaved word by word after one warm-up
pass; then a cold ``xmodal query "beach"`` against a cold sentence query,
median of 5 fresh processes each, interleaved.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import xmodal
import xmodal.search.engine as engine_module

WORDS = Path(__file__).with_name("everyday_words.json")
XMODAL = [str(Path(sys.executable).parent / "xmodal")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("index", type=Path)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    lists = json.loads(WORDS.read_text())["val"]
    words = [word for entries in lists.values() for word in entries]
    asked_twice = engine_module.feedback_for
    times: dict[str, list[float]] = {"feedback (ships)": [], "asked once (baseline)": []}
    with xmodal.open(args.index) as engine:
        for word in words:  # warm-up: the session, the pages these queries touch
            engine.query(word)
        for _ in range(args.repeats):
            for word in words:
                for name, rule in (("feedback (ships)", asked_twice), ("asked once (baseline)", lambda *_: None)):
                    engine_module.feedback_for = rule
                    began = time.perf_counter()
                    engine.query(word)
                    times[name].append((time.perf_counter() - began) * 1000)
        engine_module.feedback_for = asked_twice
        print(f"{engine.count():,} photos; {len(words)} words x {args.repeats}, warm Engine.query")
    for name, ms in times.items():
        print(f"{name}: p50 {np.percentile(ms, 50):.2f} ms, p95 {np.percentile(ms, 95):.2f} ms")
    cold: dict[str, list[float]] = {"beach": [], "a dog runs on the beach": []}
    for _ in range(5):
        for query in cold:
            began = time.perf_counter()
            subprocess.run([*XMODAL, "query", query, "--index", str(args.index), "--json"], check=True, capture_output=True)
            cold[query].append(time.perf_counter() - began)
    for query, seconds in cold.items():
        print(f"cold xmodal query {query!r}: median {statistics.median(seconds):.3f} s of 5")


if __name__ == "__main__":
    main()
