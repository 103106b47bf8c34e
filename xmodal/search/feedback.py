"""Pseudo-relevance feedback: a text query moved toward what its first results share.

A word the DeViSE map reads poorly lands between photos rather than on them;
its best few photos are usually right, though, and what they have in common
sits in the photos' own part of the space. Rocchio's feedback (as "average
query expansion" in image retrieval) searches once, then again with the query
plus ``weight`` times the unit mean of its first ``k`` results' vectors.
``benchmarks/feedback.py`` chooses ``weight`` and ``k`` on the dev split.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Feedback:
    """How far a query moves (``weight``) toward the mean of its first ``k`` results."""

    weight: float
    k: int

    def moved(self, query: np.ndarray, first: np.ndarray) -> np.ndarray:
        """The unit query for the second search; ``first``: the first results' vectors, best first."""
        query = np.asarray(query, dtype=np.float32)
        top = np.atleast_2d(np.asarray(first, dtype=np.float32))[: self.k]
        if not len(top):
            return query
        centre = top.mean(axis=0)
        centre /= max(float(np.linalg.norm(centre)), 1e-12)
        out = query / max(float(np.linalg.norm(query)), 1e-12) + self.weight * centre
        return out / max(float(np.linalg.norm(out)), 1e-12)

    def __str__(self) -> str:
        return f"feedback {self.weight:g} x first {self.k}"
