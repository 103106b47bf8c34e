"""Spelling lists: membership without a set, and suggestions for misspelt words."""

from __future__ import annotations

import pytest

from xmodal.text.spelling import Speller, WordIndex, correction, likeliest, slips

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
    assert speller.suggest("狗") == [] and speller.suggest("b") == []  # no letter in common ("a" is one edit away): none
    assert speller.suggest("og") == ["dog"]  # one edit, letters shared


@pytest.mark.parametrize(
    "typed, close, corrected",
    [  # close: GloVe 6B's own suggestions, most frequent first
        ("kingg", ["king", "kings", "kinga", "kingi", "kingz", "zingg", "lingg", "kinng", "kingo"], "king"),
        ("Kingg", ["king", "kings", "kinga"], "king"),  # case is ignored
        ("hapy", ["happy", "hay", "hazy", "hap", "harpy"], "happy"),  # a doubled letter typed once
        ("kign", ["king", "sign", "kin", "ign", "kiln"], "king"),  # two letters swapped
        ("qeeen", ["queen", "beeen"], "queen"),  # beeen changes the first letter
        ("fmily", ["family", "emily", "mily"], "family"),
        ("womn", ["won", "women", "woman", "worn", "womb"], None),  # as close as each other
        ("grren", ["green", "geren", "goren", "gruen", "gren"], None),  # gren is closer, green more frequent
        ("queeen", ["queen", "queene"], None),  # two slips
        ("beutifull", ["beautiful"], None),  # two edits away: a guess
        ("qwzx", [], None),
    ],
)
def test_a_typo_is_corrected_only_to_the_one_clear_spelling(typed, close, corrected):
    assert correction(typed, close) == corrected


def test_slips_are_swaps_and_doubled_or_undoubled_letters():
    assert slips("teh") == {"eth", "the", "tteh", "teeh", "tehh"}
    assert slips("kingg") == {"ikngg", "knigg", "kigng", "king", "kkingg", "kiingg", "kinngg", "kinggg"}


@pytest.mark.parametrize(
    "typed, close, suggested",
    [
        ("dgo", ["do", "go", "ago", "dog", "duo"], "dog"),  # the slip, though "do" is commoner
        ("womn", ["won", "women", "woman", "worn", "womb"], "won"),  # one tier: the commonest
        ("grren", ["green", "geren", "goren", "gruen", "gren"], "green"),  # an undoubled letter: frequency decides
        ("bech", ["beach", "tech", "bench", "beech"], "beach"),  # a doubled letter: frequency decides
        ("fsih", ["fish", "fsh"], "fish"),  # a swap
        ("tpo", ["top", "two", "to"], "top"),  # a swap, before the commoner "to"
        ("beutifull", ["beautiful"], "beautiful"),  # two edits away: still the one suggestion
        ("qwzx", [], None),
    ],
)
def test_a_dropped_word_suggests_the_likeliest_spelling(typed, close, suggested):
    assert likeliest(typed, close) == suggested
