from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xmodal import Expression, ExpressionError, Term, UnknownWord, parse
from xmodal.text.expression import read_query, word_forms


def texts(expression: Expression) -> list[tuple[str, str, float]]:
    return [(t.kind, t.text, t.weight) for t in expression.terms]


@pytest.mark.parametrize(
    "query, expected",
    [
        ("dog", [("text", "dog", 1.0)]),
        ("king - man + woman", [("text", "king", 1), ("text", "man", -1), ("text", "woman", 1)]),
        ("king-man+woman", [("text", "king", 1), ("text", "man", -1), ("text", "woman", 1)]),
        ("-man", [("text", "man", -1)]),
        ("2*dog", [("text", "dog", 2)]),
        ('0.5 * "royal family"', [("text", "royal family", 0.5)]),
        ("royal family - 1.5e0*man", [("text", "royal family", 1), ("text", "man", -1.5)]),
        ("'school   bus'", [("text", "school bus", 1)]),
        ('"e-mail" + dog', [("text", "e-mail", 1), ("text", "dog", 1)]),
        ("potter's wheel", [("text", "potter's wheel", 1)]),
        ("1990 + 2*1991", [("text", "1990", 1), ("text", "1991", 2)]),
        ("Two dogs play in the snow.", [("text", "Two dogs play in the snow.", 1)]),
        ("Dog on a beach!", [("text", "Dog on a beach!", 1)]),
        ('a sign that says "Free Dinner" .', [("text", "a sign that says Free Dinner .", 1)]),
        ('dog "cat"', [("text", "dog cat", 1)]),
        ("A baby cries in a woman 's arms .", [("text", "A baby cries in a woman 's arms .", 1)]),
        ("rock 'n' roll - 'royal family'", [("text", "rock n roll", 1), ("text", "royal family", -1)]),
        ("'potter's wheel'", [("text", "potter's wheel", 1)]),
        ("'tis the season", [("text", "'tis the season", 1)]),
    ],
)
def test_parses_terms_signs_weights_and_phrases(query, expected):
    assert texts(parse(query)) == [(k, t, float(w)) for k, t, w in expected]


@pytest.mark.parametrize(
    "query, message",
    [
        ("", "empty query"),
        ("   ", "empty query"),
        ("dog +", "dangling '+'"),
        ("dog -", "dangling '-'"),
        ("dog + - cat", "two operators in a row at column 7: '+' then '-'"),
        ("dog ++ cat", "two operators in a row"),
        ("* dog", "'*' at column 1 must follow a weight"),
        ("2*", "dangling '*'"),
        ("2* + dog", "two operators in a row at column 4: '*' then '+'"),
        ("abc*dog", "bad weight 'abc'"),
        ("1.2.3*dog", "bad weight '1.2.3'"),
        ("1e999*dog", "bad weight '1e999'"),
        ("dog 2*cat", "missing '+' or '-' before '2'"),
        ('"dog" 2*cat', "missing '+' or '-' before '2'"),
        ("dog img:cat.jpg", "missing '+' or '-' before 'cat.jpg'"),
        ('"dog', 'unterminated " quote starting at column 1'),
        ('dog + ""', "empty quoted phrase at column 7"),
        ("missing.jpg - summer", "image file not found: missing.jpg"),
        ("img:", "has no path after it"),
    ],
)
def test_each_mistake_has_its_own_one_line_message(query, message):
    with pytest.raises(ExpressionError) as caught:
        parse(query)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_folder_given_as_a_photo_says_so(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "holiday").mkdir()
    for query in ("holiday/", "holiday/ - summer"):
        with pytest.raises(ExpressionError, match=r"^holiday/ is a folder, not a photo$"):
            read_query(query)


def test_image_terms_by_suffix_path_or_prefix(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "beach.JPG").write_bytes(b"x")
    (tmp_path / "my photo").write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "sea-side").write_bytes(b"x")
    expression = parse("beach.JPG - summer + winter")
    assert texts(expression) == [
        ("image", "beach.JPG", 1.0),
        ("text", "summer", -1.0),
        ("text", "winter", 1.0),
    ]
    assert texts(parse('img:"my photo" + 2*sub/sea-side'))[0] == ("image", "my photo", 1.0)
    assert texts(parse('img:"my photo" + 2*sub/sea-side'))[1] == ("image", "sub/sea-side", 2.0)
    assert expression.images[0].name == "beach.JPG"


