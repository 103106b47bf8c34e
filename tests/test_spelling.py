"""Spelling lists: membership without a set, and suggestions for misspelt words."""

from __future__ import annotations

from xmodal.spelling import Speller, WordIndex

WORDS = ["the", "dog", "dogs", "turquoise", "café", "t-shirt", "u.s.", "a", "antidisestablishmentarianism"]


def test_word_index_answers_exactly_as_a_dict(tmp_path):
    words = [*WORDS, "dog"]  # listed twice: the first row counts, as in a dict built in order
    WordIndex.save(words, tmp_path)
    index = WordIndex(tmp_path)
    rows = {}
    for row, word in enumerate(words):
        rows.setdefault(word, row)
    probes = [*WORDS, "do", "dogz", "", "cafe", "caf", "t-shirts", "zzz", "antidisestablishmentarianisms", "\u00e9"]
    assert [index.get(word) for word in probes] == [rows.get(word) for word in probes]
    assert ("dogs" in index, "dogz" in index, index["café"]) == (True, False, 4)


def test_speller_suggests_the_close_spelling():
    speller = Speller(WORDS)
    assert speller.known("Dog") and not speller.known("turquiose")
    assert speller.suggest("turquiose", 1) == ["turquoise"]
