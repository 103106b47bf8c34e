"""One place that turns a space's name into a space.

A *space* is where photos and text meet: a gensim word-vector space
(:class:`xmodal.words.WordSpace`: GloVe, word2vec, fastText) or a sentence
encoder (:class:`xmodal.sentences.SentenceSpace`: all-MiniLM-L6-v2). Both
answer the same questions (a text's unit vector, which words are known,
nearest words, the space's identity), so everything downstream takes either.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence

import numpy as np

from xmodal.cache import cached_dir
from xmodal.expression import word_forms

SENTENCE_DEFAULT = "all-minilm-l6-v2"
DEFAULT_SPACE = SENTENCE_DEFAULT
"""The shipped space: the table in docs/results.md chose it over GloVe 6B 50-d."""


def load_space(source: str | os.PathLike | None = None, model: str | os.PathLike | None = None):
    """The space named by ``source``: a sentence model's name, or anything
    :meth:`WordSpace.load` takes (a vector file, a gensim-data name, ``glove-6b-50d``).

    Without ``source``, a DeViSE ``model`` file's own space (a model knows where it
    was trained), else :data:`DEFAULT_SPACE`.
    """
    from xmodal.sentences import SENTENCE_MODELS, SentenceSpace

    if source in (None, "", "default") and model is not None:
        from xmodal.devise import DeviseModel

        source = DeviseModel.space_of(model).name
    name = DEFAULT_SPACE if source in (None, "", "default") else str(source)
    if name in SENTENCE_MODELS:
        return SentenceSpace.load(name)
    from xmodal.words import WordSpace

    return WordSpace.load(name)


def embed_texts(space, texts: Sequence[str], what: str = "texts") -> np.ndarray:
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


def encode_shown(space, texts: list[str], what: str = "texts") -> np.ndarray:
    """Encode with a progress bar when there are enough texts to wait for."""
    if len(texts) < 5_000:
        return space.encode(texts)
    from xmodal.progress import task_progress

    rows = np.zeros((len(texts), space.dim), dtype=np.float32)
    step = 2048
    with task_progress(f"embedding {len(texts):,} {what} ({space.name}, once)") as advance:
        for start in range(0, len(texts), step):
            rows[start : start + step] = space.encode(texts[start : start + step])
            advance(min(step, len(texts) - start), len(texts))
    return rows
