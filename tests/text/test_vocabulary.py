"""The vocabulary table: stored as int8 rows, shipped for the default space, used only when it matches."""

import shutil

import numpy as np
import pytest

from xmodal.core.errors import SpaceError
from xmodal.search.feedback import TEMPLATE
from xmodal.text import vocabulary
from xmodal.text.identity import SpaceIdentity
from xmodal.text.sentences import SentenceSpace
from xmodal.text.space import with_sentences
from xmodal.text.vocabulary import (
    dequantize,
    nearest_words,
    quantize,
    save_table,
    sentence_texts,
    shipped_vectors,
    table_path,
    vocabulary_texts,
)

IDENTITY = SpaceIdentity("toy-space", "sha256:abc", 8, 0)
ENTRIES = {"dog": "dog", "golden retriever": "golden retriever, a breed of dog", "beach": "beach"}


def unit_rows(n: int, dim: int, seed: int = 0) -> np.ndarray:
    rows = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_int8_rows_come_back_as_unit_rows_close_to_the_originals():
    rows = unit_rows(500, 384)
    codes, scales = quantize(rows)
    assert codes.dtype == np.int8 and scales.shape == (500,) and np.abs(codes).max() == 127
    back = dequantize(codes, scales)
    assert np.allclose(np.linalg.norm(back, axis=1), 1, atol=1e-6)
    assert (back * rows).sum(1).min() > 0.9999


def test_the_table_is_used_only_for_the_same_weights_and_the_same_texts(tmp_path):
    rows = unit_rows(len(ENTRIES), IDENTITY.dim)
    path = table_path(IDENTITY, folder=tmp_path)
    save_table(path, IDENTITY, ENTRIES, rows)
    found = shipped_vectors(IDENTITY, ENTRIES, path)
    assert found is not None and (found * rows).sum(1).min() > 0.9999
    other_weights = SpaceIdentity("toy-space", "sha256:def", 8, 0)
    assert shipped_vectors(other_weights, ENTRIES, path) is None
    assert shipped_vectors(IDENTITY, {**ENTRIES, "beach": "beach, a shore"}, path) is None  # a text changed
    assert shipped_vectors(IDENTITY, dict(reversed(ENTRIES.items())), path) is None  # rows in another order
    assert shipped_vectors(IDENTITY, sentence_texts(ENTRIES, TEMPLATE), path) is None  # the sentences' table is another
    assert shipped_vectors(IDENTITY, ENTRIES, tmp_path / "none.npz") is None  # none shipped
    path.write_bytes(b"PK\x03\x04 not a whole table")
    assert shipped_vectors(IDENTITY, ENTRIES, path) is None  # damaged: embedded instead, no traceback


def test_a_word_read_with_its_sentence_is_the_unit_sum_of_both():
    typed, sentences = unit_rows(4, 16, seed=1) * 3, unit_rows(4, 16, seed=2)  # any length: each row is made unit
    read = with_sentences(typed, sentences)
    assert np.allclose(np.linalg.norm(read, axis=1), 1, atol=1e-6)
    expected = typed / 3 + sentences
    assert np.allclose(read, expected / np.linalg.norm(expected, axis=1, keepdims=True), atol=1e-6)
    assert table_path(IDENTITY, TEMPLATE).name == "toy-space-sentences.npz" != table_path(IDENTITY).name


@pytest.fixture(scope="module")
def space() -> SentenceSpace:
    return SentenceSpace.load()


@pytest.mark.parametrize("template", [None, TEMPLATE], ids=["words", "sentences"])
def test_the_package_ships_the_default_spaces_table_for_todays_texts(space, template):
    """Fails when the vocabulary's texts or the model change without scripts/build_vocabulary_table.py."""
    entries = vocabulary_texts(space.speller.words)
    if template is not None:
        entries = sentence_texts(entries, template)
    table = shipped_vectors(space.identity, entries, table_path(space.identity, template))
    assert table is not None, "rebuild it: .venv/bin/python scripts/build_vocabulary_table.py"
    sample = np.random.default_rng(0).choice(len(entries), 64, replace=False)
    texts = list(entries.values())
    fresh = space.encode([texts[i] for i in sample])
    assert (fresh * table[sample]).sum(1).min() > 0.999  # the rows are these texts, embedded here


