"""What kind of thing a label is: the WordNet hierarchy of ImageNet's labels.

The table ``xmodal/data/wordnet-imagenet.json.gz`` is built once by
``scripts/build_hierarchy.py`` from WordNet 3.0 (see docs/hierarchy.md) and
holds every ImageNet-1k and ImageNet-21k wnid and all of its hypernym
ancestors: their names and direct hypernyms. Reading it needs neither WordNet
nor nltk; it is loaded on first use and cached.

    >>> h = Hierarchy.load()
    >>> h.ancestors("n02102040")[:3]     # English springer -> springer spaniel -> spaniel -> sporting dog
    ['n02101861', 'n02101108', 'n02098550']
    >>> h.describe("n02102040", 2)
    'English springer, English springer spaniel, springer spaniel, spaniel'

``describe(wnid, depth)`` is a label text that says what kind of thing the
synset is: its first name, then its other names except taxonomic ones
("Tinca tinca"), then the first names of up to ``depth`` ancestors along the
first-hypernym chain, nearest first, passing over the very abstract ones in
:data:`ABSTRACT` (entity, object, artifact, ...), which say nothing about how
a thing looks; a name already given is not repeated.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from xmodal.core.errors import XmodalError

TABLE = Path(__file__).parents[1] / "data" / "wordnet-imagenet.json.gz"
FORMAT = "xmodal-wordnet-imagenet/1"

# The top of WordNet's noun hierarchy, and a few nodes just below it, that every
# concrete thing shares: too abstract to tell a reader (or a word space) anything.
# describe() passes over them without counting them toward its depth.
ABSTRACT: dict[str, str] = {
    "n00001740": "entity",
    "n00001930": "physical entity",
    "n00002137": "abstraction",
    "n00002452": "thing",
    "n00002684": "object",
    "n00003553": "whole",
    "n00004258": "living thing",
    "n00004475": "organism",
    "n00007347": "causal agent",
    "n00020827": "matter",
    "n00021939": "artifact",
    "n03575240": "instrumentality",
    "n00023100": "psychological feature",
    "n00024264": "attribute",
    "n00031264": "group",
    "n00033020": "communication",
    "n00033615": "measure",
}


class UnknownSynset(XmodalError):
    """A wnid that the shipped WordNet table does not hold."""

    def __init__(self, wnid: str, size: int) -> None:
        self.wnid = wnid
        super().__init__(
            f"unknown WordNet id {wnid!r}: the hierarchy table holds the {size:,} ImageNet-1k/21k "
            "synsets and their ancestors (see docs/hierarchy.md)"
        )


@dataclass(frozen=True)
class Synset:
    """One WordNet noun synset: its names in WordNet order, its direct hypernyms
    (first one first) and which of its names are taxonomic ("Tinca tinca")."""

    names: tuple[str, ...]
    hypernyms: tuple[str, ...] = ()
    scientific: frozenset[str] = frozenset()

    @property
    def common_names(self) -> tuple[str, ...]:
        """The first name, then the other names that are not taxonomic."""
        return self.names[:1] + tuple(n for n in self.names[1:] if n not in self.scientific)


class Hierarchy:
    """A read-only is-a hierarchy of synsets keyed by wnid ("n02102040").

    ``Hierarchy.load()`` gives the shipped WordNet table; ``Hierarchy(synsets)``
    makes one from any mapping of wnid to :class:`Synset` (tests build tiny ones).
    Every method raises :class:`UnknownSynset` (an ``XmodalError``) for a wnid
    the table lacks; ``wnid in hierarchy`` asks first.
    """

    def __init__(self, synsets: Mapping[str, Synset], header: Mapping | None = None) -> None:
        self._synsets = dict(synsets)
        self.header = dict(header or {})
        self._up: dict[str, dict[str, int]] = {}

    @classmethod
    def load(cls, path: str | Path | None = None) -> Hierarchy:
        """The table at ``path`` (default: the one shipped with xmodal), read once per path."""
        return _load(str(path or TABLE))

    def __contains__(self, wnid: object) -> bool:
        return wnid in self._synsets

    def __len__(self) -> int:
        return len(self._synsets)

    def __repr__(self) -> str:
        source = self.header.get("wordnet", "hand-made")
        return f"Hierarchy({len(self):,} synsets, {source})"

    def synset(self, wnid: str) -> Synset:
        try:
            return self._synsets[wnid]
        except KeyError:
            raise UnknownSynset(wnid, len(self)) from None

    def names(self, wnid: str) -> tuple[str, ...]:
        """All names of the synset, WordNet's first name first."""
        return self.synset(wnid).names

    def common_names(self, wnid: str) -> tuple[str, ...]:
        """The first name, then the other names that are not taxonomic."""
        return self.synset(wnid).common_names

    def parents(self, wnid: str) -> tuple[str, ...]:
        """Direct hypernyms (and instance hypernyms), the first one first; () at the root."""
        return self.synset(wnid).hypernyms

    def ancestors(self, wnid: str) -> list[str]:
        """The chain of first hypernyms toward the root, nearest first (``wnid`` left out)."""
        chain = []
        parents = self.parents(wnid)
        while parents:
            chain.append(parents[0])
            parents = self.parents(parents[0])
        return chain

    def ancestor_distances(self, wnid: str) -> dict[str, int]:
        """Every ancestor along every hypernym path, with its fewest is-a steps from
        ``wnid``; ``wnid`` itself is there at 0."""
        if wnid not in self._up:
            distances = {wnid: 0}
            frontier = [wnid]
            while frontier:
                step = []
                for node in frontier:
                    for parent in self.parents(node):
                        if parent not in distances:
                            distances[parent] = distances[node] + 1
                            step.append(parent)
                frontier = step
            self._up[wnid] = distances
        return self._up[wnid]

    def is_a(self, wnid: str, ancestor: str) -> bool:
        """Whether ``wnid`` is ``ancestor`` or one of its descendants."""
        return ancestor in self.ancestor_distances(wnid)

    def distance(self, a: str, b: str) -> int:
        """Fewest is-a edges between two synsets through a common ancestor
        (0 for the same synset, 2 for siblings); -1 when they share none."""
        up_a, up_b = self.ancestor_distances(a), self.ancestor_distances(b)
        common = up_a.keys() & up_b.keys()
        return min((up_a[c] + up_b[c] for c in common), default=-1)

    def broader_names(self, wnid: str, depth: int) -> list[str]:
        """First names of up to ``depth`` ancestors along the first-hypernym chain,
        nearest first, passing over those in :data:`ABSTRACT`."""
        names = []
        for ancestor in self.ancestors(wnid):
            if len(names) >= depth:
                break
            if ancestor not in ABSTRACT:
                names.append(self.names(ancestor)[0])
        return names

    def describe(self, wnid: str, depth: int = 0) -> str:
        """A label text: the common names, then up to ``depth`` broader names, each name once.

        ``describe("n02102040", 2)`` is
        'English springer, English springer spaniel, springer spaniel, spaniel'.
        """
        return ", ".join(unique(self.common_names(wnid), self.broader_names(wnid, depth)))


def unique(*groups: Iterable[str]) -> list[str]:
    """The names of all groups in order, each once (the first spelling, case ignored)."""
    seen: set[str] = set()
    kept = []
    for group in groups:
        for name in group:
            if name.casefold() not in seen:
                seen.add(name.casefold())
                kept.append(name)
    return kept


@lru_cache(maxsize=None)
def _load(path: str) -> Hierarchy:
    try:
        data = json.loads(gzip.decompress(Path(path).read_bytes()))
    except (OSError, ValueError) as error:
        raise XmodalError(f"cannot read the WordNet hierarchy table {path}: {error}") from None
    header = data.get("header", {})
    if header.get("format") != FORMAT:
        raise XmodalError(f"{path} is not a {FORMAT} table (format {header.get('format')!r})")
    synsets = {
        wnid: Synset(
            tuple(entry["names"]),
            tuple(entry["hypernyms"]),
            frozenset(entry["names"][i] for i in entry.get("scientific", ())),
        )
        for wnid, entry in data["synsets"].items()
    }
    return Hierarchy(synsets, header)
