"""The vocabulary table: stored as int8 rows, shipped for the default space, used only when it matches."""

import numpy as np
import pytest

from xmodal.text.identity import SpaceIdentity
from xmodal.text.sentences import SentenceSpace
from xmodal.text.vocabulary import (
    dequantize,
    quantize,
    save_table,
    shipped_vectors,
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
    save_table(tmp_path / "toy-space.npz", IDENTITY, ENTRIES, rows)
    found = shipped_vectors(IDENTITY, ENTRIES, tmp_path)
    assert found is not None and (found * rows).sum(1).min() > 0.9999
    other_weights = SpaceIdentity("toy-space", "sha256:def", 8, 0)
    assert shipped_vectors(other_weights, ENTRIES, tmp_path) is None
    assert shipped_vectors(IDENTITY, {**ENTRIES, "beach": "beach, a shore"}, tmp_path) is None  # a text changed
    assert shipped_vectors(IDENTITY, dict(reversed(ENTRIES.items())), tmp_path) is None  # rows in another order
    assert shipped_vectors(SpaceIdentity("another", "sha256:abc", 8, 0), ENTRIES, tmp_path) is None  # none shipped
    (tmp_path / "toy-space.npz").write_bytes(b"PK\x03\x04 not a whole table")
    assert shipped_vectors(IDENTITY, ENTRIES, tmp_path) is None  # damaged: embedded instead, no traceback


@pytest.fixture(scope="module")
def space() -> SentenceSpace:
    return SentenceSpace.load()


def test_the_package_ships_the_default_spaces_table_for_todays_texts(space):
    """Fails when the vocabulary's texts or the model change without scripts/build_vocabulary_table.py."""
    entries = vocabulary_texts(space.speller.words)
    table = shipped_vectors(space.identity, entries)
    assert table is not None, "rebuild it: .venv/bin/python scripts/build_vocabulary_table.py"
    sample = np.random.default_rng(0).choice(len(entries), 64, replace=False)
    texts = list(entries.values())
    fresh = space.encode([texts[i] for i in sample])
    assert (fresh * table[sample]).sum(1).min() > 0.999  # the rows are these texts, embedded here


def test_a_first_vocabulary_copies_the_shipped_table_instead_of_embedding(space, tmp_path, monkeypatch):
    monkeypatch.setenv("XMODAL_CACHE_DIR", str(tmp_path))  # no vocabulary cached yet
    fresh = SentenceSpace(space.folder, space.identity)
    fresh._speller = space.speller

    def no_batch(texts):
        assert len(texts) < 100, "the vocabulary was embedded, not copied"
        return space.encode(texts)

    monkeypatch.setattr(fresh, "encode", no_batch)
    words, vectors = fresh.vocabulary()
    assert len(words) == len(vectors) > 30_000 and "golden retriever" in words
    assert np.allclose(np.linalg.norm(vectors[:100], axis=1), 1, atol=1e-5)
    assert any(tmp_path.glob("sentences/*-vocabulary-*/vectors.npy"))  # cached as before, for later processes
