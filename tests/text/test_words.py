from __future__ import annotations

import numpy as np
import pytest
from gensim.models import KeyedVectors

from tests.conftest import GENSIM_DATA, tiny_vectors
from xmodal import SpaceError, UnknownWord, WordSpace
from xmodal.text import words as words_module


def unit(v):
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v)


def test_vectors_are_unit_and_zero_rows_stay_zero(tiny_space):
    norms = np.linalg.norm(tiny_space.vectors, axis=1)
    zero = tiny_space.keyed_vectors.key_to_index["zero"]
    assert norms[zero] == 0
    assert np.allclose(np.delete(norms, zero), 1, atol=1e-6)


def test_similarity_is_the_cosine(tiny_space):
    expected = float(unit([1, 1, 0, 0]) @ unit([1, 0, 1, 0]))
    assert tiny_space.vector("king") @ tiny_space.vector("queen") == pytest.approx(expected, abs=1e-6)


def test_phrase_prefers_the_phrase_token(tiny_space):
    vector, keys = tiny_space.lookup("school bus")
    assert keys == ["school_bus"]
    assert np.allclose(vector, unit([0.2, 0.9, 0, 0.3]), atol=1e-6)


def test_phrase_without_token_is_normalised_mean_when_asked(tiny_space):
    tiny_space.phrase_weighting = "mean"
    vector, keys = tiny_space.lookup("royal family")
    assert keys == ["royal", "family"]
    expected = unit(unit([1, 0.5, 0.5, 0]) + unit([0, 0.5, 0.5, 0.2]))
    assert np.allclose(vector, expected, atol=1e-6)


def test_phrase_without_token_is_sif_by_default(tiny_space):
    """SIF: each word weighs a / (a + p), p = 1 / ((rank + 1) H) (Zipf), then the
    common component is removed and the result normalised."""
    assert WordSpace.phrase_weighting == tiny_space.phrase_weighting == "sif"
    royal, family = tiny_space.vectors[8], tiny_space.vectors[9]  # ranks 8 and 9 of 13
    harmonic = sum(1 / r for r in range(1, 14))
    a = words_module.SIF_A
    weights = [a / (a + 1 / ((rank + 1) * harmonic)) for rank in (8, 9)]
    assert np.allclose(tiny_space.sif_weights(["royal", "family"]), weights)
    mixed = unit(weights[0] * royal + weights[1] * family)
    tiny_space.phrase_weighting = "sif-weights"
    assert np.allclose(tiny_space.vector("royal family"), mixed, atol=1e-6)
    tiny_space.phrase_weighting = "sif"
    u = tiny_space.common_component
    assert np.linalg.norm(u) == pytest.approx(1)
    assert np.allclose(tiny_space.vector("royal family"), unit(mixed - (mixed @ u) * u), atol=1e-6)
    tiny_space.phrase_weighting = "median"
    with pytest.raises(ValueError, match="phrase_weighting 'median'"):
        tiny_space.vector("royal family")


def test_one_word_is_its_own_vector_whatever_the_weighting(tiny_space):
    for weighting in words_module.PHRASE_WEIGHTINGS:
        tiny_space.phrase_weighting = weighting
        for term in ("king", "King", "dog dog", "e-mail"):
            assert np.array_equal(tiny_space.vector(term), tiny_space.keyed_vectors[term.split()[0].lower()])


def test_sif_weighs_function_words_less_than_content_words(default_space):
    """In GloVe 'the' is rank 0 and 'dog' rank ~2,000: SIF nearly ignores 'the',
    so 'the dog' stays with 'dog', where the plain mean drifts toward 'the'."""
    the, dog = default_space.sif_weights(["the", "dog"])
    assert the < 0.05 and dog > 0.9
    space = WordSpace(default_space.keys, default_space.vectors, default_space.identity, default_space.common_component)

    def cosines(weighting):
        space.phrase_weighting = weighting
        return (
            float(space.vector("the dog") @ space.vector("dog")),
            float(space.vector("a dog on the beach") @ space.vector("dog beach")),
        )

    mean, weights, sif = cosines("mean"), cosines("sif-weights"), cosines("sif")
    assert weights[0] > 0.99 > 0.9 > mean[0]
    assert sif[1] > 0.95 and weights[1] > 0.95 > 0.85 > mean[1]


