"""Labeled photo sets: a folder of class folders, or a CSV of path and label.

A CSV has ``path`` (relative to the CSV's folder) and ``label`` columns, and
optionally ``synonyms`` (comma-separated, first name first), ``wnid`` and
``split`` (train/val/test), as the sets in ``../shared/data`` do. A folder
without ``labels.csv`` is read as one sub-folder per class, every image below
it labeled with the sub-folder's name (underscores read as spaces).
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xmodal.core.errors import XmodalError
from xmodal.text.expression import IMAGE_SUFFIXES
from xmodal.text.labels import Label, imagenet_labels, parse_synonyms

_WNID = re.compile(r"n[0-9]{8}")


@dataclass(frozen=True)
class LabeledImages:
    """Image paths with one label each; row ``i`` of every list belongs together."""

    source: Path
    paths: tuple[Path, ...]
    labels: tuple[str, ...]
    splits: tuple[str, ...]  # "" where the source has no split column
    classes: dict[str, Label]  # label name -> its synonyms and WordNet id
    zero_shot: tuple[str, ...] = ()  # per row "seen" or "unseen" where the source has a zero_shot_split column

    def __len__(self) -> int:
        return len(self.paths)

    def select(self, mask: np.ndarray) -> LabeledImages:
        """The rows where ``mask`` is true, keeping only the classes they use."""
        rows = np.flatnonzero(mask)
        labels = tuple(self.labels[i] for i in rows)
        used = set(labels)
        return LabeledImages(
            self.source,
            tuple(self.paths[i] for i in rows),
            labels,
            tuple(self.splits[i] for i in rows),
            {name: label for name, label in self.classes.items() if name in used},
            tuple(self.zero_shot[i] for i in rows) if self.zero_shot else (),
        )

    def in_split(self, *names: str) -> np.ndarray:
        """Mask of rows in any of the named splits; every row when the set has no splits."""
        if not any(self.splits):
            return np.ones(len(self), dtype=bool)
        return np.isin(np.array(self.splits), names)

    def of_classes(self, names: set[str]) -> np.ndarray:
        """Mask of rows whose label, or its WordNet id, is in ``names``."""
        keep = {n for n, label in self.classes.items() if n in names or label.wnid in names}
        return np.isin(np.array(self.labels), list(keep))

    def targets(self, order: list[str]) -> np.ndarray:
        """Each row's label as an index into ``order``."""
        index = {name: i for i, name in enumerate(order)}
        return np.array([index[label] for label in self.labels], dtype=np.int64)


def read_labeled(source: str | Path) -> LabeledImages:
    """Read a CSV file, a folder holding ``labels.csv``, or a folder of class folders."""
    source = Path(source).expanduser()
    if source.is_dir() and (source / "labels.csv").is_file():
        source = source / "labels.csv"
    if source.is_file():
        return _read_csv(source)
    if source.is_dir():
        return _read_class_folders(source)
    raise XmodalError(f"labeled data not found: {source}")


def read_class_split(path: str | Path) -> tuple[set[str], set[str]]:
    """(seen, unseen) class names or WordNet ids from a JSON split file.

    Each of ``seen`` and ``unseen`` is a list of names, or an object whose keys
    are WordNet ids and values are names (as in tiny-imagenet-200/split.json).
    """
    path = Path(path)
    if not path.is_file():
        raise XmodalError(f"class split file not found: {path}")
    try:
        data = json.loads(path.read_text())
        groups = [data["seen"], data["unseen"]]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise XmodalError(f"cannot read class split {path}: needs 'seen' and 'unseen' ({error})") from error
    return tuple(
        set(group) | (set(group.values()) if isinstance(group, dict) else set()) for group in groups
    )  # type: ignore[return-value]


