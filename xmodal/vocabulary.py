"""The words an index can give back for a photo.

A photo's nearest words in all of GloVe's 400,000 are mostly noise (rare
surnames, typos, foreign tokens), so an index stores a chosen vocabulary: the
ImageNet-21k synset names (what the visual model and DeViSE know how to see:
"golden retriever", "cassette player", "church") and the most frequent
everyday words of the word space (beach, snow, sunset, kitchen), which make
photo-to-words useful beyond object names.
"""

from __future__ import annotations

import numpy as np

from xmodal.labels import embed_labels, imagenet_labels
from xmodal.words import WordSpace

VOCABULARY = "imagenet21k-names+frequent-words"
FREQUENT = 20_000
_SKIP_MOST_FREQUENT = 150  # the, of, and ...: function words, never a photo's subject


def default_vocabulary(space: WordSpace, frequent: int = FREQUENT) -> tuple[list[str], np.ndarray]:
    """(words, unit vectors): ImageNet-21k names with a vector, then frequent alphabetic words."""
    names = embed_labels(space, imagenet_labels("21k"))
    words: dict[str, np.ndarray] = {}
    for label, vector in zip(names.labels, names.vectors):
        words.setdefault(label.name, vector)
    keys = space.keyed_vectors.index_to_key
    for rank in range(_SKIP_MOST_FREQUENT, min(frequent, len(keys))):
        word = keys[rank]
        if word.isalpha() and len(word) >= 3 and word not in words:
            words[word] = space.vectors[rank]
    return list(words), np.asarray(np.stack(list(words.values())), dtype=np.float32)
