"""Short words read with their GloVe neighbours: tried on dev (issue 15 names it as a source).

    .venv/bin/python benchmarks/glove_neighbours.py [--json glove-neighbours-dev.json]

A rare word that the sentence encoder reads by its pieces might be helped by the
words GloVe 6B 50-d puts next to it ("steeple": belfry, spire, chancel, nave). Each
dev everyday word's query vector (as shipped: its definition added, asked once) gets
``weight`` times the unit mean of its ``k`` nearest GloVe words' sentence vectors
(among GloVe's 50,000 most frequent words, its own words and words sharing their
first four letters left out), for multi-piece words only ("pieces") or every word
("all"), and ranks the photos of its set as ``everyday.py dev --phase2`` does (the
phase-2 dev model, its hub penalty). The figure is the mean P@10 over the dev list.
Dev only: nothing here beat the shipped reading, so val was never scored.
"""

from __future__ import annotations

import json
import time

import numpy as np
from everyday import dev_sets, query_vectors
from results import data_arguments

from xmodal.text.sentences import SentenceSpace
from xmodal.text.words import WordSpace
from xmodal.training.evaluate import relevant_retrieval

FREQUENT = 50_000
GRID = [(scope, k, weight) for scope in ("pieces", "all") for k in (3, 5, 10) for weight in (0.25, 0.5, 1.0)]


class Neighbours:
    """A word's nearest GloVe words among the most frequent ones."""

    def __init__(self) -> None:
        self.glove = WordSpace.load("glove-6b-50d")
        keys, vectors = self.glove.searchable()
        self.keys, self.vectors = list(keys[:FREQUENT]), np.asarray(vectors[:FREQUENT], dtype=np.float32)

    def of(self, text: str, k: int) -> list[str]:
        try:
            vector = self.glove.lookup(text)[0]
        except Exception:  # no GloVe word for it: no neighbours
            return []
        order = np.argsort(-(self.vectors @ (vector / np.linalg.norm(vector))))[: k + 5]
        own = text.lower().split()
        return [self.keys[i] for i in order if not any(self.keys[i].startswith(w[:4]) for w in own)][:k]


def main() -> None:
    parser = data_arguments(__doc__.splitlines()[0])
    args = parser.parse_args()
    args.phase2 = True
    started = time.perf_counter()
    space = SentenceSpace.load()
    found = dev_sets(args, space)
    neighbours = Neighbours()
    shipped = {w: v for s in found.sets for w, v in zip(s.words, query_vectors(space, s.words))}
    encoded: dict[tuple[str, ...], np.ndarray] = {}

    def precision(vector_of) -> float:
        return float(np.mean([
            relevant_retrieval(s.photos, wanted[None], vector_of(w)[None], penalty=found.penalty)["P@10"]
            for s in found.sets for w, wanted in zip(s.words, s.relevant)
        ]))

    def widened(word: str, scope: str, k: int, weight: float) -> np.ndarray:
        near = neighbours.of(word, k)
        if not near or (scope == "pieces" and space._pieces(word) <= len(word.split())):
            return shipped[word]
        if tuple(near) not in encoded:
            encoded[tuple(near)] = space.encode(near)
        mean = encoded[tuple(near)].mean(axis=0)
        vector = shipped[word] + weight * mean / np.linalg.norm(mean)
        return vector / np.linalg.norm(vector)

    table = {"shipped (definition, asked once)": precision(lambda w: shipped[w])}
    print(f"shipped: dev P@10 {table['shipped (definition, asked once)']:.4f}", flush=True)
    for scope, k, weight in GRID:
        name = f"{scope}, {k} neighbours, weight {weight:g}"
        table[name] = precision(lambda w: widened(w, scope, k, weight))
        print(f"{name}: dev P@10 {table[name]:.4f}", flush=True)
    print(f"total {time.perf_counter() - started:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(table, indent=1))


if __name__ == "__main__":
    main()
