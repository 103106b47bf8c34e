"""Short queries read with their WordNet definition, not only their word pieces.

A sentence encoder reads a rare word by its word pieces: in all-MiniLM-L6-v2
"steeple" sits next to "steep" and "slope", "angler" next to "angle". One or
two words are what people type most, so such a query is encoded together with
the definition WordNet gives it ("steeple: a tall tower that forms the
superstructure of a building ..."), from a table that
``scripts/build_glosses.py`` derives from WordNet 3.0 with the sense a photo
search wants. How the two are combined, and for which words, was chosen on a
dev split (``benchmarks/everyday.py``; docs/results.md). Longer texts, the
sentences a caption is made of, are never expanded: they carry their own
context.

The table is one sorted text file, memory-mapped and binary-searched, so a cold
query pays a few page reads for it, not a parse of megabytes.
"""

from __future__ import annotations

import mmap
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

import numpy as np

DEFAULT_TABLE = Path(__file__).parents[1] / "data" / "glosses.tsv"
MAX_WORDS = 2  # a query of at most this many words is short
# WordNet's regular noun endings (morphy's detachment rules): plural -> singular.
_PLURALS = (("ses", "s"), ("xes", "x"), ("zes", "z"), ("ches", "ch"), ("shes", "sh"), ("men", "man"), ("ies", "y"), ("s", ""))


class GlossTable:
    """Word (one or two, lowercase) -> its definition, from a file of sorted
    ``word<TAB>definition`` lines after one header line."""

    def __init__(self, path: str | Path = DEFAULT_TABLE) -> None:
        with open(path, "rb") as handle:
            self._map = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        self._start = self._map.find(b"\n") + 1

    def get(self, term: str) -> str | None:
        """The definition of ``term`` as typed (any case, plural or singular), if any."""
        words = term.lower().split()
        if not 1 <= len(words) <= MAX_WORDS:
            return None
        for form in _singulars(words[-1]):
            found = self._find(" ".join([*words[:-1], form]).encode("utf-8"))
            if found is not None:
                return found
        return None

    def _find(self, key: bytes) -> str | None:
        data, lo, hi = self._map, self._start, len(self._map)
        while lo < hi:  # lo and hi are always the starts of lines
            mid = (lo + hi) // 2
            start = data.rfind(b"\n", lo, mid) + 1 or lo
            end = data.find(b"\n", start)
            tab = data.find(b"\t", start, end)
            word = data[start:tab]
            if word < key:
                lo = end + 1
            elif word > key:
                hi = start
            else:
                return data[tab + 1 : end].decode("utf-8")
        return None


def _singulars(word: str) -> list[str]:
    """``word`` and the singulars its ending allows (WordNet's morphy rules, no exceptions list)."""
    return [word] + [word[: -len(end)] + base for end, base in _PLURALS if word.endswith(end) and len(word) > len(end) + 1]


@cache
def shipped_table() -> GlossTable:
    """The table in the package, opened once per process."""
    return GlossTable(DEFAULT_TABLE)


@dataclass(frozen=True)
class Expansion:
    """How a short query and its definition make one vector.

    ``how``: ``"prefix"`` encodes "word, definition" as one text; ``"sum"`` adds the
    definition's unit vector times ``weight`` to the word's. ``scope``: ``"all"``
    expands every short query with a definition, ``"pieces"`` only those the
    tokenizer cuts into more pieces than words (the rare words).
    """

    how: Literal["prefix", "sum"]
    weight: float = 1.0
    scope: Literal["all", "pieces"] = "all"

    def __str__(self) -> str:
        how = "prefix" if self.how == "prefix" else f"sum, weight {self.weight:g}"
        return f"{how}, {'every short query' if self.scope == 'all' else 'multi-piece words only'}"

    def vector(
        self, term: str, definition: str, encode: Callable[[str], np.ndarray], pieces: Callable[[str], int]
    ) -> np.ndarray | None:
        """The expanded unit vector of ``term``, or None when this expansion leaves it as it is."""
        if self.scope == "pieces" and pieces(term) <= len(term.split()):
            return None
        if self.how == "prefix":
            return encode(f"{term}, {definition}")
        total = encode(term) + self.weight * encode(definition)
        return total / np.linalg.norm(total)


DEFAULT = Expansion("sum", 1.0, scope="pieces")
"""The expansion short sentence-space queries get, chosen on dev by benchmarks/everyday.py's
rule (docs/results.md; chosen again through the phase-2 model that ships, ``dev --phase2``,
and again with the hub penalty's 20 neighbours): "steeple" plus "a tall tower that forms ..."
for a word the tokenizer cuts, the two unit vectors weighted alike."""
