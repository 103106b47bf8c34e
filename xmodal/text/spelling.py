"""Which words a space knows, and close spellings of those it does not.

A query is typed by a person, so a misspelt word ("turquiose") is dropped with
a note that names it and the likely spelling, rather than refusing the query.
Inside arithmetic, where dropping a term changes what the rest means, a typo
is corrected instead when one spelling is clearly what was meant
(:func:`correction`).
"""

from __future__ import annotations

import difflib
import string
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import overload

import numpy as np


class Speller:
    """A word list in frequency order (most frequent first): membership and suggestions.

    ``rank`` may be given when the caller already holds a word -> position map
    (a dict or a :class:`WordIndex`), so it is not built twice.
    """

    def __init__(self, words: Sequence[str], lowercase: bool = True, rank: Mapping[str, int] | None = None) -> None:
        self.words = words
        self.lowercase = lowercase
        self.rank = rank if rank is not None else {word: i for i, word in enumerate(words)}
        self._pool: dict[tuple[str, int], list[str]] | None = None

    def known(self, word: str) -> bool:
        return (word.lower() if self.lowercase else word) in self.rank

    def suggest(self, word: str, n: int = 5) -> list[str]:
        """Close spellings of ``word`` in the list, most frequent first: one edit away
        when there are such words, else difflib's close matches of similar length;
        never a word with no letter in common with it (a one-letter word of another
        script is one edit from every letter)."""
        base = word.lower() if self.lowercase else word
        close = {c for c in edits1(base) if c in self.rank}
        if not close:
            buckets = self._suggestion_pool()
            first = base[:1].lower()
            pool = [k for size in range(len(base) - 2, len(base) + 3) for k in buckets.get((first, size), ())]
            close = set(difflib.get_close_matches(base, pool, n=n, cutoff=0.75))
        close = {c for c in close if not set(c).isdisjoint(base)}  # "狗" is not one edit from "a": no letter in common
        return sorted(close, key=self.rank.__getitem__)[:n]

    def _suggestion_pool(self) -> dict[tuple[str, int], list[str]]:
        """The 100k most frequent words by (first letter lowercased, length), built once."""
        if self._pool is None:
            pool: dict[tuple[str, int], list[str]] = {}
            for k in self.words[:100_000]:
                pool.setdefault((k[:1].lower(), len(k)), []).append(k)
            self._pool = pool
        return self._pool


