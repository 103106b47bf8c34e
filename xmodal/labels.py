"""Class labels and their word vectors: what a DeViSE model is trained toward
and evaluated against.

A label's vector is the phrase vector of its name; when the name has no vector
its synonyms are tried in order; a label with none is reported and left out,
never given a random vector (that would be a silent lie about zero-shot).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from xmodal.errors import UnknownWord, XmodalError
from xmodal.words import WordSpace


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


def label_matrix(space: WordSpace, labels: Sequence[Label]) -> np.ndarray:
    """One row per label, in order: its vector by name, else by the first synonym
    that has one, else zeros (a zero row scores 0 against everything)."""
    matrix = np.zeros((len(labels), space.dim), dtype=np.float32)
    for row, label in enumerate(labels):
        for term in (label.name, *label.synonyms):
            try:
                matrix[row] = space.lookup(term, suggest=False)[0]
            except UnknownWord:
                continue
            break
    return matrix


def embed_labels(space: WordSpace, labels: Sequence[Label]) -> LabelVectors:
    """Vectors for the labels that have one; the others are listed in ``dropped``."""
    labels = list(labels)
    matrix = label_matrix(space, labels)
    found = np.linalg.norm(matrix, axis=1) > 0
    return LabelVectors(
        tuple(label for label, ok in zip(labels, found) if ok),
        matrix[found],
        tuple(label for label, ok in zip(labels, found) if not ok),
    )


def parse_synonyms(text: str) -> tuple[str, ...]:
    """'goldfish, Carassius auratus' -> ('goldfish', 'Carassius auratus')."""
    return tuple(s.strip() for s in text.split(",") if s.strip())


def imagenet_labels(subset: str = "1k") -> list[Label]:
    """ImageNet class names from the synset files that ship inside timm.

    ``1k`` is the ImageNet-1k classifier's output order; ``21k`` is the
    ImageNet-21k (fall 2011) label set that DeViSE's own 21K test used.
    Read without importing timm, which would import torch.
    """
    files = {"1k": "imagenet_synsets.txt", "21k": "imagenet21k_goog_synsets.txt"}
    if subset not in files:
        raise XmodalError(f"unknown ImageNet subset {subset!r}; choose from {', '.join(files)}")
    folder = _timm_info_folder()
    lemmas = dict(
        line.split("\t", 1)
        for line in (folder / "imagenet_synset_to_lemma.txt").read_text().splitlines()
        if "\t" in line
    )
    labels = []
    for wnid in (folder / files[subset]).read_text().split():
        names = parse_synonyms(lemmas.get(wnid, wnid))
        labels.append(Label(names[0], names, wnid))
    return labels


def _timm_info_folder() -> Path:
    spec = importlib.util.find_spec("timm")
    if spec is None or not spec.submodule_search_locations:
        raise XmodalError("ImageNet label names need the timm package (installed with open_clip_torch)")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "_info"
