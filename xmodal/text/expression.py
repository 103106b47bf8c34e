"""Query expressions: words, phrases and images joined by weighted ``+`` and ``-``.

The grammar is small on purpose (docs/expressions.md has it with examples)::

    expr   := [sign] term (sign term)*
    sign   := "+" | "-"
    term   := [weight "*"] atom
    atom   := word+ | "quoted phrase" | 'quoted phrase' | image
    image  := img:PATH | img:"PATH" | a bare token that looks like a path

Adjacent bare words and quoted phrases form one phrase, so a sentence is one
term (``Two dogs play in the snow.``). ``+``, ``-`` and ``*`` are operators
outside quotes, except that a ``-`` joining two letters or digits with no space
(``t-shirt``, ``three-year-old``) is a hyphen, part of the word; in a query
written compactly, with a ``+`` touching a word (``king-man+woman``), every
``-`` is an operator. A bare token with an image suffix, or that starts like a path
(``/``, ``~``, ``./``) or names an existing file, is an image term, and the file must
exist; ``img:`` forces an image term. ``black/white`` is a word.

An expression is parsed once and evaluated against a space (and, for image
terms, an image encoder) into a unit vector, keeping the space's keys it used
so that nearest-word results can leave them out, as gensim's ``most_similar``
does. Evaluation first deals with the words the space does not know
(:meth:`Expression.drop_unknown`): a word or sentence drops them, with a note
naming each, and is refused only when none of its words is known; arithmetic
corrects each to its one clear spelling, with a note, or is refused.
Punctuation around a word is never part of it.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

from xmodal.core.errors import ExpressionError, PhotoNotFound, UnknownWord
from xmodal.text.spelling import correction, likeliest

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".heic", ".heif"}
)
IMAGE_PREFIX = "img:"
_OPERATORS = "+-*"
_QUOTES = "\"'"
_EVERY_SUGGESTION = 1_000  # more than any word has one edit away: correction() must see them all

ImageEncoder = Callable[[Path], np.ndarray]


class Lexicon(Protocol):
    """What evaluating an expression asks of a space: every space is one
    (:class:`~xmodal.text.space.Space`), and the grammar needs to know no more."""

    name: str
    dim: int

    def known(self, word: str) -> bool: ...

    def suggest(self, word: str, n: int = 5) -> list[str]: ...

    def lookup(self, term: str, suggest: bool = True) -> tuple[np.ndarray, list[str]]: ...


@dataclass(frozen=True)
class Term:
    """One signed, weighted word/phrase (``kind="text"``) or image file (``kind="image"``)."""

    kind: Literal["text", "image"]
    text: str
    weight: float = 1.0


@dataclass(frozen=True)
class QueryVector:
    """An evaluated expression: a unit vector, the space keys it was made of, and one
    note per word the space does not know (left out, or corrected in arithmetic)."""

    vector: np.ndarray
    inputs: frozenset[str]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Expression:
    """A parsed query; ``str()`` gives a canonical form that parses back to an equal one."""

    terms: tuple[Term, ...]

    @property
    def images(self) -> tuple[Path, ...]:
        return tuple(Path(t.text) for t in self.terms if t.kind == "image")

    @property
    def photo(self) -> Path | None:
        """The photo, when the whole expression is one photo at weight 1 (a look-alike query)."""
        if len(self.terms) == 1 and self.terms[0].kind == "image" and self.terms[0].weight == 1:
            return Path(self.terms[0].text)
        return None

    @property
    def mixed(self) -> bool:
        """Whether the expression has both a photo and a word (an analogy such as
        ``beach.jpg - summer + winter``; xmodal.search.analogy reads its photos)."""
        kinds = {t.kind for t in self.terms}
        return kinds == {"image", "text"}

    def __str__(self) -> str:
        parts = []
        for i, term in enumerate(self.terms):
            sign = "-" if term.weight < 0 else "+"
            magnitude = abs(term.weight)
            weight = "" if magnitude == 1 else f"{_format_number(magnitude)}*"
            body = _render_atom(term)
            if i == 0:
                parts.append(f"{'-' if sign == '-' else ''}{weight}{body}")
            else:
                parts.append(f"{sign} {weight}{body}")
        return " ".join(parts)

    def drop_unknown(self, space: Lexicon) -> tuple[Expression, tuple[str, ...]]:
        """This expression in words ``space`` knows, and a note for each word it changed.

        Each text term keeps its known words, stripped of punctuation, joined by
        spaces; image terms stay as they are. A word or sentence without its typo
        still says what was meant, so there an unknown word is dropped (a term
        with none left goes). In arithmetic (more than one term) a dropped term
        turns the query around ("kingg - man + woman" would be "- man + woman"),
        so there each unknown word is corrected to its one clear spelling
        (:func:`~xmodal.text.spelling.correction`). Only ``space.known``,
        ``space.suggest`` and ``space.name`` are used, so any space works.

        Raises UnknownWord when a word in arithmetic has no clear spelling (naming
        its suggestions), or when no word of the query is known (and no image is
        in it); ExpressionError when it has no word at all.
        """
        arithmetic = len(self.terms) > 1
        terms: list[Term] = []
        unknown: list[str] = []
        corrected: dict[str, str] = {}
        for term in self.terms:
            if term.kind == "image":
                terms.append(term)
                continue
            kept = []
            for word, known in _spelt(term.text, space):
                if known:
                    kept.append(word)
                elif arithmetic:
                    if word not in corrected:
                        corrected[word] = _correct(word, space)
                    kept.append(corrected[word])
                else:
                    unknown.append(word)
            if kept:
                terms.append(Term("text", " ".join(kept), term.weight))
        unknown = list(dict.fromkeys(unknown))
        if not terms:
            if not unknown:
                raise ExpressionError(
                    f"query {str(self)!r} has no words: give at least one word, phrase or image"
                )
            found = [(word, space.suggest(word)) for word in unknown]
            raise UnknownWord(found[0][0], found[0][1], space.name, more=found[1:])
        notes = [f'corrected "{word}" to "{fix}" (not in {space.name})' for word, fix in corrected.items()]
        for word in unknown:
            close = likeliest(word, space.suggest(word, _EVERY_SUGGESTION))
            hint = f'; did you mean "{close}"?' if close else ""
            notes.append(f'dropped "{word}" (not in {space.name}{hint})')
        return Expression(tuple(terms)), tuple(notes)

    def evaluate(self, space: Lexicon, encode_image: ImageEncoder | None = None) -> QueryVector:
        """Drop unknown words (:meth:`drop_unknown`), then sum the terms' unit vectors
        with their weights and normalise the result."""
        known, notes = self.drop_unknown(space)
        total = np.zeros(space.dim, dtype=np.float64)
        inputs: set[str] = set()
        for term in known.terms:
            if term.kind == "image":
                if encode_image is None:
                    raise ExpressionError(
                        f"image term {term.text!r} needs a visual model, "
                        "and none is loaded for this query"
                    )
                vector = np.asarray(encode_image(Path(term.text)), dtype=np.float64)
            else:
                vector, keys = space.lookup(term.text)
                inputs.update(keys)
            norm = np.linalg.norm(vector)
            if norm > 0:
                total += term.weight * vector / norm
        norm = np.linalg.norm(total)
        if not math.isfinite(norm) or norm < 1e-9:
            raise ExpressionError(f"query {str(self)!r} cancels out to the zero vector")
        return QueryVector((total / norm).astype(np.float32), frozenset(inputs), notes)


def _spelt(text: str, space: Lexicon) -> list[tuple[str, bool]]:
    """Each word of a text term, stripped of punctuation and in the spelling ``space``
    knows when it knows one, with whether it does; a hyphenated word the space
    lacks gives its parts instead (``turquiose-blue``: *turquiose*, *blue*)."""
    words = []
    for token in text.split():
        forms = word_forms(token)
        if not forms:
            continue  # punctuation alone is never a word
        word = next((form for form in forms if space.known(form)), None)
        if word is not None:
            words.append((word, True))
            continue
        parts = [p for part in forms[-1].split("-") for p in word_forms(part)[-1:]]
        if len(parts) > 1:
            words.extend((part, space.known(part)) for part in parts)
        else:
            words.append((forms[-1], False))
    return words


def _correct(word: str, space: Lexicon) -> str:
    """The spelling an unknown word in arithmetic clearly stands for, or UnknownWord."""
    close = space.suggest(word, _EVERY_SUGGESTION)
    fix = correction(word, close)
    if fix is None:
        raise UnknownWord(word, close[:5], space.name)
    return fix


def parse(text: str, known: Callable[[str], bool] | None = None, disk: bool = True) -> Expression:
    """Parse ``text`` into an :class:`Expression`, or raise a one-line ExpressionError.
    A photo's path must name a file, unless ``known`` says it is one (an indexed photo
    whose file is gone: :func:`read_query`); with ``disk`` False nothing is looked up on
    disk and only ``known`` photos are photos. The syntax is checked whole before any
    photo is looked up, so an error never depends on which files exist."""
    on_disk = _on_disk if disk else (known or _nothing)
    tokens = _tokenize(text, on_disk)
    if not tokens:
        raise ExpressionError("empty query: give at least one word, phrase or image")
    terms: list[Term] = []
    sign = 1.0
    expect_term = True  # at the start and after every + or -
    i = 0
    while i < len(tokens):
        kind, value, col = tokens[i]
        if kind == "op":
            if value == "*":
                raise ExpressionError(
                    f"'*' at column {col} must follow a weight, as in 2*dog"
                )
            if expect_term and (terms or i > 0):
                raise ExpressionError(
                    f"two operators in a row at column {col}: "
                    f"{tokens[i - 1][1]!r} then {value!r}"
                )
            if i == len(tokens) - 1:
                raise ExpressionError(f"query ends with a dangling {value!r}")
            sign = -1.0 if value == "-" else 1.0
            expect_term = True
            i += 1
            continue
        if not expect_term:
            raise ExpressionError(
                f"missing '+' or '-' before {value!r} at column {col}"
            )
        weight = 1.0
        if kind == "word" and i + 1 < len(tokens) and tokens[i + 1][1] == "*" and tokens[i + 1][0] == "op":
            weight = _parse_weight(value, col)
            i += 2
            if i >= len(tokens):
                raise ExpressionError(f"query ends with a dangling '*' after weight {value!r}")
            kind, value, col = tokens[i]
            if kind == "op":
                raise ExpressionError(
                    f"two operators in a row at column {col}: '*' then {value!r}"
                )
        if kind in ("word", "phrase"):  # adjacent words and quoted phrases make one phrase
            words = [value]
            while i + 1 < len(tokens) and tokens[i + 1][0] in ("word", "phrase"):
                i += 1
                if i + 1 < len(tokens) and tokens[i + 1][1] == "*" and tokens[i + 1][0] == "op":
                    raise ExpressionError(
                        f"missing '+' or '-' before {tokens[i][1]!r} at column {tokens[i][2]}"
                    )
                words.append(tokens[i][1])
            terms.append(Term("text", " ".join(words), sign * weight))
        else:
            terms.append(Term("image", value, sign * weight))
        expect_term = False
        i += 1
    return Expression(tuple(
        replace(term, text=_existing_image(term.text, known, disk)) if term.kind == "image" else term for term in terms
    ))


def _tokenize(text: str, on_disk: Callable[[str], bool]) -> list[tuple[str, str, int]]:
    """Split into (kind, value, 1-based column) with kind in op, word, phrase, image;
    a ``-`` joining two letters or digits is a hyphen unless the query is compact."""
    tokens = _split(text, on_disk)
    if any(_touches_word(text, col) for kind, value, col in tokens if kind == "op" and value == "+"):
        return tokens  # compact arithmetic, king-man+woman: every '-' is an operator
    joined: list[tuple[str, str, int]] = []
    i = 0
    while i < len(tokens):
        kind, value, col = tokens[i]
        if (
            kind == "op"
            and value == "-"
            and joined
            and joined[-1][0] == "word"
            and i + 1 < len(tokens)
            and _is_hyphen(text, tokens, i)
        ):
            left = joined.pop()
            joined.append(("word", f"{left[1]}-{tokens[i + 1][1]}", left[2]))
            i += 2
            continue
        joined.append(tokens[i])
        i += 1
    return joined


def _touches_word(text: str, col: int) -> bool:
    """Whether the operator at 1-based ``col`` has no space on at least one side."""
    before = text[col - 2] if col >= 2 else " "
    after = text[col] if col < len(text) else " "
    return not before.isspace() or not after.isspace()


def _is_hyphen(text: str, tokens: list[tuple[str, str, int]], i: int) -> bool:
    """Whether the '-' token ``i`` joins a word to a following word (not a weight) tightly."""
    col = tokens[i][2]
    if not (2 <= col < len(text) and text[col - 2].isalnum() and text[col].isalnum()):
        return False
    nxt = tokens[i + 1]
    if nxt[0] != "word" or nxt[2] != col + 1:
        return False
    weighted = i + 2 < len(tokens) and tokens[i + 2][0] == "op" and tokens[i + 2][1] == "*"
    return not weighted


def _split(text: str, on_disk: Callable[[str], bool]) -> list[tuple[str, str, int]]:
    """Split into (kind, value, 1-based column): every + - * outside quotes an operator."""
    tokens: list[tuple[str, str, int]] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        col = i + 1
        if c.isspace():
            i += 1
        elif c in _OPERATORS:
            tokens.append(("op", c, col))
            i += 1
        elif c == '"' or (c == "'" and _closing_apostrophe(text, i) > 0):
            value, i = _quoted(text, i)
            if not value.strip():
                raise ExpressionError(f"empty quoted phrase at column {col}")
            tokens.append(("phrase", " ".join(value.split()), col))
        elif text.startswith(IMAGE_PREFIX, i):
            i += len(IMAGE_PREFIX)
            if i < n and text[i] in _QUOTES:
                value, i = _quoted(text, i)
            else:
                end = _run_end(text, i, stop="")
                value, i = text[i:end], end
            if not value:
                raise ExpressionError(f"'{IMAGE_PREFIX}' at column {col} has no path after it")
            tokens.append(("image", value, col))
        elif weight := _WEIGHT.match(text, i):  # before path sniffing: 2*sub/photo.jpg
            tokens.append(("word", weight.group(1), col))
            i = weight.end()
        else:
            chunk_end = _run_end(text, i, stop="")
            if _looks_like_image(text[i:chunk_end], on_disk):
                tokens.append(("image", text[i:chunk_end], col))
                i = chunk_end
                continue
            end = _run_end(text, i, stop=_OPERATORS + '"')
            word = text[i:end]
            tokens.append(("image" if _looks_like_image(word, on_disk) else "word", word, col))
            i = end
    return tokens


_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'"})


def word_forms(token: str) -> list[str]:
    """The spellings a typed token may stand for, most specific first; [] for punctuation.

    Punctuation around a word is not part of it (``snow.`` ``"Dog`` ``(cat),``
    ``dogs'``); punctuation inside stays (``girl's``, ``t-shirt``, ``u.s``), curly
    apostrophes become straight ones, and a trailing period is tried first on an
    abbreviation (``U.S.``, ``p.m.``).
    """
    token = token.translate(_APOSTROPHES)
    start, end = 0, len(token)
    while start < end and not token[start].isalnum():
        start += 1
    while end > start and not token[end - 1].isalnum():
        end -= 1
    core = token[start:end]
    if not core:
        return []
    if "." in core and token[end : end + 1] == ".":
        return [core + ".", core]
    return [core]


def _closing_apostrophe(text: str, start: int) -> int:
    """Where the ' quote opened at ``start`` closes: the next ' that ends a word (space,
    operator, quote or the end after it); -1 when none does, and the ' is an apostrophe
    (``a boy 's jacket``, ``'tis``)."""
    end = text.find("'", start + 1)
    while end >= 0:
        if end + 1 == len(text) or text[end + 1].isspace() or text[end + 1] in _OPERATORS + _QUOTES:
            return end
        end = text.find("'", end + 1)
    return -1


def _quoted(text: str, start: int) -> tuple[str, int]:
    quote = text[start]
    end = _closing_apostrophe(text, start) if quote == "'" else text.find(quote, start + 1)
    if end < 0:
        raise ExpressionError(f"unterminated {quote} quote starting at column {start + 1}")
    return text[start + 1 : end], end + 1


def _run_end(text: str, i: int, stop: str) -> int:
    while i < len(text) and not text[i].isspace() and text[i] not in stop:
        i += 1
    return i


def _looks_like_image(token: str, on_disk: Callable[[str], bool] | None = None) -> bool:
    """A bare token that is a photo's path: one with an image suffix, one that starts
    like a path (``/``, ``~``, ``./``, ``../``) or holds a ``\\``, or one with a ``/``
    inside that ``on_disk`` finds (a file, or a folder written with a final ``/``, then
    refused as one). So ``black/white``, ``AC/DC``, ``and/or`` and ``24/7`` stay words,
    as people type them. Without ``on_disk``, every ``/`` counts (rendering quotes such text)."""
    return (
        Path(token).suffix.lower() in IMAGE_SUFFIXES
        or token.startswith(("/", "~", "./", "../"))
        or "\\" in token
        or ("/" in token and (on_disk is None or on_disk(token)))
    )


def _on_disk(token: str) -> bool:
    """A file, or a folder written as one (``holiday/``): a bare token that names a photo."""
    try:
        return os.path.isfile(token) or (token.endswith("/") and os.path.isdir(token))
    except (ValueError, OSError):
        return False


def _nothing(token: str) -> bool:
    return False


def _existing_file(text: str) -> Path | None:
    """``text`` as a path to an existing file (``~`` expanded), or None, whatever the text holds."""
    try:
        path = Path(text).expanduser()
        return path if path.is_file() else None
    except (RuntimeError, ValueError, OSError):  # unknown ~user, NUL byte, name too long
        return None


def read_query(
    query: str | os.PathLike | Expression, known: Callable[[str], bool] | None = None, disk: bool = True
) -> Expression:
    """What a query means; the one place that decides whether a query is a photo.

    A string or path naming an existing file is that photo, whatever its name
    holds (spaces, ``+``, no image suffix: no quoting needed); any other string
    is parsed as an expression, where tokens that look like paths are photos.
    ``known`` (an index's "is this path one of mine?") lets a photo whose file is
    gone still be asked for by its path: its vectors are stored. With ``disk`` False
    (the web page) nothing is looked up on disk: a photo is a photo ``known`` holds.
    """
    if isinstance(query, Expression):
        return query
    text = os.fspath(query)
    photo = _existing_file(text) if disk else None
    if photo is None and known is not None and _looks_like_image(text) and known(text):
        return Expression((Term("image", text),))
    return Expression((Term("image", str(photo)),)) if photo is not None else parse(text, known, disk)


def _existing_image(path: str, known: Callable[[str], bool] | None = None, disk: bool = True) -> str:
    found = _existing_file(path) if disk else None
    if found is not None:
        return str(found)
    if known is not None and known(path):
        return path
    if disk and os.path.isdir(os.path.expanduser(path)):
        raise PhotoNotFound(f"{path} is a folder, not a photo", path)
    raise PhotoNotFound(f"image file not found: {path}", path)


_NUMBER = re.compile(r"[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?|[0-9]+\.")
_WEIGHT = re.compile(r"([0-9]+\.?[0-9]*(?:[eE][-+]?[0-9]+)?|\.[0-9]+(?:[eE][-+]?[0-9]+)?)(?=\s*\*)")


def _parse_weight(value: str, col: int) -> float:
    weight = float(value) if _NUMBER.fullmatch(value) else math.nan
    if not math.isfinite(weight):
        raise ExpressionError(
            f"bad weight {value!r} at column {col}: a weight is a finite number, as in 2*dog"
        )
    return weight


def _format_number(x: float) -> str:
    short = f"{x:g}"
    return short if float(short) == x and "e" not in short else repr(x)


def _render_atom(term: Term) -> str:
    text = term.text
    quote = "'" if '"' in text else '"'
    if term.kind == "image":
        return f"{IMAGE_PREFIX}{quote}{text}{quote}"
    bare = (
        not any(c.isspace() or c in _OPERATORS for c in text)
        and text[0] not in _QUOTES
        and not text.startswith(IMAGE_PREFIX)
        and not _looks_like_image(text)
    )
    return text if bare else f"{quote}{text}{quote}"