def test_known_words_and_unknown_ones(tiny_space, default_space):
    assert tiny_space.known("King") and tiny_space.known("e-mail") and tiny_space.known("dog-king")
    assert not tiny_space.known("kinng") and not tiny_space.known("dog-kinng")
    for word in ("Dog", "DOG", "t-shirt", "three-year-old", "girl's", "don't", "U.S."):
        assert default_space.known(word), word
    assert not default_space.known("turquiose") and not default_space.known("contracption")


def test_lowercase_space_folds_case(tiny_space):
    assert tiny_space.lowercase
    assert tiny_space.lookup("King")[1] == ["king"]
    assert tiny_space.lookup("School Bus")[1] == ["school_bus"]


def test_cased_space_finds_cased_phrase_tokens(cased_space):
    assert not cased_space.lowercase
    assert cased_space.lookup("new york")[1] == ["New_York"]
    assert cased_space.lookup("paris")[1] == ["Paris"]
    assert cased_space.lookup("new")[1] == ["new"]  # exact spelling wins over Title case


def test_hyphenated_word_falls_back_to_its_parts(tiny_space):
    assert tiny_space.lookup("e-mail")[1] == ["e-mail"]
    assert tiny_space.lookup("dog-king")[1] == ["dog", "king"]


def test_unknown_word_names_the_word_and_suggests(tiny_space):
    with pytest.raises(UnknownWord) as caught:
        tiny_space.vector("royal fmily")
    assert caught.value.word == "fmily"
    assert "family" in caught.value.suggestions
    assert "'fmily'" in str(caught.value) and "\n" not in str(caught.value)
    assert "kinng" not in tiny_space and "king" in tiny_space


def test_suggestions_rank_by_frequency(default_space):
    suggestions = default_space.suggest("kingg")
    assert suggestions[0] == "king"
    assert len(suggestions) <= 5


@pytest.mark.parametrize(
    "name, reader",
    [
        ("euclidean_vectors.bin", lambda p: KeyedVectors.load_word2vec_format(p, binary=True)),
        ("toy-model.vec", lambda p: KeyedVectors.load_word2vec_format(p)),
        ("lee_fasttext.vec", lambda p: KeyedVectors.load_word2vec_format(p)),
        ("test_glove.txt", lambda p: KeyedVectors.load_word2vec_format(p, no_header=True)),
    ],
)
def test_loads_each_file_format(name, reader):
    path = str(GENSIM_DATA / name)
    space = WordSpace.load(path)
    reference = reader(path)
    assert len(space) == len(reference) and space.dim == reference.vector_size
    word = reference.index_to_key[3]
    assert np.allclose(space.vector(word), unit(reference[word]), atol=1e-5)
    assert space.name == name


def test_loads_a_gensim_kv_file(tmp_path):
    path = tmp_path / "tiny.kv"
    tiny_vectors().save(str(path))
    space = WordSpace.load(path)
    assert space.nearest("king - man + woman", k=1)[0].word == "queen"


def test_second_load_comes_from_the_memory_mapped_cache(monkeypatch):
    path = str(GENSIM_DATA / "toy-model.vec")
    first = WordSpace.load(path)

    def no_reread(_path):
        raise AssertionError("the source was read again")

    monkeypatch.setattr(words_module, "_read_file", no_reread)
    second = WordSpace.load(path)
    assert isinstance(second.vectors, np.memmap)
    assert second.identity == first.identity


def test_missing_file_is_a_clear_error():
    with pytest.raises(SpaceError, match="word-vector file not found: missing/vectors.bin"):
        WordSpace.load("missing/vectors.bin")


def test_garbage_file_is_a_clear_error(tmp_path):
    path = tmp_path / "garbage.bin"
    path.write_bytes(b"\x00\x01 not vectors at all")
    with pytest.raises(SpaceError, match="cannot read word vectors from .*garbage.bin"):
        WordSpace.load(path)


