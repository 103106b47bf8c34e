"""Analogy accuracy, load time and memory of a word space.

    .venv/bin/python benchmarks/analogy.py [--space NAME_OR_PATH] [--limit 300000] [--gensim]

Accuracy is on gensim's bundled questions-words.txt (Mikolov et al. 2013):
each line "a b c d" asks whether ``b - a + c`` (evaluated by xmodal's own
expression path) has ``d`` as its nearest word, leaving a, b and c out and
searching only the ``--limit`` most frequent words; questions with a word
outside that cut are skipped, as gensim's ``evaluate_word_analogies`` does.
``--gensim`` also runs gensim's evaluator on the same vectors as a cross-check.

Load time: a cold load converts into an empty cache; a warm load runs in a
fresh process against the filled cache and reports its peak memory.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import gensim
import numpy as np

QUESTIONS = Path(gensim.__file__).parent / "test" / "test_data" / "questions-words.txt"
SYNTACTIC = "gram"  # gensim's section names: 'gram1-adjective-to-adverb', ...

WARM_PROBE = """
import json, sys, time
t0 = time.perf_counter()
from xmodal import WordSpace
t1 = time.perf_counter()
space = WordSpace.load(sys.argv[1] if len(sys.argv) > 1 else None)
t2 = time.perf_counter()
space.nearest("king - man + woman", k=10)
t3 = time.perf_counter()
status = dict(line.split(":", 1) for line in open("/proc/self/status"))
mib = lambda field: int(status[field].split()[0]) / 1024  # VmHWM, not ru_maxrss: it survives exec
print(json.dumps({"import_s": t1 - t0, "load_s": t2 - t1, "first_query_s": t3 - t2,
                  "peak_rss_mib": mib("VmHWM"), "rss_mib": mib("VmRSS")}))
"""


def read_questions(path: Path) -> list[tuple[str, list[str]]]:
    section, questions = "", []
    for line in path.read_text().splitlines():
        if line.startswith(":"):
            section = line[1:].strip()
        elif line.strip():
            questions.append((section, line.split()))
    return questions


def analogy_accuracy(space, limit: int) -> dict:
    """Accuracy of 3CosAdd over the questions whose four words are in the cut."""
    index = space.keyed_vectors.key_to_index
    fold = str.lower if space.lowercase else str
    kept, queries, answers, masks = [], [], [], []
    for section, words in read_questions(QUESTIONS):
        a, b, c, d = (fold(w) for w in words)
        if any(index.get(w, limit) >= limit for w in (a, b, c, d)):
            continue
        query = space.query(f"{b} - {a} + {c}")
        kept.append(section)
        queries.append(query.vector)
        answers.append(index[d])
        masks.append([index[k] for k in query.inputs])
    vectors = np.asarray(space.vectors[:limit])
    predicted = np.empty(len(queries), dtype=np.int64)
    for start in range(0, len(queries), 2048):
        scores = np.stack(queries[start : start + 2048]) @ vectors.T
        for row, mask in enumerate(masks[start : start + 2048]):
            scores[row, mask] = -np.inf
        predicted[start : start + 2048] = scores.argmax(axis=1)
    correct = predicted == np.array(answers)
    sections = np.array(kept)
    syntactic = np.char.startswith(sections, SYNTACTIC)
    total = sum(1 for _ in read_questions(QUESTIONS))
    return {
        "limit": limit,
        "questions": total,
        "answered": len(kept),
        "accuracy": float(correct.mean()),
        "semantic": float(correct[~syntactic].mean()),
        "syntactic": float(correct[syntactic].mean()),
    }


def gensim_accuracy(space, limit: int) -> float:
    score, _ = space.keyed_vectors.evaluate_word_analogies(
        str(QUESTIONS), restrict_vocab=limit, case_insensitive=True
    )
    return float(score)


def load_times(source: str | None) -> dict:
    from xmodal import WordSpace

    with tempfile.TemporaryDirectory() as cache:
        os.environ["XMODAL_CACHE_DIR"] = cache
        start = time.perf_counter()
        WordSpace.load(source)
        cold = time.perf_counter() - start
        probe = subprocess.run(
            [sys.executable, "-c", WARM_PROBE, *([source] if source else [])],
            capture_output=True, text=True, check=True, env=os.environ,
        )
    return {"cold_convert_s": cold, **json.loads(probe.stdout)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default=None, help="word space (default: embedded GloVe 6B 50-d)")
    parser.add_argument("--limit", type=int, nargs="+", default=[30_000, 100_000, 300_000])
    parser.add_argument("--gensim", action="store_true", help="cross-check with gensim's evaluator")
    args = parser.parse_args()

    from xmodal import WordSpace

    report = {"load": load_times(args.space)}
    space = WordSpace.load(args.space)
    report["space"] = space.identity.to_dict()
    report["analogies"] = []
    for limit in args.limit:
        start = time.perf_counter()
        result = analogy_accuracy(space, limit)
        result["seconds"] = time.perf_counter() - start
        if args.gensim:
            result["gensim_accuracy"] = gensim_accuracy(space, limit)
        report["analogies"].append(result)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
