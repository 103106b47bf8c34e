"""xmodal.search.analogy: a photo read as the mean of the bank texts nearest it."""

from __future__ import annotations

import numpy as np
import pytest

from xmodal.search.analogy import WithSentences, added_up, described, with_template
from xmodal.search.feedback import TEMPLATE
from xmodal.text.expression import parse


def unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=-1, keepdims=True)


def test_a_photo_is_the_unit_mean_of_its_nearest_texts():
    rng = np.random.default_rng(0)
    bank = unit(rng.normal(size=(50, 8))).astype(np.float16)
    photo = unit(rng.normal(size=8))
    texts = bank.astype(np.float32)
    nearest = np.argsort(-(texts @ photo))[:5]
    mean = texts[nearest].mean(axis=0)
    assert np.allclose(described(photo, bank, k=5), mean / np.linalg.norm(mean), atol=1e-6)


def test_the_far_texts_do_not_count_and_k_beyond_the_bank_takes_all():
    bank = np.eye(4, dtype=np.float32)
    photo = unit(np.array([0.9, 0.4, 0.1, 0.0]))
    assert np.allclose(described(photo, bank, k=2), unit(np.array([1.0, 1.0, 0.0, 0.0])))
    assert np.allclose(described(photo, bank, k=10), unit(np.ones(4)))


def test_the_words_an_analogy_adds_are_weighted_up_and_the_rest_kept(tmp_path):
    photo = tmp_path / "beach.jpg"
    photo.write_bytes(b"")
    read = added_up(parse(f"{photo} - snow + 2*sandy beach + dog"), weight=1.5)
    assert [(t.kind, t.text, t.weight) for t in read.terms] == [
        ("image", str(photo), 1.0), ("text", "snow", -1.0), ("text", "sandy beach", 3.0), ("text", "dog", 1.5)]


class Texts:
    """A stand-in sentence space: each text's vector is given."""

    name = "texts"

    def __init__(self, vectors: dict[str, np.ndarray]) -> None:
        self.vectors = vectors

    def lookup(self, term: str, suggest: bool = True) -> tuple[np.ndarray, list[str]]:
        return self.vectors[term], term.split()


def test_an_analogys_short_words_are_read_with_their_sentence_and_longer_texts_as_they_are():
    space = Texts({"beach": np.array([2.0, 0.0, 0.0]), "a photo of beach": np.array([0.0, 3.0, 0.0]),
                   "a dog on a beach": np.array([0.0, 0.0, 1.0])})
    read = WithSentences(space, "a photo of {}")
    vector, words = read.lookup("beach")
    assert np.allclose(vector, np.array([1.0, 1.0, 0.0]) / np.sqrt(2)) and words == ["beach"]
    assert np.allclose(read.lookup("a dog on a beach")[0], [0.0, 0.0, 1.0])  # more than two words: as it is
    assert read.name == "texts"  # everything else is the space's own


def test_a_short_text_is_summed_with_its_sentence_as_unit_vectors():
    query = np.array([2.0, 0.0, 0.0], dtype=np.float32)  # not unit: each counts alike whatever its length
    sentence = np.array([0.0, 0.5, 0.0], dtype=np.float32)
    assert with_template(query, sentence) == pytest.approx(np.array([1.0, 1.0, 0.0]) / np.sqrt(2), abs=1e-6)
    assert TEMPLATE.format("hot drink") == "a photo of hot drink"