@pytest.mark.parametrize(
    "query, expected",
    [
        ("a man in a red t-shirt climbs a rock", [("a man in a red t-shirt climbs a rock", 1)]),
        ("three-year-old black-and-white dog", [("three-year-old black-and-white dog", 1)]),
        ("t-shirt + beach", [("t-shirt", 1), ("beach", 1)]),
        ("2*t-shirt - summer", [("t-shirt", 2), ("summer", -1)]),
        ("dog-cat", [("dog-cat", 1)]),
        ("covid-19 - 1990-1991", [("covid-19", 1), ("1990-1991", -1)]),
        # a hyphen needs a letter or digit on both sides, with no space
        ("king - man", [("king", 1), ("man", -1)]),
        ("king -man", [("king", 1), ("man", -1)]),
        ("king- man", [("king", 1), ("man", -1)]),
        ('"royal family"-man', [("royal family", 1), ("man", -1)]),
        ("dog-2*cat", [("dog", 1), ("cat", -2)]),  # 2*cat is a weighted term, not a word
        # compact arithmetic: a '+' touching a word makes every '-' an operator
        ("king-man+woman", [("king", 1), ("man", -1), ("woman", 1)]),
        ("king-man +woman", [("king", 1), ("man", -1), ("woman", 1)]),
        ("t-shirt+beach", [("t", 1), ("shirt", -1), ("beach", 1)]),
        ('"t-shirt"+beach', [("t-shirt", 1), ("beach", 1)]),
        ("king-man + woman", [("king-man", 1), ("woman", 1)]),
    ],
)
def test_a_hyphen_between_letters_is_part_of_the_word(query, expected):
    assert texts(parse(query)) == [("text", t, float(w)) for t, w in expected]


def test_a_hyphen_after_a_photo_is_an_operator(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "beach.jpg").write_bytes(b"x")
    assert texts(parse("beach.jpg-summer")) == [("image", "beach.jpg", 1.0), ("text", "summer", -1.0)]


@pytest.mark.parametrize(
    "token, forms",
    [
        ("snow.", ["snow"]),
        ("beach!", ["beach"]),
        ('"Dog', ["Dog"]),
        ("(cat),", ["cat"]),
        ("dogs'", ["dogs"]),
        ("girl's", ["girl's"]),
        ("girl\u2019s", ["girl's"]),
        ("t-shirt", ["t-shirt"]),
        ("U.S.", ["U.S.", "U.S"]),
        ("...", []),
        (".", []),
        ("café", ["café"]),
    ],
)
def test_punctuation_around_a_word_is_not_part_of_it(token, forms):
    assert word_forms(token) == forms


def test_a_sentence_keeps_its_known_words_without_punctuation(tiny_space):
    expression, notes = parse("The King, and a dog!").drop_unknown(tiny_space)
    assert texts(expression) == [("text", "King dog", 1.0)]
    assert notes == (
        'dropped "The" (not in tiny)',
        'dropped "and" (not in tiny)',
        'dropped "a" (not in tiny)',
    )
    query = tiny_space.query("The King, and a dog!")
    assert query.inputs == {"king", "dog"} and len(query.notes) == 3
    assert np.allclose(query.vector, tiny_space.vector("king dog"), atol=1e-6)


def test_a_typo_is_dropped_from_a_sentence_with_a_note_but_corrected_in_arithmetic(tiny_space):
    sentence = tiny_space.query("royal fmily")
    assert sentence.notes == ('dropped "fmily" (not in tiny; did you mean "family"?)',)
    assert np.allclose(sentence.vector, tiny_space.vector("royal"), atol=1e-6)
    assert tiny_space.query("king kinng, kinng").notes == ('dropped "kinng" (not in tiny; did you mean "king"?)',)
    assert tiny_space.query("dog").notes == ()
    arithmetic = tiny_space.query("royal fmily - man")
    assert arithmetic.notes == ('corrected "fmily" to "family" (not in tiny)',)
    assert np.allclose(arithmetic.vector, tiny_space.query("royal family - man").vector, atol=1e-6)


def test_a_typo_in_arithmetic_is_corrected_to_its_one_clear_spelling(tiny_space, tmp_path):
    """Dropped, kinng would turn "kinng - man + woman" into "- man + woman"."""
    query = tiny_space.query("kinng - man + woman")
    assert query.notes == ('corrected "kinng" to "king" (not in tiny)',)
    assert np.allclose(query.vector, tiny_space.query("king - man + woman").vector, atol=1e-6)
    assert query.inputs == {"king", "man", "woman"}
    assert tiny_space.nearest("kinng - man + woman", k=1)[0].word == "queen"
    notes = tiny_space.query("kinng - man + 0.5*kinng").notes
    assert notes == ('corrected "kinng" to "king" (not in tiny)',)  # one note a word
    photo = tmp_path / "beach.jpg"
    photo.write_bytes(b"x")
    result = tiny_space.query(f"{photo} - fmily", encode_image=lambda path: tiny_space.vector("king"))
    assert result.notes == ('corrected "fmily" to "family" (not in tiny)',)
    expected = tiny_space.vector("king") - tiny_space.vector("family")
    assert np.allclose(result.vector, expected / np.linalg.norm(expected), atol=1e-6)