@pytest.mark.parametrize("text", ["x\n", "a\nb\n"])
def test_words_without_numbers_are_a_clear_error(tmp_path, text):
    path = tmp_path / "words.txt"
    path.write_text(text)
    with pytest.raises(SpaceError, match="^cannot read word vectors from .*words.txt: no numbers after its words$"):
        WordSpace.load(path)


def test_gensim_data_name_goes_to_the_downloader(monkeypatch):
    import gensim.downloader

    def offline(name):
        raise ValueError("unable to read local cache, connect to the Internet and retry")

    monkeypatch.setattr(gensim.downloader, "load", offline)
    with pytest.raises(SpaceError, match="'word2vec-google-news-300' is not a file.*needs internet"):
        WordSpace.load("word2vec-google-news-300")

    monkeypatch.setattr(gensim.downloader, "load", lambda name: tiny_vectors())
    assert WordSpace.load("tiny-from-hub").nearest("dog", k=1)[0].word == "dogs"


def test_load_caches_the_common_component_beside_the_vectors(monkeypatch):
    path = str(GENSIM_DATA / "toy-model.vec")
    first = WordSpace.load(path)
    fresh = WordSpace.from_keyed_vectors(KeyedVectors.load_word2vec_format(path), "toy-model.vec")
    assert np.allclose(first.common_component, fresh.common_component)

    def no_recompute(*args):
        raise AssertionError("the common component was computed again")

    monkeypatch.setattr(words_module, "_common_component", no_recompute)
    assert np.allclose(WordSpace.load(path).common_component, first.common_component)


@pytest.mark.parametrize(
    "query",
    [
        "king - man + woman",
        "king-man+woman",
        "King - Man + Woman.",
        "2*king - 2*man + 2*woman",
    ],
)
def test_king_minus_man_plus_woman_is_queen_however_typed(default_space, query):
    assert default_space.nearest(query, k=1)[0].word == "queen"


@pytest.mark.parametrize(
    "query, near",
    [
        ("A black and gray cat stands on a contracption while two big dogs stare at it .", {"cat", "dog", "dogs"}),
        ("Two dogs play in the snow.", {"dogs", "snow", "cats", "rabbits"}),
        ("a man in a red t-shirt climbs a rock", {"jacket", "shirt", "red", "blue"}),
        ("The girl's dog is running", {"puppy", "cat", "kitten", "boy"}),
        ("Dog on a beach!", {"cat", "beaches", "dogs"}),
        ("DOG", {"dogs", "cat", "puppy"}),
        ("turquoise water", {"blue", "waters", "sand", "reef"}),
    ],
)
def test_captions_as_people_wrote_them_find_their_words(default_space, query, near):
    hits = {h.word for h in default_space.nearest(query, k=25, limit=30_000)}
    assert hits & near, hits


def test_misspelt_word_is_dropped_with_its_suggestion(default_space):
    query = default_space.query("turquiose water")
    assert query.notes == ('dropped "turquiose" (not in glove-6b-50d; did you mean "turquoise"?)',)
    assert query.inputs == {"water"}


def test_default_space_is_glove_6b_50d(default_space):
    assert len(default_space) == 400_000 and default_space.dim == 50
    assert default_space.name == "glove-6b-50d"
    assert default_space.lowercase
    assert default_space.nearest("king - man + woman", k=1)[0].word == "queen"
    assert np.allclose(np.linalg.norm(default_space.vectors[:1000], axis=1), 1, atol=1e-5)


def test_a_converted_space_answers_with_numpy_alone(default_space):
    """Once converted, loading GloVe and answering a sentence or an analogy imports neither
    gensim (with scipy, about a second) nor torch; the speed is benchmarks/cold_start.py's."""
    import subprocess
    import sys

    probe = (
        "import sys; from xmodal import WordSpace; space = WordSpace.load(); "
        "space.query('A black and white dog is runing through the snow in a park .'); "
        "print(space.nearest('king - man + woman', k=1)[0].word, "
        "sorted(m for m in ('torch', 'gensim', 'scipy') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["queen", "[]"]