class Lines(Sequence[str]):
    """The lines of a text file as a read-only list, read on first use: a query that
    only looks words up (:class:`WordIndex`) never reads a 400k-word list."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lines: list[str] | None = None

    @property
    def _all(self) -> list[str]:
        if self._lines is None:
            self._lines = self._path.read_text(encoding="utf-8").split("\n")
        return self._lines

    def __len__(self) -> int:
        return len(self._all)

    @overload
    def __getitem__(self, i: int) -> str: ...

    @overload
    def __getitem__(self, i: slice) -> list[str]: ...

    def __getitem__(self, i: int | slice) -> str | list[str]:
        return self._all[i]

    def __iter__(self):
        return iter(self._all)


class WordIndex:
    """Word -> row of a long word list, without building a dict of it first.

    A dict of GloVe's 400k words took 0.2 s to build in a profiled cold query; a
    sorted array of their UTF-8 bytes and the row of each, memory-mapped,
    open at once and answer by binary search. A word listed twice
    gives its first row.
    """

    def __init__(self, folder: str | Path) -> None:
        self._sorted = np.load(Path(folder) / "sorted.npy", mmap_mode="r")
        self._rows = np.load(Path(folder) / "rows.npy", mmap_mode="r")

    @staticmethod
    def save(words: Sequence[str], folder: str | Path) -> None:
        encoded = [word.encode("utf-8") for word in words]
        order = sorted(range(len(encoded)), key=encoded.__getitem__)  # stable: first rows first
        np.save(Path(folder) / "sorted.npy", np.array([encoded[i] for i in order] or [b""], dtype=bytes))
        np.save(Path(folder) / "rows.npy", np.array(order or [-1], dtype=np.int64))

    def get(self, word: str) -> int | None:
        key = word.encode("utf-8")
        if not key or len(key) > self._sorted.dtype.itemsize:  # longer than any word: numpy would cut it
            return None
        i = int(np.searchsorted(self._sorted, key))
        return int(self._rows[i]) if i < len(self._sorted) and self._sorted[i] == key else None

    def __contains__(self, word: str) -> bool:
        return self.get(word) is not None

    def __getitem__(self, word: str) -> int:
        row = self.get(word)
        if row is None:
            raise KeyError(word)
        return row


def correction(word: str, close: Sequence[str]) -> str | None:
    """The one spelling in ``close`` that ``word`` is clearly a typo of, or None.

    A wrong correction silently answers another query, so frequency and
    closeness must agree: the most frequent spelling one edit away, and only
    when no other is as close. Closeness has three tiers: a slip of the
    fingers (:func:`slips`), then any other edit that keeps the first letter
    (people rarely mistype it), then an edit of the first letter. ``kingg`` is
    *king* (a slip), not *kings* or *kinga* (a replaced letter each);
    ``qeeen`` is *queen*, not *beeen* (a new first letter); ``womn`` could be
    *won*, *women* or *woman* (one tier), and ``grren`` *green* or *gren* (a
    slip, but rarer), so None. A spelling two edits away is a guess: None.
    ``close`` is a space's suggestions, most frequent first; case is ignored.
    """
    near = _tiered(word, close)
    if not near or near[0][0] != min(tier for tier, _ in near) or [tier for tier, _ in near].count(near[0][0]) > 1:
        return None
    return near[0][1]


def likeliest(word: str, close: Sequence[str]) -> str | None:
    """The spelling of ``close`` a note suggests for a dropped word, one edit away: two
    swapped letters first ("dgo": *dog*, not the commoner *do*), then the most frequent
    that keeps the first letter, then any; else the most frequent of ``close``; None when
    ``close`` is empty. A doubled or undoubled letter is a slip for :func:`correction`, but
    here frequency decides among such edits: "bech" suggests *beach*, not *beech*, and
    "grren" *green*, not *gren*."""
    swapped = _swaps(word.lower())
    near = [(0 if spelling.lower() in swapped else max(tier, 1), spelling) for tier, spelling in _tiered(word, close)]
    return min(near, key=lambda found: found[0])[1] if near else next(iter(close), None)


def _tiered(word: str, close: Sequence[str]) -> list[tuple[int, str]]:
    """(tier, spelling) of each spelling of ``close`` one edit from ``word``, in ``close``'s
    order: 0 a slip of the fingers, 1 an edit that keeps the first letter, 2 any other."""
    typed = word.lower()
    edits, slipped = edits1(typed), slips(typed)
    return [
        (0 if low in slipped else 1 if low[:1] == typed[:1] else 2, spelling)
        for spelling in close
        if (low := spelling.lower()) in edits
    ]


def slips(word: str) -> set[str]:
    """The strings one slip of the fingers from ``word``: two neighbouring letters
    swapped (``teh``), a letter typed twice (``kingg``) or a doubled one typed once
    (``hapy``), the commonest typing errors."""
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    undoubled = {a + b[1:] for a, b in splits if len(b) > 1 and b[0] == b[1]}
    doubled = {a + b[0] + b for a, b in splits if b}
    return (_swaps(word) | undoubled | doubled) - {word}


def _swaps(word: str) -> set[str]:
    """The strings with two neighbouring letters of ``word`` swapped."""
    return {word[:i] + word[i + 1] + word[i] + word[i + 2:] for i in range(len(word) - 1)} - {word}


def edits1(word: str) -> set[str]:
    """All strings one deletion, swap, replacement or insertion away (Norvig)."""
    letters = string.ascii_lowercase
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    deletes = [a + b[1:] for a, b in splits if b]
    swaps = [a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1]
    replaces = [a + c + b[1:] for a, b in splits if b for c in letters]
    inserts = [a + c + b for a, b in splits for c in letters]
    return set(deletes + swaps + replaces + inserts) - {word}