@pytest.mark.parametrize(
    "query, message",
    [
        ("king - dogz", "unknown word 'dogz' in word space 'tiny'; did you mean: dog, dogs?"),  # as close as each other
        ("king - qwzx", "unknown word 'qwzx' in word space 'tiny'"),  # nothing close
        ("2*qwzx + beach.jpg", "unknown word 'qwzx' in word space 'tiny'"),  # a photo is never unknown
    ],
)
def test_a_typo_in_arithmetic_without_one_clear_spelling_is_refused(tiny_space, tmp_path, monkeypatch, query, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "beach.jpg").write_bytes(b"x")
    with pytest.raises(UnknownWord) as caught:
        tiny_space.query(query, encode_image=lambda path: tiny_space.vector("king"))
    assert str(caught.value) == message


def test_a_hyphenated_word_keeps_its_known_parts(tiny_space):
    expression, notes = parse("dog-kinng e-mail").drop_unknown(tiny_space)
    assert texts(expression) == [("text", "dog e-mail", 1.0)]
    assert notes == ('dropped "kinng" (not in tiny; did you mean "king"?)',)
    expression, notes = parse("dog-kinng + e-mail").drop_unknown(tiny_space)
    assert texts(expression) == [("text", "dog king", 1.0), ("text", "e-mail", 1.0)]
    assert notes == ('corrected "kinng" to "king" (not in tiny)',)


def test_a_word_or_sentence_is_refused_only_when_none_of_its_words_is_known(tiny_space):
    with pytest.raises(UnknownWord) as caught:
        tiny_space.query("kinng")
    assert str(caught.value) == "unknown word 'kinng' in word space 'tiny'; did you mean: king?"
    with pytest.raises(UnknownWord) as caught:
        tiny_space.query("The kinng, qwzx.")
    message = str(caught.value)
    assert message == (
        "no word of the query is in word space 'tiny': 'The', 'kinng' (did you mean 'king'?), 'qwzx'"
    )
    assert caught.value.words == ["The", "kinng", "qwzx"]
    with pytest.raises(ExpressionError, match="has no words"):
        tiny_space.query("?!")


def test_dropping_unknown_words_is_generic_over_the_space(tiny_space):
    """Only known, suggest and name are asked of the space: another kind of space works."""

    class Probe:
        name = "probe"

        def __init__(self):
            self.asked = []

        def known(self, word):
            self.asked.append(word)
            return word.lower() != "xyzzy"

        def suggest(self, word, n=5):
            return ["fuzzy", "xyzy"][:n]

    probe = Probe()
    expression, notes = parse('A "big" Dog, xyzzy!  - 2*Cats.').drop_unknown(probe)
    assert texts(expression) == [("text", "A big Dog xyzy", 1.0), ("text", "Cats", -2.0)]
    assert notes == ('corrected "xyzzy" to "xyzy" (not in probe)',)  # fuzzy is two edits away
    assert probe.asked == ["A", "big", "Dog", "xyzzy", "Cats"]
    expression, notes = parse('A "big" Dog, xyzzy!').drop_unknown(probe)
    assert texts(expression) == [("text", "A big Dog", 1.0)]
    assert notes == ('dropped "xyzzy" (not in probe; did you mean "xyzy"?)',)  # the note suggests the closest too


def test_evaluates_to_the_normalised_weighted_sum(tiny_space):
    query = tiny_space.query("king - man + 2*woman")
    expected = tiny_space.vector("king") - tiny_space.vector("man") + 2 * tiny_space.vector("woman")
    assert np.allclose(query.vector, expected / np.linalg.norm(expected), atol=1e-6)
    assert query.inputs == {"king", "man", "woman"}
    assert tiny_space.query("school bus").inputs == {"school_bus"}