def _read_csv(path: Path) -> LabeledImages:
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise XmodalError(f"cannot read {path}: {error}") from error
    if not rows:
        raise XmodalError(f"{path} has no rows, only a header or nothing")
    missing = {"path", "label"} - set(rows[0])
    if missing:
        raise XmodalError(f"{path} needs columns path and label; missing: {', '.join(sorted(missing))}")
    classes: dict[str, Label] = {}
    for row in rows:
        name = row["label"].strip()
        if name not in classes:
            synonyms = parse_synonyms(row.get("synonyms") or "") or (name,)
            classes[name] = Label(name, synonyms, row.get("wnid") or None)
    return LabeledImages(
        path,
        tuple(path.parent / row["path"] for row in rows),
        tuple(row["label"].strip() for row in rows),
        tuple((row.get("split") or "").strip() for row in rows),
        classes,
        tuple((row.get("zero_shot_split") or "").strip() for row in rows) if "zero_shot_split" in rows[0] else (),
    )


def _read_class_folders(root: Path) -> LabeledImages:
    paths, labels = [], []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        for image in sorted(folder.rglob("*")):
            if image.suffix.lower() in IMAGE_SUFFIXES and image.is_file():
                paths.append(image)
                labels.append(folder.name.replace("_", " "))  # school_bus -> "school bus"
    if not paths:
        raise XmodalError(f"no images in class folders under {root}")
    named = _wordnet_names(set(labels))  # n01440764 -> tench: folders named as ImageNet ships them
    labels = [named[label].name if label in named else label for label in labels]
    by_name = {label.name: label for label in named.values()}
    classes = {name: by_name.get(name, Label(name, (name,))) for name in dict.fromkeys(labels)}
    return LabeledImages(root, tuple(paths), tuple(labels), ("",) * len(paths), classes)


def _wordnet_names(names: set[str]) -> dict[str, Label]:
    """The ImageNet classes (1k, then 21k) of the names that are WordNet ids: a folder called
    ``n01440764`` trained toward the text "n01440764" learns nothing a word space knows.
    Two classes of one name (crane, the bird and the machine) keep their ids as names."""
    wnids = {name for name in names if _WNID.fullmatch(name)}
    if not wnids:
        return {}
    found: dict[str, Label] = {}
    for subset in ("1k", "21k"):
        for label in imagenet_labels(subset):
            if label.wnid in wnids:
                found.setdefault(label.wnid, label)
        if len(found) == len(wnids):
            break
    clash = {name for name, count in Counter(label.name for label in found.values()).items() if count > 1}
    return {wnid: Label(wnid, label.synonyms, wnid) if label.name in clash else label for wnid, label in found.items()}


@dataclass(frozen=True)
class CaptionedImages:
    """Photos with free-text captions, several per photo: the material that teaches a
    map what people say about a picture, beyond its class name."""

    source: Path
    photos: tuple[Path, ...]  # each photo once, in order of first appearance
    splits: tuple[str, ...]  # per photo; "" where the source has no split column
    captions: tuple[str, ...]
    photo_of: np.ndarray  # per caption: its photo's row in ``photos``

    def __len__(self) -> int:
        return len(self.captions)

    def in_split(self, *names: str) -> np.ndarray:
        """Mask of *photos* in any of the named splits; every photo when there are no splits."""
        if not any(self.splits):
            return np.ones(len(self.photos), dtype=bool)
        return np.isin(np.array(self.splits), names)


def read_captions(source: str | Path) -> CaptionedImages:
    """Read ``captions.csv`` (columns path, caption and optionally split) or a folder holding it."""
    source = Path(source).expanduser()
    if source.is_dir():
        source = source / "captions.csv"
    if not source.is_file():
        raise XmodalError(f"captioned photos not found: {source}")
    try:
        with source.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise XmodalError(f"cannot read {source}: {error}") from error
    missing = {"path", "caption"} - set(rows[0] if rows else {})
    if missing:
        raise XmodalError(f"{source} needs columns path and caption; missing: {', '.join(sorted(missing))}")
    photos: dict[str, int] = {}
    splits: list[str] = []
    for row in rows:
        if row["path"] not in photos:
            photos[row["path"]] = len(photos)
            splits.append((row.get("split") or "").strip())
    return CaptionedImages(
        source,
        tuple(source.parent / path for path in photos),
        tuple(splits),
        tuple(" ".join(row["caption"].split()) for row in rows),
        np.array([photos[row["path"]] for row in rows], dtype=np.int64),
    )
