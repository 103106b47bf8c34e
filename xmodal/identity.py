"""What every space has in common: who it is, how an expression becomes a vector, and
how nearest words are found.

Kept apart from the spaces themselves so that reading an index's or a model's
identity imports neither gensim nor onnxruntime.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from xmodal.errors import IncompatibleSpace
from xmodal.expression import Expression, ImageEncoder, QueryVector, parse


@dataclass(frozen=True)
class SpaceIdentity:
    """Which vectors exactly: stored beside models and indexes built in a space."""

    name: str
    checksum: str
    dim: int
    size: int

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> SpaceIdentity:
        return cls(str(data["name"]), str(data["checksum"]), int(data["dim"]), int(data["size"]))

    def require_same(self, other: SpaceIdentity, what: str) -> None:
        """Raise IncompatibleSpace unless ``other`` is this very space; ``what`` names the thing built in ``self``."""
        if self.checksum != other.checksum:
            raise IncompatibleSpace(
                f"{what} was built with word space {self.name!r} ({self.checksum}), "
                f"not {other.name!r} ({other.checksum}); use the same space or rebuild it"
            )


@dataclass(frozen=True)
class Neighbour:
    """A word and its cosine similarity to a query."""

    word: str
    score: float

    def to_dict(self) -> dict:
        return {"word": self.word, "score": round(self.score, 6)}


class Space:
    """The part of a space that does not depend on where its vectors come from.

    A subclass has ``identity``, ``lookup(term)`` (what expressions evaluate) and
    ``searchable()``: the words nearest-word answers come from, with their vectors.
    """

    identity: SpaceIdentity

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
