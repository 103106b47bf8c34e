"""Class labels and their word vectors: what a DeViSE model is trained toward
and evaluated against.

A label's vector is the phrase vector of its name; when the name has no vector
its synonyms are tried in order; a label with none is reported and left out,
never given a random vector (that would be a silent lie about zero-shot).

``hierarchy_depth`` (default 0, the behaviour above) opts into richer labels: a
label with an ImageNet wnid also draws on what kind of thing it is, via the
WordNet table of :mod:`xmodal.text.hierarchy` (see :func:`label_texts`).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from xmodal.core.errors import UnknownWord, XmodalError
from xmodal.text.hierarchy import Hierarchy, unique
from xmodal.text.space import embed_texts

if TYPE_CHECKING:
    from xmodal.text.words import WordSpace


@dataclass(frozen=True)
class Label:
    """A class name with its other names, first one first (WordNet style)."""

    name: str
    synonyms: tuple[str, ...] = ()
    wnid: str | None = None


@dataclass(frozen=True)
class LabelVectors:
    """Unit vectors for the labels that have one; ``dropped`` names the rest."""

    labels: tuple[Label, ...]
    vectors: np.ndarray  # (len(labels), dim), unit rows
    dropped: tuple[Label, ...] = field(default=())

    @property
    def names(self) -> list[str]:
        return [label.name for label in self.labels]

    def index(self) -> dict[str, int]:
        """Label name to row; the first row wins for duplicated names."""
        rows: dict[str, int] = {}
        for i, label in enumerate(self.labels):
            rows.setdefault(label.name, i)
        return rows


def label_matrix(
    space: WordSpace, labels: Sequence[Label], hierarchy_depth: int = 0, hierarchy: Hierarchy | None = None
) -> np.ndarray:
    """One row per label, in order: its vector by name, else by the first synonym
    that has one, else zeros (a zero row scores 0 against everything).

    A sentence space embeds the label's name, or at ``hierarchy_depth`` > 0 its
    whole :func:`label_texts` text, as one text.

    In a word space, with ``hierarchy_depth`` > 0 a row is instead the normalised mean of the unit
    vectors of every term of the label's text (:func:`label_texts`) that the
    space knows: its own names and up to that many broader names. When none of
    its own names in that text is known, the depth-0 vector stands in for them
    (a taxonomic synonym may be the only one known). A label with no vector at
    depth 0 keeps a zero row, so every depth drops the same labels and figures
    at different depths compare like with like. ``hierarchy`` defaults to the
    shipped WordNet table.
    """
    if hasattr(space, "encode"):  # a sentence space reads any text: every label has a vector
        texts = label_texts(labels, hierarchy_depth, hierarchy) if hierarchy_depth > 0 else [l.name for l in labels]
        return embed_texts(space, texts)
    matrix = np.zeros((len(labels), space.dim), dtype=np.float32)
    for row, label in enumerate(labels):
        for term in (label.name, *label.synonyms):
            try:
                matrix[row] = space.lookup(term, suggest=False)[0]
            except UnknownWord:
                continue
            break
    if hierarchy_depth <= 0:
        return matrix
    for row, (own, broader) in enumerate(_label_terms(labels, hierarchy_depth, hierarchy)):
        if not matrix[row].any():
            continue
        own_vectors = _known_vectors(space, own) or [matrix[row]]
        total = np.sum(own_vectors + _known_vectors(space, broader), axis=0)
        norm = np.linalg.norm(total)
        matrix[row] = total / norm if norm > 0 else matrix[row]
    return matrix


def embed_labels(
    space: WordSpace, labels: Sequence[Label], hierarchy_depth: int = 0, hierarchy: Hierarchy | None = None
) -> LabelVectors:
    """Vectors for the labels that have one; the others are listed in ``dropped``.
    ``hierarchy_depth`` and ``hierarchy`` as in :func:`label_matrix`."""
    labels = list(labels)
    matrix = label_matrix(space, labels, hierarchy_depth, hierarchy)
    found = np.linalg.norm(matrix, axis=1) > 0
    return LabelVectors(
        tuple(label for label, ok in zip(labels, found) if ok),
        matrix[found],
        tuple(label for label, ok in zip(labels, found) if not ok),
    )


def label_texts(labels: Sequence[Label], depth: int = 0, hierarchy: Hierarchy | None = None) -> list[str]:
    """One text per label that says what it is: its names, then broader names.

    A label whose wnid the WordNet table holds gets its name, its other
    synonyms less the taxonomic ones ("Tinca tinca"), then the first names of
    up to ``depth`` non-abstract ancestors, nearest first, each name once
    (:meth:`Hierarchy.broader_names`):
    ``Label("English springer", ..., "n02102040")`` at depth 2 gives
    'English springer, English springer spaniel, springer spaniel, spaniel'.
    Any other label keeps its own name and synonyms. Names are joined with ", ".
    ``hierarchy`` defaults to the shipped table.
    """
    return [", ".join(unique(own, broader)) for own, broader in _label_terms(labels, depth, hierarchy)]


def _label_terms(
    labels: Sequence[Label], depth: int, hierarchy: Hierarchy | None = None
) -> list[tuple[list[str], list[str]]]:
    """Per label, (its own names, the broader names it does not already have)."""
    hierarchy = hierarchy if hierarchy is not None else Hierarchy.load()
    terms = []
    for label in labels:
        own = unique((label.name, *label.synonyms))
        broader: list[str] = []
        if label.wnid in hierarchy:
            scientific = hierarchy.synset(label.wnid).scientific
            own = own[:1] + [name for name in own[1:] if name not in scientific]
            broader = unique(own, hierarchy.broader_names(label.wnid, depth))[len(own) :]
        terms.append((own, broader))
    return terms


def _known_vectors(space: WordSpace, terms: Sequence[str]) -> list[np.ndarray]:
    vectors = []
    for term in terms:
        try:
            vectors.append(space.lookup(term, suggest=False)[0])
        except UnknownWord:
            pass
    return vectors


def parse_synonyms(text: str) -> tuple[str, ...]:
    """'goldfish, Carassius auratus' -> ('goldfish', 'Carassius auratus')."""
    return tuple(s.strip() for s in text.split(",") if s.strip())


def imagenet_labels(subset: str = "1k") -> list[Label]:
    """ImageNet class names from the synset files that ship inside timm.

    ``1k`` is the ImageNet-1k classifier's output order; ``21k`` is the
    ImageNet-21k (fall 2011) label set that DeViSE's own 21K test used.
    Read without importing timm, which would import torch.
    """
    folder = _timm_info_folder()
    lemmas = dict(
        line.split("\t", 1)
        for line in (folder / "imagenet_synset_to_lemma.txt").read_text().splitlines()
        if "\t" in line
    )
    labels = []
    for wnid in imagenet_label_file(subset).read_text().split():
        names = parse_synonyms(lemmas.get(wnid, wnid))
        labels.append(Label(names[0], names, wnid))
    return labels


def imagenet_label_file(subset: str) -> Path:
    """The timm file listing the wnids of ImageNet ``1k`` or ``21k``, in order."""
    files = {"1k": "imagenet_synsets.txt", "21k": "imagenet21k_goog_synsets.txt"}
    if subset not in files:
        raise XmodalError(f"unknown ImageNet subset {subset!r}; choose from {', '.join(files)}")
    return _timm_info_folder() / files[subset]


def _timm_info_folder() -> Path:
    spec = importlib.util.find_spec("timm")
    if spec is None or not spec.submodule_search_locations:
        raise XmodalError("ImageNet label names need the timm package (installed with open_clip_torch)")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "_info"
