from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xmodal import Expression, ExpressionError, Term, parse


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
        ('dog "cat"', "missing '+' or '-' before 'cat'"),
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
    squeezed = str(expression).replace(" + ", f"{gap}+{gap}").replace(" - ", f"{gap}-{gap}")
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
