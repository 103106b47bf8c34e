"""xmodal.text.factory: one place turns a space's name into a space."""

from __future__ import annotations

import pytest

from xmodal import SpaceError
from xmodal.text.factory import DEFAULT_SPACE, load_space
from xmodal.text.sentences import SentenceSpace
from xmodal.text.words import WordSpace


def test_no_name_gives_the_shipped_sentence_space():
    for source in (None, "", "default", DEFAULT_SPACE):
        space = load_space(source)
        assert isinstance(space, SentenceSpace) and space.name == "all-minilm-l6-v2"


def test_any_other_name_is_a_word_space(default_space):
    space = load_space("glove-6b-50d")
    assert isinstance(space, WordSpace) and space.identity == default_space.identity


def test_a_name_that_is_neither_says_what_was_looked_for(tmp_path):
    with pytest.raises(SpaceError, match="word-vector file not found"):
        load_space(str(tmp_path / "no-such-vectors.bin"))


@pytest.mark.parametrize("typed, meant", [("glove-6b-5od", "glove-6b-50d"), ("minilm", "all-minilm-l6-v2")])
def test_a_typo_of_a_shipped_space_suggests_it(typed, meant, monkeypatch):
    """Not a failed download's message (offline here, as for many users)."""
    monkeypatch.setattr("gensim.downloader.load", lambda name: (_ for _ in ()).throw(OSError("offline")))
    with pytest.raises(SpaceError, match=f"^unknown word space '{typed}': did you mean '{meant}'"):
        load_space(typed)
