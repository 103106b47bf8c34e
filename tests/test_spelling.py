"""Spelling lists: membership without a set, and suggestions for misspelt words."""

from __future__ import annotations

from xmodal.spelling import SortedWords, Speller

WORDS = ["the", "dog", "dogs", "turquoise", "café", "t-shirt", "u.s.", "a", "antidisestablishmentarianism"]


def test_sorted_words_answer_exactly_as_a_set(tmp_path):
    SortedWords.save(WORDS, tmp_path / "words.npy")
    known = SortedWords(tmp_path / "words.npy")
    probes = [*WORDS, "do", "dogz", "", "cafe", "caf", "t-shirts", "zzz", "antidisestablishmentarianisms", "\u00e9"]
    assert [word in known for word in probes] == [word in set(WORDS) for word in probes]


def test_speller_suggests_the_close_spelling():
    speller = Speller(WORDS)
    assert speller.known("Dog") and not speller.known("turquiose")
    assert speller.suggest("turquiose", 1) == ["turquoise"]