@pytest.mark.parametrize("template", [None, TEMPLATE], ids=["words", "a photo's words"])
def test_a_first_vocabulary_copies_the_shipped_table_instead_of_embedding(space, tmp_path, monkeypatch, template):
    monkeypatch.setenv("XMODAL_CACHE_DIR", str(tmp_path))  # no vocabulary cached yet
    fresh = SentenceSpace(space.folder, space.identity)
    fresh._speller = space.speller

    def no_batch(texts):
        assert len(texts) < 100, "the vocabulary was embedded, not copied"
        return space.encode(texts)

    monkeypatch.setattr(fresh, "encode", no_batch)
    words, vectors = fresh.vocabulary(template)
    assert len(words) == len(vectors) > 30_000 and "golden retriever" in words
    assert np.allclose(np.linalg.norm(vectors[:100], axis=1), 1, atol=1e-5)
    folders = sorted(p.parent.name for p in tmp_path.glob("sentences/*-vocabulary-*/vectors.npy"))
    assert len(folders) == (1 if template is None else 2)  # cached as before, for later processes; a photo's reading beside
    if template is not None:
        cached = np.load(tmp_path / "sentences" / folders[-1] / "vectors.npy", mmap_mode="r")
        assert isinstance(vectors, np.memmap) and np.array_equal(cached[:100], vectors[:100])  # kept summed, not summed again


def test_a_photos_words_read_each_word_with_its_a_photo_of_sentence(space):
    words, typed = space.vocabulary()
    photo_words, read = space.vocabulary(TEMPLATE)
    assert photo_words == words and read.shape == typed.shape
    i = words.index("canyon")
    sentence = space.encode(["a photo of canyon"])[0]
    assert float(read[i] @ with_sentences(typed[i : i + 1], sentence[None])[0]) > 0.999  # the shipped int8 rows, near
    assert float(read[i] @ typed[i]) < 0.99  # not the word alone
    # nearest_words scans the reading it is asked for: the row itself comes first in each
    assert nearest_words(space, read[i], 1, TEMPLATE)[0].word == "canyon"
    assert nearest_words(space, read[i], 1)[0].score < nearest_words(space, read[i], 1, TEMPLATE)[0].score


def test_a_word_space_has_one_reading_of_its_vocabulary(tiny_space):
    """GloVe reads no sentences ("a photo of cat" would be the mean of three words), so a
    photo's words are its words as they are, from the one table."""
    vector = tiny_space.vector(tiny_space.keys[0])
    assert nearest_words(tiny_space, vector, 3, TEMPLATE) == nearest_words(tiny_space, vector, 3)
    assert list(vocabulary._TABLES[tiny_space]) == [None]


def test_a_photos_reading_is_embedded_and_summed_where_no_table_ships(space, tmp_path, monkeypatch):
    """Another sentence space, or texts changed: the words, then their sentences, are
    embedded; the cache keeps the rows summed; a typed table whose words are not
    today's is refused in one line naming its folder, and nothing half-written is left."""
    monkeypatch.setenv("XMODAL_CACHE_DIR", str(tmp_path))
    every = vocabulary.vocabulary_texts(space.speller.words)
    few = dict(list(every.items())[:40])
    monkeypatch.setattr(vocabulary, "vocabulary_texts", lambda words: few)
    monkeypatch.setattr(vocabulary, "shipped_vectors", lambda *args: None)
    fresh = SentenceSpace(space.folder, space.identity)
    fresh._speller = space.speller
    words, read = fresh.vocabulary(TEMPLATE)
    assert words == list(few) and read.shape == (40, space.dim)
    typed = space.encode(list(few.values()))
    sentences = space.encode([TEMPLATE.format(word) for word in few])
    assert np.allclose(read, with_sentences(typed, sentences), atol=1e-5)  # summed, not the sentences alone
    assert not np.allclose(read, sentences, atol=1e-2)

    cached = sorted((tmp_path / "sentences").glob("*-vocabulary-*"))
    typed_folder = next(folder for folder in cached if not folder.name.endswith(fresh_suffix(cached)))
    (typed_folder / "words.txt").write_text("\n".join(["zzz", *list(few)[1:]]), encoding="utf-8")
    for folder in cached:
        if folder != typed_folder:
            shutil.rmtree(folder)
    again = SentenceSpace(space.folder, space.identity)
    again._speller = space.speller
    with pytest.raises(SpaceError, match="differ from today's vocabulary; delete .*-vocabulary-") as error:
        again.vocabulary(TEMPLATE)
    assert "\n" not in str(error.value) and str(typed_folder) in str(error.value)
    assert sorted((tmp_path / "sentences").glob("*-vocabulary-*")) == [typed_folder]


def fresh_suffix(folders: list) -> str:
    """The part a photo's reading adds to the typed table's folder name."""
    shortest = min(folders, key=lambda folder: len(folder.name)).name
    return next(folder.name for folder in folders if folder.name != shortest)[len(shortest):]
