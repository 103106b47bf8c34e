"""WordNet definitions for short queries: the table, its build, and where it applies."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.search.test_engine import cli_in_a_fresh_process, indexed  # noqa: F401  (a fixture)
from xmodal.text.glosses import (
    DEFAULT,
    DEFAULT_TABLE,
    Expansion,
    GlossTable,
    shipped_table,
)

ROOT = Path(__file__).resolve().parents[2]
WORDNET = Path("/usr/share/wordnet")
sys.path.insert(0, str(ROOT / "scripts"))

from build_glosses import build, choose, definition, table_text
from build_hierarchy import Noun

needs_wordnet = pytest.mark.skipif(
    not (WORDNET / "index.noun").is_file(), reason="WordNet 3.0 is absent (apt-get install wordnet-base)"
)


def test_the_shipped_table_holds_the_definitions_people_mean():
    table = shipped_table()
    assert "tower" in table.get("steeple") and "church" in table.get("steeple")
    assert "putting green" in table.get("fairway")  # the tagged first sense, not the shipping lane
    assert "tool" in table.get("saw") and "fisherman" in table.get("angler")  # not a saying, not a schemer


@needs_wordnet
def test_the_bank_rules_choose_the_sense_photos_show():
    """WordNet's first sense of "saw" is a saying and of "angler" a scheming person;
    nearest the model's training texts they are the tool and the fisherman."""
    from build_glosses import bank_closeness, read_index
    from build_hierarchy import read_nouns

    from xmodal.devise.encoder import DEFAULT_MODEL
    from xmodal.devise.model import DeviseModel
    from xmodal.text.sentences import SentenceSpace

    _, nouns = read_nouns(WORDNET)
    index = read_index(WORDNET)
    bank, space = DeviseModel.hub_of(DEFAULT_MODEL).bank, SentenceSpace.load()
    first = choose(index, nouns, ["saw", "angler"], "first")
    assert "saying" in first["saw"] and "scheming" in first["angler"]
    for senses in ("nearest", "centroid"):
        chosen = choose(index, nouns, ["saw", "angler", "steeple"], senses, bank_closeness(space, bank, senses))
        assert "tool" in chosen["saw"] and "tower" in chosen["steeple"]
        if senses == "centroid":
            assert "fisherman" in chosen["angler"]
        else:  # the anglerfish: the fish is nearer the bank's 5 nearest texts than the fisherman
            assert "fishes" in chosen["angler"]


def test_lookup_takes_any_case_plurals_and_two_words_but_not_sentences():
    table = shipped_table()
    assert table.get("Steeples") == table.get("steeple")
    assert "golf" in table.get("golf course")
    assert table.get("golf courses") == table.get("golf course")
    assert table.get("a tall steeple") is None
    assert table.get("qwertyuiop") is None and table.get("") is None


def test_binary_search_finds_every_row_and_nothing_else(tmp_path):
    words = {f"w{i:03d}": f"definition {i}" for i in range(0, 300, 3)}
    path = tmp_path / "table.tsv"
    path.write_text(table_text(words, {"format": "test"}), encoding="utf-8")
    table = GlossTable(path)
    for word, text in words.items():
        assert table.get(word) == text
    for missing in ("w001", "w299", "a", "zzz", "#{"):
        assert table.get(missing) is None


def test_sense_choice_trusts_tag_counts_then_the_bank():
    nouns = {
        "n1": Noun(["saw"], [], [], "a condensed but memorable saying; 'an old saw'"),
        "n2": Noun(["saw"], [], [], "hand tool having a toothed blade for cutting"),
        "n3": Noun(["fairway"], [], [], "the area between the tee and putting green"),
        "n4": Noun(["fairway"], [], [], "the usual course taken by vessels"),
    }
    index = {"saw": (["n1", "n2"], [0, 0]), "fairway": (["n3", "n4"], [2, 0])}
    near_tools = lambda texts: np.array([("tool" in t) + ("vessels" in t) for t in texts], dtype=float)
    chosen = choose(index, nouns, ["fairway", "saw"], "centroid", near_tools)
    assert chosen == {"saw": "hand tool having a toothed blade for cutting", "fairway": nouns["n3"].gloss}
    assert choose(index, nouns, ["saw"], "first")["saw"] == "a condensed but memorable saying"
    assert definition(nouns["n1"].gloss) == "a condensed but memorable saying"


@needs_wordnet
def test_the_build_is_deterministic_and_sorted_for_binary_search():
    from xmodal.text.sentences import SentenceSpace

    space = SentenceSpace.load()
    first, again = (build(WORDNET, "first", space, None, "none") for _ in range(2))
    assert first == again
    keys = [line.split("\t")[0].encode() for line in first.splitlines()[1:]]
    assert keys == sorted(keys) and len(keys) == len(set(keys)) > 40_000


@needs_wordnet
def test_the_shipped_table_is_what_the_script_builds(tmp_path):
    out = tmp_path / "glosses.tsv"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, str(ROOT / "scripts" / "build_glosses.py"), "--out", str(out)], env=env, check=True,
                   capture_output=True)
    assert out.read_bytes() == DEFAULT_TABLE.read_bytes()


@pytest.fixture(scope="module")
def space():
    from xmodal.text.sentences import SentenceSpace

    return SentenceSpace.load()


def test_short_rare_words_are_expanded_and_sentences_and_common_words_are_not(space):
    plain = lambda text: space.encode([text])[0]
    for short in ("steeple", "Steeples", "thatched roof"):  # cut into more pieces than words
        assert not np.allclose(space.lookup(short)[0], plain(short), atol=1e-3)
    read = plain("steeple") + DEFAULT.weight * plain(shipped_table().get("steeple"))
    assert np.allclose(space.lookup("steeple")[0], read / np.linalg.norm(read), atol=1e-6)
    for left in ("dog", "golf course", "a steeple above the village"):  # one piece a word; a sentence
        assert np.allclose(space.lookup(left)[0], plain(left), atol=1e-6)
    assert space.lookup("steeple")[1] == ["steeple"]
    church = plain("church")
    assert space.lookup("steeple")[0] @ church > plain("steeple") @ church + 0.05  # the meaning, not "steep"


def test_expansion_can_be_turned_off_and_leaves_words_without_a_definition_alone(space):
    try:
        space.expansion = None
        assert np.allclose(space.lookup("steeple")[0], space.encode(["steeple"])[0], atol=1e-6)
    finally:
        space.expansion = DEFAULT
    assert np.allclose(space.lookup("zxqv")[0], space.encode(["zxqv"])[0], atol=1e-6)


def test_a_multi_piece_scope_leaves_one_piece_words_alone(space):
    pieces = Expansion("prefix", scope="pieces")
    encode = lambda text: space.encode([text])[0]
    assert pieces.vector("dog", "a domestic animal", encode, space._pieces) is None
    assert pieces.vector("steeple", "a tall tower", encode, space._pieces) is not None
    summed = Expansion("sum", 2.0).vector("dog", "a domestic animal", encode, space._pieces)
    expected = encode("dog") + 2 * encode("a domestic animal")
    assert np.allclose(summed, expected / np.linalg.norm(expected), atol=1e-6)


def test_a_short_text_query_stays_torch_free(indexed):  # noqa: F811
    _, index = indexed
    _, loaded = cli_in_a_fresh_process(["query", "steeple", "--index", str(index), "--json"], ("torch", "transformers"))
    assert loaded == []
