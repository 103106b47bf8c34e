"""Short queries and analogies: which are read with the bank's texts, which asked twice, and where the second search points."""

import numpy as np
import pytest

from xmodal.search.feedback import (
    ANALOGIES,
    ANALOGY_MIN_PHOTOS,
    BANK_TEXT,
    MIN_PHOTOS,
    SHORT_QUERIES,
    Feedback,
    feedback_for,
    is_bank_text,
    is_short,
    with_nearest_texts,
)
from xmodal.text.expression import read_query


def test_the_query_moves_toward_the_unit_mean_of_its_first_results():
    query = np.array([1.0, 0.0, 0.0], dtype=np.float32)
    first = np.array([[0.0, 1.0, 0.0], [0.0, 0.6, 0.8], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]], dtype=np.float32)
    moved = Feedback(0.5, 3).moved(query, first)
    centre = first[:3].mean(axis=0) / np.linalg.norm(first[:3].mean(axis=0))  # the 4th result is not used
    expected = (query + 0.5 * centre) / np.linalg.norm(query + 0.5 * centre)
    assert moved == pytest.approx(expected, abs=1e-6)
    assert np.linalg.norm(moved) == pytest.approx(1.0, abs=1e-6)
    assert Feedback(0.5, 3).moved(query, np.zeros((0, 3))) == pytest.approx(query)  # nothing found: unchanged
    assert Feedback(0.5, 3).moved(query, []) == pytest.approx(query)  # as the engine passes it


def test_a_short_query_moves_toward_the_unit_mean_of_its_nearest_bank_texts():
    query = np.array([1.0, 0.0, 0.0], dtype=np.float32)
    bank = np.array([[0.0, 0.0, 1.0], [0.6, 0.8, 0.0], [0.8, 0.0, 0.6], [0.0, 1.0, 0.0]], dtype=np.float16)
    moved = with_nearest_texts(query, bank, Feedback(0.5, 2))  # the two nearest: rows 2 and 1, not 0 or 3
    centre = np.array([1.4, 0.8, 0.6]) / np.linalg.norm([1.4, 0.8, 0.6])
    expected = (query + 0.5 * centre) / np.linalg.norm(query + 0.5 * centre)
    assert moved == pytest.approx(expected, abs=1e-3)  # the bank is float16, as shipped
    assert np.linalg.norm(moved) == pytest.approx(1.0, abs=1e-6)


def test_a_short_query_that_is_one_of_the_bank_texts_is_left_as_typed():
    bank = np.array([[0.0, 0.0, 1.0], [0.6, 0.8, 0.0], [0.8, 0.0, 0.6], [0.0, 1.0, 0.0]], dtype=np.float16)
    own = np.array([0.6, 0.8, 0.0], dtype=np.float32)  # bank row 1 itself
    assert with_nearest_texts(own, bank, Feedback(0.5, 2), trained=BANK_TEXT) == pytest.approx(own)
    assert with_nearest_texts(own, bank, Feedback(0.5, 2)) != pytest.approx(own, abs=1e-2)  # without it: moved
    near = np.array([1.0, 0.0, 0.0], dtype=np.float32)  # 0.8 from its nearest text: read with the bank
    assert with_nearest_texts(near, bank, Feedback(0.5, 2), trained=BANK_TEXT) == pytest.approx(
        with_nearest_texts(near, bank, Feedback(0.5, 2)))


def test_a_bank_text_is_found_by_its_cosine_to_the_nearest_one():
    bank = np.array([[0.0, 0.0, 1.0], [0.6, 0.8, 0.0]], dtype=np.float16)
    assert is_bank_text(np.array([0.6, 0.8, 0.0], dtype=np.float32), bank)
    assert not is_bank_text(np.array([0.8, 0.6, 0.0], dtype=np.float32), bank)  # 0.96 from row 1
    assert is_bank_text(np.array([0.8, 0.6, 0.0], dtype=np.float32), bank, near=0.95)


def test_only_a_sentence_encoder_reads_the_template_as_a_sentence():
    """A word space would read "a photo of dog" word by word, so the engine sums it in only
    where the space reads whole sentences."""
    from xmodal.text.sentences import SentenceSpace
    from xmodal.text.words import WordSpace

    assert SentenceSpace.reads_sentences and not WordSpace.reads_sentences


@pytest.mark.parametrize("query", ["rocket", "hot drink", "Steeple"])
def test_one_or_two_words_are_asked_twice_in_a_large_enough_index(query):
    assert feedback_for(read_query(query), MIN_PHOTOS) == SHORT_QUERIES and is_short(read_query(query))
    assert feedback_for(read_query(query), MIN_PHOTOS - 1) is None  # a small library: asked once


@pytest.mark.parametrize("query", ["a rocket in the sky", "king - man + woman", "2*rocket", "-rocket", "{photo}", "{photo} + {photo}"])
def test_sentences_weights_arithmetic_and_photos_are_asked_once(query, tmp_path):
    (tmp_path / "beach.jpg").write_bytes(b"")
    expression = read_query(query.format(photo=tmp_path / "beach.jpg"))
    assert feedback_for(expression, 10**6) is None and not is_short(expression)


@pytest.mark.parametrize("query", ["{photo} + snow", "{photo} - summer + winter", "winter - summer + 2*{photo}"])
def test_an_analogy_is_asked_twice_but_not_read_as_a_short_query(query, tmp_path):
    (tmp_path / "beach.jpg").write_bytes(b"")
    expression = read_query(query.format(photo=tmp_path / "beach.jpg"))
    assert feedback_for(expression, ANALOGY_MIN_PHOTOS) == ANALOGIES and not is_short(expression)
    assert feedback_for(expression, ANALOGY_MIN_PHOTOS - 1) is None  # a small library: asked once
