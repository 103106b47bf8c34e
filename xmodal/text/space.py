"""What every space does, whichever kind it is: evaluate an expression to a vector,
find nearest words, embed many texts at once.

A space (:class:`~xmodal.text.words.WordSpace` or
:class:`~xmodal.text.sentences.SentenceSpace`) supplies only where its vectors
come from; this module holds what is built on top of that, so the two kinds
cannot drift apart.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from xmodal.core.cache import cached_dir
from xmodal.core.errors import XmodalError
from xmodal.text.expression import (
    Expression,
    ImageEncoder,
    QueryVector,
    parse,
    word_forms,
)
from xmodal.text.identity import Neighbour, SpaceIdentity


def with_sentences(typed: np.ndarray, sentences: np.ndarray) -> np.ndarray:
    """Unit rows: each typed row's unit vector plus its sentence's ("a photo of ..."),
    normalised again: how a short query, an analogy's words and a photo's words are read
    (:func:`xmodal.search.analogy.with_template`, :func:`xmodal.text.vocabulary.nearest_words`)."""
    total = typed / np.maximum(np.linalg.norm(typed, axis=1, keepdims=True), 1e-12)
    total = total + sentences / np.maximum(np.linalg.norm(sentences, axis=1, keepdims=True), 1e-12)
    return (total / np.maximum(np.linalg.norm(total, axis=1, keepdims=True), 1e-12)).astype(np.float32, copy=False)


class Space:
    """The part of a space that does not depend on where its vectors come from.

    A subclass has ``identity``, ``lookup(term)`` (what expressions evaluate) and
    ``searchable()``: the words nearest-word answers come from, with their vectors.
    """

    identity: SpaceIdentity
    reads_sentences = False  # whether ``lookup`` reads a whole sentence as one (a sentence encoder), not word by word

    def lookup(self, term: str, suggest: bool = True) -> tuple[np.ndarray, list[str]]:
        raise NotImplementedError

    def searchable(self) -> tuple[Sequence[str], np.ndarray]:
        raise NotImplementedError

    def vector(self, term: str) -> np.ndarray:
        """The unit vector of a word, phrase or sentence (see ``lookup``)."""
        return self.lookup(term)[0]

    def query(self, expression: str | Expression, encode_image: ImageEncoder | None = None) -> QueryVector:
        """Evaluate an expression (``"king - man + woman"``) to a unit vector; image
        terms need ``encode_image`` (e.g. ``Encoder.encode_image``)."""
        parsed = parse(expression) if isinstance(expression, str) else expression
        return parsed.evaluate(self, encode_image)

    def nearest(
        self,
        query: str | Expression | np.ndarray,
        k: int = 10,
        exclude: frozenset[str] | set[str] = frozenset(),
        limit: int | None = None,
        encode_image: ImageEncoder | None = None,
    ) -> list[Neighbour]:
        """The ``k`` words closest to an expression or vector, best first.

        Words of the expression itself are left out, like gensim's most_similar;
        ``limit`` searches only the first ``limit`` words (the most frequent, in a
        frequency-ordered space).
        """
        if isinstance(query, np.ndarray):
            vector, skip = query.astype(np.float32), set(exclude)
            if vector.shape != (self.identity.dim,):  # say which, before numpy's matmul does in its words
                raise XmodalError(
                    f"a vector of shape {vector.shape} cannot be compared with {self.identity.name}'s "
                    f"{self.identity.dim}-d words (was it made in another space?)"
                )
        else:
            evaluated = self.query(query, encode_image)
            vector, skip = evaluated.vector, set(exclude) | evaluated.inputs
        keys, vectors = self.searchable()
        scores = (vectors[:limit] if limit else vectors) @ vector
        want = min(len(scores), k + len(skip))
        top = np.argpartition(-scores, want - 1)[:want] if want < len(scores) else np.arange(len(scores))
        top = top[np.argsort(-scores[top], kind="stable")]
        hits = [Neighbour(keys[i], float(scores[i])) for i in top if keys[i] not in skip]
        return hits[:k]


def embed_texts(space: Space, texts: Sequence[str], what: str = "texts") -> np.ndarray:
    """Unit vectors of many texts (captions, label texts), one row each.

    A sentence space encodes them in batches and keeps the result in the user
    cache, so retraining a map never re-encodes its captions. A word space
    takes each text's known words (unknown ones are left out, as in a query);
    a text with no known word gets a zero row. ``what`` names the texts on the
    progress bar of a long first encode.
    """
    texts = list(texts)
    if not hasattr(space, "encode"):
        rows = np.zeros((len(texts), space.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            found = (next((w for w in word_forms(token) if space.known(w)), None) for token in text.split())
            words = [w for w in found if w]
            if words:
                rows[i] = space.lookup(" ".join(words), suggest=False)[0]
        return rows
    digest = hashlib.sha1("\n".join(texts).encode("utf-8")).hexdigest()[:16]
    key = f"{space.identity.checksum.removeprefix('sha256:')}-{digest}"
    folder = cached_dir("texts", key, lambda tmp: np.save(tmp / "vectors.npy", encode_shown(space, texts, what)))
    return np.load(folder / "vectors.npy")


def encode_shown(space: Space, texts: list[str], what: str = "texts") -> np.ndarray:
    """Encode with a progress bar when there are enough texts to wait for."""
    if len(texts) < 5_000:
        return space.encode(texts)
    from xmodal.core.progress import task_progress

    rows = np.zeros((len(texts), space.dim), dtype=np.float32)
    order = np.argsort([len(text) for text in texts], kind="stable")  # texts of a length together, across steps too
    step = 2048
    with task_progress(f"embedding {len(texts):,} {what} ({space.name}, once)") as advance:
        for start in range(0, len(texts), step):
            chunk = order[start : start + step]
            rows[chunk] = space.encode([texts[i] for i in chunk])
            advance(len(chunk), len(texts))
    return rows
