"""Duplicates: groups of photos that are copies of one another, for a person to decide on.

Two photos are exact copies when their content hashes match (the same bytes),
and near copies when their ``visual`` vectors (the visual model's own
features, which see looks rather than meaning) score at least the threshold:
resized, re-encoded, lightly cropped or slightly rotated copies score close
to 1, distinct photos of the same subject lower (benchmarks/duplicates.py
measured where to draw the line, :data:`THRESHOLD`).

The score is the cosine of the two vectors after each feature is raised to
the power :data:`POWER` (keeping its sign): "power normalisation", which
evens out the few strongly firing features, so the score says which features
fire more than how strongly. A shrunken or re-encoded copy keeps the pattern
but not the strengths (blur weakens them): on the benchmark's half A the
plain cosine loses 6 in 10 half-size copies at the precision it needs, the
power-0.25 one fewer than 1 in 10.

Each photo is one nearest-neighbour search through the store (HNSW by the
plain cosine, folders as a Qdrant filter; its :data:`NEIGHBOURS` nearest are
scored), and the pairs that reach the threshold are joined by union-find, so
a copy of a copy lands in the same group. The work is one search per photo,
never a comparison of every photo with every other; memory holds one page of
vectors, one hash per photo and the photos that have a copy.

Nothing here deletes or moves a file: the groups are a list to look at.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from indexer.walk import file_identity
from xmodal.core.errors import XmodalError

if TYPE_CHECKING:  # only names: the CLI reads THRESHOLD for its help without loading Qdrant
    from xmodal.store import ImageInfo, Store

THRESHOLD = 0.85  # visual cosine of the shipped (phase-2) features; chosen on half A of benchmarks/duplicates.py (docs/search.md)
POWER = 0.25  # each feature's power before the cosine; chosen on half A of benchmarks/duplicates.py
NEIGHBOURS = 16  # per photo: more copies than this are still joined, through each other's searches


@dataclass(frozen=True)
class Pair:
    """Two photos found to be copies: ``exact`` (the same content hash) or near, with the
    score of their visual vectors (1.0 for exact copies, which share their vectors)."""

    a: str
    b: str
    score: float
    exact: bool
    same_file: bool = False  # both paths lead to one file (a link, indexed twice): no copy to delete

    def to_dict(self) -> dict:
        return {"a": self.a, "b": self.b, "score": round(self.score, 6), "exact": self.exact, "same_file": self.same_file}


@dataclass(frozen=True)
class Group:
    """Photos that are copies of one another, the most pixels first (then the most
    bytes, then by path): the likeliest original leads. ``pairs`` are the links found."""

    photos: tuple[ImageInfo, ...]
    pairs: tuple[Pair, ...]

    @property
    def exact(self) -> bool:
        """Whether every photo of the group has the same content (byte-for-byte copies)."""
        return len({info.hash for info in self.photos}) == 1

    def closest(self, path: str) -> Pair:
        """The strongest link of the photo at ``path`` to another of the group: an exact
        one first, else the highest cosine (every photo of a group has at least one)."""
        return next(pair for pair in self.pairs if path in (pair.a, pair.b))  # pairs are sorted strongest first

    def to_dict(self) -> dict:
        """Each photo's facts with its closest link (``closest``: the other photo, its
        cosine, whether exact), and every pair found."""
        photos = []
        for info in self.photos:
            pair = self.closest(info.path)
            photos.append({
                "path": info.path, "bytes": info.size, "width": info.width, "height": info.height, "hash": info.hash,
                "closest": {
                    "path": pair.b if pair.a == info.path else pair.a, "score": round(pair.score, 6), "exact": pair.exact,
                    "same_file": pair.same_file,
                },
            })
        return {"kind": "exact" if self.exact else "near", "photos": photos, "pairs": [pair.to_dict() for pair in self.pairs]}


@dataclass(frozen=True)
class Duplicates:
    """What :func:`find_duplicates` found among ``photos`` compared, at ``threshold``."""

    groups: tuple[Group, ...]
    photos: int
    threshold: float

    def to_dict(self) -> dict:
        """The answer as JSON-ready data (what ``xmodal duplicates --json`` prints)."""
        return {"threshold": self.threshold, "photos": self.photos, "groups": [group.to_dict() for group in self.groups]}


def find_duplicates(
    store: Store,
    threshold: float | None = None,
    within: Iterable[str] | None = None,
    *,
    power: float = POWER,
) -> Duplicates:
    """Groups of exact and near copies among the stored photos (under ``within``'s
    folders, when given: both photos of a pair are under them), largest group first,
    then by the group's first path. Photos without a copy are in no group.
    ``threshold`` None is :data:`THRESHOLD`; ``power`` is there for the benchmark."""
    threshold = THRESHOLD if threshold is None else threshold
    if not 0 < threshold <= 1:
        raise XmodalError(f"the duplicates threshold is a score above 0 and at most 1, not {threshold:g}")
    folders = list(within) if within else None
    links = _Links()
    first_with_hash: dict[str, str] = {}
    photos = 0
    for info, vector in store.vectors("visual", folders):
        photos += 1
        first = first_with_hash.setdefault(info.hash, info.path)
        if first != info.path:  # its facts were not kept when it was read: fetch them, once per copy
            links.join(links.infos.get(first) or store.get(first).info, info)
        looks = _normalised(vector, power)
        for hit in store.search(vector, "visual", NEIGHBOURS + 1, within=folders, vectors=True):
            if hit.path == info.path or hit.info.hash == info.hash:  # same hash: joined above, as exact
                continue
            score = float(looks @ _normalised(hit.vector, power))
            if score >= threshold:
                links.join(info, hit.info, score)
    return Duplicates(links.groups(), photos, threshold)


def _normalised(vector: np.ndarray, power: float) -> np.ndarray:
    """``vector`` with each feature raised to ``power`` (its sign kept), at unit length."""
    powered = np.sign(vector) * np.abs(vector) ** power
    return powered / max(float(np.linalg.norm(powered)), 1e-12)


class _Links:
    """Union-find over the photos that have a copy, with the near pairs that joined them."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}
        self.near: dict[tuple[str, str], Pair] = {}
        self.infos: dict[str, ImageInfo] = {}

    def join(self, one: ImageInfo, other: ImageInfo, score: float | None = None) -> None:
        """Put two photos in one group: near copies with their ``score``, or exact ones (None)."""
        self.infos[one.path], self.infos[other.path] = one, other
        a, b = sorted((one.path, other.path))
        if score is not None and (a, b) not in self.near:
            self.near[(a, b)] = Pair(a, b, score, False)
        root_a, root_b = self._root(a), self._root(b)
        if root_a != root_b:
            self.parent[max(root_a, root_b)] = min(root_a, root_b)

    def _root(self, path: str) -> str:
        root = self.parent.setdefault(path, path)
        while root != self.parent[root]:
            self.parent[root] = self.parent[self.parent[root]]  # path halving
            root = self.parent[root]
        return root

    def groups(self) -> tuple[Group, ...]:
        members: dict[str, list[ImageInfo]] = {}
        for path in self.parent:
            members.setdefault(self._root(path), []).append(self.infos[path])
        pairs: dict[str, list[Pair]] = {root: _exact_pairs(infos) for root, infos in members.items()}
        for pair in self.near.values():
            pairs[self._root(pair.a)].append(pair)
        groups = [
            Group(
                tuple(sorted(infos, key=lambda info: (-info.width * info.height, -info.size, info.path))),
                tuple(sorted(pairs[root], key=lambda pair: (not pair.exact, -pair.score, pair.a, pair.b))),
            )
            for root, infos in members.items()
        ]
        return tuple(sorted(groups, key=lambda group: (-len(group.photos), min(info.path for info in group.photos))))


def _exact_pairs(infos: list[ImageInfo]) -> list[Pair]:
    """Each photo with the same content as an earlier path, paired with an earlier path of the
    very same file where there is one (a link indexed beside its target: marked ``same_file``),
    else with the first path of that content."""
    shared = Counter(info.hash for info in infos)
    first: dict[str, str] = {}
    first_of_file: dict[tuple[int, int], str] = {}
    pairs = []
    for info in sorted(infos, key=lambda info: info.path):
        if shared[info.hash] < 2:
            continue  # no exact copy: nothing to stat
        file = file_identity(info.path)
        earlier = first_of_file.setdefault(file, info.path) if file else info.path
        if first.setdefault(info.hash, info.path) == info.path:
            continue
        if earlier != info.path:
            pairs.append(Pair(earlier, info.path, 1.0, True, True))
        else:
            pairs.append(Pair(first[info.hash], info.path, 1.0, True))
    return pairs

