"""One place that turns a space's name into a space.

A *space* is where photos and text meet: a gensim word-vector space
(:class:`xmodal.text.words.WordSpace`: GloVe, word2vec, fastText) or a sentence
encoder (:class:`xmodal.text.sentences.SentenceSpace`: all-MiniLM-L6-v2). Both
answer the same questions (a text's unit vector, which words are known,
nearest words, the space's identity), so everything downstream takes either.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from xmodal.core.errors import SpaceError

if TYPE_CHECKING:
    from xmodal.text.sentences import SentenceSpace
    from xmodal.text.words import WordSpace

SENTENCE_DEFAULT = "all-minilm-l6-v2"
DEFAULT_SPACE = SENTENCE_DEFAULT
"""The shipped space: the table in docs/results.md chose it over GloVe 6B 50-d."""


def load_space(source: str | os.PathLike | None = None) -> SentenceSpace | WordSpace:
    """The space named by ``source``: a sentence model's name, or anything
    :meth:`WordSpace.load` takes (a vector file, a gensim-data name, ``glove-6b-50d``);
    without one, :data:`DEFAULT_SPACE`. (A DeViSE model file's own space is
    :func:`xmodal.devise.model.space_name`'s to find: text knows nothing of models.)
    """
    from xmodal.text.sentences import SENTENCE_MODELS, SentenceSpace

    name = DEFAULT_SPACE if source in (None, "", "default") else str(source)
    if name in SENTENCE_MODELS:
        return SentenceSpace.load(name)
    from xmodal.text.words import DEFAULT_SPACE as GLOVE
    from xmodal.text.words import WordSpace

    try:
        return WordSpace.load(name)
    except SpaceError as error:  # a typo of a space that ships reads better as one than as a failed download
        import difflib

        shipped = [*SENTENCE_MODELS, GLOVE]
        typed = name.lower()
        close = [known for known in shipped if len(typed) >= 4 and typed in known]
        close = close or difflib.get_close_matches(typed, shipped, n=1, cutoff=0.75)
        if not close or os.path.exists(name):
            raise error from None
        raise SpaceError(f"unknown word space {name!r}: did you mean {close[0]!r}? ({error})") from None
