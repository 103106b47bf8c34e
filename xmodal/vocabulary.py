"""The words an index can give back for a photo.

A photo's nearest words in all of GloVe's 400,000 are mostly noise (rare
surnames, typos, foreign tokens), so an index stores a chosen vocabulary: the
ImageNet-21k synset names (what the visual model and DeViSE know how to see:
"golden retriever", "cassette player", "church") and the most frequent
everyday words of the word space (beach, snow, sunset, kitchen), which make
photo-to-words useful beyond object names.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from xmodal.labels import embed_labels, imagenet_labels

VOCABULARY = "imagenet21k-names+frequent-words"
FREQUENT = 20_000
_SKIP_MOST_FREQUENT = 150  # the, of, and ...: function words, never a photo's subject


def vocabulary_words(frequency_order: Sequence[str], frequent: int = FREQUENT) -> list[str]:
    """ImageNet-21k names, then frequent alphabetic words (from a list in frequency order)."""
    words = dict.fromkeys(label.name for label in imagenet_labels("21k"))
    for word in frequency_order[_SKIP_MOST_FREQUENT:frequent]:
        if word.isalpha() and len(word) >= 3:
            words.setdefault(word)
    return list(words)


def default_vocabulary(space, frequent: int = FREQUENT) -> tuple[list[str], np.ndarray]:
    """(words, unit vectors) of the vocabulary in ``space``.

    A sentence space embeds (and caches) the whole list; a word space keeps the
    ImageNet names that have a vector (by name, else a synonym) and its own
    frequent words.
    """
    if hasattr(space, "vocabulary"):
        words, vectors = space.vocabulary()
        return list(words), np.asarray(vectors, dtype=np.float32)
    names = embed_labels(space, imagenet_labels("21k"))
    found: dict[str, np.ndarray] = {}
    for label, vector in zip(names.labels, names.vectors):
        found.setdefault(label.name, vector)
    keys = space.keyed_vectors.index_to_key
    for rank in range(_SKIP_MOST_FREQUENT, min(frequent, len(keys))):
        word = keys[rank]
        if word.isalpha() and len(word) >= 3 and word not in found:
            found[word] = space.vectors[rank]
    return list(found), np.asarray(np.stack(list(found.values())), dtype=np.float32)
