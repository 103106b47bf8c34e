"""Hub penalties: why a few photos come first for every sentence, and the correction.

In a high-dimensional space some points sit near a great many others. A photo
whose vector lies toward what texts have in common (people, outdoors, a busy
scene) scores well against captions it has nothing to do with, and takes a top
place for all of them, pushing the right photo down. CSLS (Conneau et al.,
ICLR 2018) and querybank normalisation (Bogolin et al., CVPR 2022) correct it
by asking how close each photo is to texts *in general*: here a photo's
penalty is ``weight`` times the mean cosine of its ``neighbours`` nearest texts
in a bank of texts like those people search with (the model's own training
texts), and photos rank by cosine minus penalty.

The bank ships inside the model file, so every index built with that model
gets the correction, old ones included: the penalty is worked out at query
time from the candidates' stored vectors. Searching asks the store for the
``k + POOL`` nearest photos by cosine and re-ranks those by :meth:`HubPenalty.scores`,
which are also the scores a search shows; benchmarks score that same ranking (:meth:`HubPenalty.ranking_scores`).
The penalty is query-side only: photo vectors, and so the model's checksum and
every index, are unchanged by it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

POOL = 100  # candidates fetched beyond k, re-ranked with their penalties
BANK_PER_SET = 1000  # texts sampled from each training set (all of a smaller one)


@dataclass(frozen=True)
class HubPenalty:
    """A bank of unit text vectors and how strongly a photo's closeness to them counts."""

    bank: np.ndarray
    neighbours: int
    weight: float
    map: str = ""  # the checksum of the map whose photo vectors it was chosen for

    def of(self, photos: np.ndarray) -> np.ndarray:
        """Each photo's penalty: ``weight`` times its mean cosine to its nearest bank texts."""
        similarity = np.atleast_2d(np.asarray(photos, dtype=np.float32)) @ self.bank.T
        k = min(self.neighbours, similarity.shape[1])
        return self.weight * np.partition(similarity, -k, axis=1)[:, -k:].mean(axis=1)

    def scores(self, cosines: np.ndarray, photos: np.ndarray) -> np.ndarray:
        """Each candidate's cosine minus its penalty: what a search ranks by (best first:
        highest), and the score it shows, so a list's scores never rise down the list."""
        return np.asarray(cosines, dtype=np.float32) - self.of(photos)

    def ranking_scores(self, cosines: np.ndarray, photos: np.ndarray, k: int = 10) -> np.ndarray:
        """Scores (queries x photos) whose order is what a search for ``k`` returns: per
        query, the ``k + POOL`` best cosines re-ranked by cosine minus penalty, then all
        other photos in cosine order. For scoring benchmarks exactly as searches rank."""
        cosines = np.asarray(cosines, dtype=np.float32)
        pool = min(k + POOL, cosines.shape[1])
        penalised = cosines - self.of(photos)[None, :]
        candidates = np.argpartition(-cosines, pool - 1, axis=1)[:, :pool]
        rows = np.arange(len(cosines))[:, None]
        ranked = cosines - (2 + 2 * abs(self.weight))  # below every candidate: |penalty| <= |weight|
        ranked[rows, candidates] = penalised[rows, candidates]
        return ranked


def text_bank(sets: Sequence[np.ndarray], per_set: int = BANK_PER_SET, seed: int = 0) -> np.ndarray:
    """Up to ``per_set`` unit text vectors of each training set, a seeded sample of a
    larger one, so 30,000 captions do not drown 15 scene names; float16, as shipped."""
    rng = np.random.default_rng(seed)
    chosen = [
        texts if len(texts) <= per_set else texts[np.sort(rng.choice(len(texts), per_set, replace=False))]
        for texts in sets
    ]
    return np.concatenate(chosen).astype(np.float16)
