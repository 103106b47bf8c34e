"""xmodal.text.wordpiece against the ``tokenizers`` library on the same tokenizer.json:
the same ids for real captions and for generated text of every kind of character."""

from __future__ import annotations

import json
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer

from xmodal.core.errors import SpaceError
from xmodal.text.sentences import SentenceSpace
from xmodal.text.wordpiece import WordPiece, save_tokens


@pytest.fixture(scope="module")
def pair():
    space = SentenceSpace.load()
    reference = Tokenizer.from_file(str(space.folder / "tokenizer.json"))
    reference.enable_truncation(128)
    reference.no_padding()
    return space.tokenizer, reference


ODD = [
    "Café déjà vu, naïve façade", "I'm 5'11\" tall; e-mail: a@b.com", "$100 + 5^2 = ~`|", "«quoted» „low“",
    "[CLS] hello [MASK]x[unused0] [SEP]", "日本語のテキスト and 中文", "emoji 🐶🏖️ dog", "tab\tnew\nline\r",
    "a\u00a0b\u2003c\u3000d", "\x1c\x1dx\x00y\ufffdz", "Ǆ İstanbul ß ﬁ Ⅻ", "zero\u200bwidth \ufeffbom",
    "x" * 101, "x" * 100, "supercalifragilisticexpialidocious", "word " * 300, "", "ΟΔΟΣ ΣΤΗ ΘΑΛΑΣΣΑ",
]


@pytest.mark.parametrize("text", ODD)
def test_odd_text_gets_the_reference_ids(pair, text):
    mine, reference = pair
    assert mine.encode(text) == reference.encode(text).ids


def test_long_text_keeps_its_first_126_tokens(pair):
    mine, _ = pair
    ids = mine.encode("dog " * 300)
    assert len(ids) == 128 and ids[0] == mine.ids["[CLS]"] and ids[-1] == mine.ids["[SEP]"]
    assert set(ids[1:-1]) == {mine.ids["dog"]}


# Characters with the same category in Unicode 3.2 (which Python also ships) as now: tokenizers'
# tables are older than Python's, so later characters can differ (U+11660 is punctuation only in
# Python's); a real query is made of long-settled characters.
CHARACTERS = st.characters(codec="utf-8", exclude_categories=("Cn", "Cs")).filter(
    lambda c: unicodedata.ucd_3_2_0.category(c) == unicodedata.category(c)
)
PIECES = st.one_of(
    st.text(st.one_of(CHARACTERS, st.sampled_from(list(" .,!?'\"-:;()[]$#@&*/\\^_`~\t\n\u00a0éèüñçßØ日中"))), max_size=20),
    st.sampled_from(["dog", "Running", "photo", " ", "[CLS]", "[MASK]", "[SEP]", "[UNK]", "[unused1]"]),
)


@settings(max_examples=400, deadline=None)
@given(text=st.lists(PIECES, max_size=8).map("".join))
def test_any_text_gets_the_reference_ids(pair, text):
    mine, reference = pair
    assert mine.encode(text) == reference.encode(text).ids


def test_real_captions_get_the_reference_ids(pair, shared_set):
    from xmodal.training.datasets import read_captions

    mine, reference = pair
    captions = list(read_captions(shared_set("flickr8k-captions")).captions)
    theirs = [e.ids for e in reference.encode_batch(captions)]
    assert [mine.encode(c) for c in captions] == theirs


def test_another_kind_of_tokenizer_is_refused(pair, tmp_path):
    config = json.loads((SentenceSpace.load().folder / "tokenizer.json").read_text())
    config["normalizer"]["lowercase"] = False  # a cased model would tokenize differently
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(config))
    with pytest.raises(SpaceError, match="not an uncased BERT WordPiece tokenizer"):
        save_tokens(path, tmp_path)
    config["normalizer"]["lowercase"] = True
    path.write_text(json.dumps(config))
    save_tokens(path, tmp_path)
    assert WordPiece.load(tmp_path, 128).encode("Dog!") == pair[1].encode("Dog!").ids
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "dog", "##s"]
    plain = WordPiece({t: i for i, t in enumerate(tokens)}, [], 8)  # no special tokens to match
    assert plain.encode("Dogs [CLS]") == [2, 4, 5, 1, 1, 1, 3]  # "[", "cls", "]" are words here
