"""Who a space is (:class:`SpaceIdentity`) and what a nearest-word answer holds
(:class:`Neighbour`).

Kept apart from the spaces themselves so that reading an index's or a model's
identity imports neither gensim nor onnxruntime.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from xmodal.core.errors import IncompatibleSpace


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
