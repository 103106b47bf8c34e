"""A photo inside word arithmetic is read as the texts that describe it.

``beach.jpg - summer + winter`` asks for what the photo shows, moved from one
setting to another. Summed as they are, the photo's own vector and the two
words barely mix: photos and texts sit in different regions of the space (a
photo is nearer other photos than any word), so ``PHOTO - A + B`` finds photos
like the query photo or photos of B, seldom the photo's subject in B. Measured
on the Flickr8k dev split (benchmarks/visual_analogies.py, docs/expressions.md),
reading the photo as the mean of the training texts nearest it (the model's
text bank, which also gives the hub penalty) first, and then doing the
arithmetic among texts, nearly doubles how often the top 10 keep the subject
and change the setting; weighting the words up, z-scored rank fusion and
shifting photos by the mean photo-to-text offset did less. The words the
expression adds then count 1.5 times (``ADDED``): the described photo is the
mean of many texts and keeps much of its own setting, and on dev (chosen again
through the phase-2 model that ships) B weighted 1.5 kept the subject and
changed the setting more often than B as typed, for people as well as dogs.

The reading applies only to expressions that mix photos and words; a photo
alone, a photo and photos, and word arithmetic keep their meaning. Such an
expression is then asked twice, toward its first results
(:data:`xmodal.search.feedback.ANALOGIES`, chosen on dev in a later round).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from xmodal.text.expression import Expression
from xmodal.text.glosses import MAX_WORDS
from xmodal.text.space import Space, with_sentences

TEXTS = 200  # the nearest bank texts averaged: chosen on dev (100-400 within 0.01 there)
ADDED = 1.5  # the weight of each word an analogy adds: chosen on dev (1, 1.5 and 2 tried)


def described(photo: np.ndarray, bank: np.ndarray, k: int = TEXTS) -> np.ndarray:
    """The unit mean of the ``k`` texts of ``bank`` (unit rows) nearest ``photo``: where
    a photo sits among texts, so that adding and taking away words moves it as a text."""
    texts = np.asarray(bank, dtype=np.float32)
    similarity = texts @ np.asarray(photo, dtype=np.float32)
    k = min(k, len(texts))
    nearest = np.argpartition(-similarity, k - 1)[:k]
    mean = texts[nearest].mean(axis=0)
    return mean / np.linalg.norm(mean)


def with_template(query: np.ndarray, sentence: np.ndarray) -> np.ndarray:
    """The unit sum of a text's unit vector and that of its "a photo of" sentence
    (:data:`xmodal.search.feedback.TEMPLATE`): how short queries and an analogy's words read."""
    return with_sentences(np.asarray(query, dtype=np.float32)[None], np.asarray(sentence, dtype=np.float32)[None])[0]


class WithSentences:
    """A sentence space whose short texts (one or two words) read as the unit sum of
    themselves and their ``a photo of`` sentence (:data:`xmodal.search.feedback.TEMPLATE`):
    how the words of an analogy are read. A bare word sits nearer the photos the map
    learnt from names (scene photos) than those it learnt from captions, so ``- snow +
    beach`` found empty coasts; on dev (benchmarks/visual_analogies.py ``--sentence``,
    through the phase-2 dev model) success@10 rose from 0.292 to 0.325 with scene photos
    in the index and from 0.367 to 0.379 without. Everything else is the space's own."""

    def __init__(self, space: Space, template: str) -> None:
        self._space, self._template = space, template

    def __getattr__(self, name: str):
        return getattr(self._space, name)

    def lookup(self, term: str, suggest: bool = True) -> tuple[np.ndarray, list[str]]:
        vector, words = self._space.lookup(term, suggest)
        if len(term.split()) > MAX_WORDS:
            return vector, words
        return with_template(vector, self._space.lookup(self._template.format(term), suggest)[0]), words


def added_up(expression: Expression, weight: float = ADDED) -> Expression:
    """``expression`` with each word it adds (a text term of positive weight) weighted
    ``weight`` times: ``photo - snow + beach`` is read as ``photo - snow + 1.5*beach``.
    Words taken away and photos keep their weights."""
    return Expression(tuple(
        replace(term, weight=term.weight * weight) if term.kind == "text" and term.weight > 0 else term
        for term in expression.terms
    ))
