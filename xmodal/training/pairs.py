"""Photos paired with texts: what a DeViSE map learns from when it must go beyond class names.

A pair is one photo and one text about it: a caption ("two dogs play in the
snow"), a scene name ("mountain") or a class name ("English springer"). A
batch of pairs is its own set of wrong answers: each photo should be nearer
its own text than every other text in the batch, and each text nearer its own
photo than every other photo (the two-way hinge rank loss of
``devise.pair_rank_loss``). Pairs in one *group* are never each other's wrong
answers: the five captions of one photo, or two photos of one class.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xmodal.training.datasets import CaptionedImages, LabeledImages


@dataclass(frozen=True)
class Pairs:
    """Photos, texts, and which photo goes with which text."""

    photos: tuple[Path, ...]
    texts: tuple[str, ...]
    photo: np.ndarray  # per pair: row in ``photos``
    text: np.ndarray  # per pair: row in ``texts``
    group: np.ndarray  # per pair: pairs of one group are not each other's negatives

    def __len__(self) -> int:
        return len(self.photo)


def caption_pairs(data: CaptionedImages, split: str = "train") -> Pairs:
    """Every caption of the photos in ``split`` with its photo; a photo's captions are one group."""
    keep = np.flatnonzero(data.in_split(split))
    row = {int(p): i for i, p in enumerate(keep)}
    chosen = [i for i, p in enumerate(data.photo_of) if int(p) in row]
    texts = list(dict.fromkeys(data.captions[i] for i in chosen))
    text_row = {t: i for i, t in enumerate(texts)}
    photo = np.array([row[int(data.photo_of[i])] for i in chosen], dtype=np.int64)
    return Pairs(
        tuple(data.photos[i] for i in keep),
        tuple(texts),
        photo,
        np.array([text_row[data.captions[i]] for i in chosen], dtype=np.int64),
        photo.copy(),
    )


def label_pairs(
    data: LabeledImages,
    texts: Mapping[str, str],
    split: str = "train",
    per_class: int | None = None,
) -> Pairs:
    """Each photo of ``split`` with its label's text (``texts``: label name -> text); one group per label.

    A set with a ``zero_shot_split`` column gives only its seen classes,
    so its unseen ones stay unseen for the zero-shot figures. ``per_class`` keeps the first
    that many photos of each class, so a big labeled set does not drown the captions.
    """
    mask = data.in_split(split)
    if any(data.zero_shot):
        mask &= np.array(data.zero_shot) != "unseen"
    rows = np.flatnonzero(mask)
    if per_class is not None:
        labels = np.array(data.labels)[rows]
        order = np.argsort(labels, kind="stable")
        first = np.searchsorted(labels[order], labels[order])  # where each row's class starts
        keep = np.empty(len(rows), dtype=bool)
        keep[order] = np.arange(len(rows)) - first < per_class
        rows = rows[keep]
    labels = [data.labels[i] for i in rows]
    names = list(dict.fromkeys(labels))
    index = {name: i for i, name in enumerate(names)}
    text = np.array([index[label] for label in labels], dtype=np.int64)
    return Pairs(tuple(data.paths[i] for i in rows), tuple(texts[n] for n in names), np.arange(len(rows)), text, text.copy())


def join(parts: Sequence[Pairs]) -> Pairs:
    """One set of pairs from several, with rows and groups renumbered so none collide."""
    photos, texts, photo, text, group = [], [], [], [], []
    groups = 0
    for part in parts:
        photo.append(part.photo + len(photos))
        text.append(part.text + len(texts))
        group.append(part.group + groups)
        photos.extend(part.photos)
        texts.extend(part.texts)
        groups += int(part.group.max()) + 1 if len(part) else 0
    return Pairs(tuple(photos), tuple(texts), np.concatenate(photo), np.concatenate(text), np.concatenate(group))