def test_image_terms_need_an_encoder(tiny_space, tmp_path):
    photo = tmp_path / "beach.jpg"
    photo.write_bytes(b"x")
    expression = parse(f"{photo} - dog")
    with pytest.raises(ExpressionError, match="needs a visual model"):
        expression.evaluate(tiny_space)
    seen = []

    def encode(path):
        seen.append(path)
        return tiny_space.vector("king") * 7

    result = expression.evaluate(tiny_space, encode_image=encode)
    expected = tiny_space.vector("king") - tiny_space.vector("dog")
    assert seen == [photo]
    assert np.allclose(result.vector, expected / np.linalg.norm(expected), atol=1e-6)
    assert result.inputs == {"dog"}


def test_a_query_that_cancels_out_is_an_error(tiny_space):
    with pytest.raises(ExpressionError, match="cancels out"):
        tiny_space.query("dog - dog")
    with pytest.raises(ExpressionError, match="cancels out"):
        tiny_space.query("0*dog")


# -- properties -----------------------------------------------------------------

words = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABC0123456789'_.", min_size=1, max_size=8).filter(
    lambda w: w[0] not in "'." and not w.lower().endswith((".gif", ".png", ".bmp", ".jpg", ".tif", ".webp"))
)
phrases = st.lists(words, min_size=1, max_size=3).map(" ".join)
weights = st.one_of(st.just(1.0), st.floats(min_value=0.001, max_value=1000, allow_nan=False))
terms = st.builds(
    lambda text, weight, negative: Term("text", text, -weight if negative else weight),
    phrases,
    weights,
    st.booleans(),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(terms, min_size=1, max_size=5))
def test_canonical_form_parses_back_to_the_same_terms(term_list):
    expression = Expression(tuple(term_list))
    assert parse(str(expression)) == expression


@settings(max_examples=300, deadline=None)
@given(st.lists(terms, min_size=1, max_size=5), st.sampled_from(["", " ", "  "]))
def test_spacing_around_operators_does_not_matter(term_list, gap):
    expression = Expression(tuple(term_list))
    squeezed = str(expression).replace(" + ", f"{gap}+{gap}")
    if gap or "+" in squeezed:  # without spaces, a '-' between letters is a hyphen unless a '+' is tight too
        squeezed = squeezed.replace(" - ", f"{gap}-{gap}")
    if any(" " in t.text for t in term_list) and gap == "":
        squeezed = str(expression)  # phrases need their own spaces; quotes keep them apart
    assert parse(squeezed) == expression


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=40))
def test_any_text_parses_or_fails_with_an_expression_error(text):
    try:
        expression = parse(text)
    except ExpressionError as error:
        assert str(error) and "\n" not in str(error)
    else:
        assert expression.terms
        assert all(t.text for t in expression.terms)


def test_a_slash_between_words_is_part_of_the_words(tmp_path, monkeypatch):
    """black/white, AC/DC, and/or, 24/7 are typed as words, not paths (found by a
    walkthrough: each was refused as "image file not found")."""
    monkeypatch.chdir(tmp_path)
    for query in ("black/white dog", "AC/DC concert", "a dog and/or a cat", "dog 24/7"):
        parsed = parse(query)
        assert [(t.kind, t.text) for t in parsed.terms] == [("text", query)], query
    (tmp_path / "trip").mkdir()
    (tmp_path / "trip" / "IMG_0001").write_bytes(b"")  # a photo without a suffix, named with a slash
    assert [t.kind for t in parse("trip/IMG_0001 - summer").terms] == ["image", "text"]
    for path in ("/no/such/photo", "./no/such", "~/no/such"):  # starts like a path: a photo, so a missing one is said
        with pytest.raises(ExpressionError, match="image file not found"):
            parse(f"{path} - summer")


def test_the_syntax_is_checked_before_any_photo_is_looked_up(tmp_path):
    """So an error never tells whether a file exists: the same one for a photo that is there and one that is not."""
    (tmp_path / "there.jpg").write_bytes(b"")
    for path in (tmp_path / "there.jpg", tmp_path / "nope.jpg"):
        with pytest.raises(ExpressionError, match="missing '\\+' or '-' before 'foo'"):
            parse(f"{path} foo")


def test_without_the_disk_only_known_photos_are_photos(tmp_path):
    from xmodal.core.errors import PhotoNotFound
    from xmodal.text.expression import read_query

    (tmp_path / "there.jpg").write_bytes(b"")
    known = {str(tmp_path / "gone.jpg")}.__contains__
    assert read_query(str(tmp_path / "gone.jpg"), known, disk=False).photo == tmp_path / "gone.jpg"
    with pytest.raises(PhotoNotFound):  # on disk, but not known: not looked at
        read_query(f"{tmp_path / 'there.jpg'} - dog", known, disk=False)
    assert [t.kind for t in read_query("sub/there - dog", known, disk=False).terms] == ["text", "text"]
