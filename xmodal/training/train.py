"""Training and evaluating DeViSE models on labeled photos: the pipeline behind
``xmodal train`` and ``xmodal eval``.

photos -> visual outputs (cached on disk, so retraining never re-runs the
network) -> map inputs -> fitted map -> a model file that names everything it
was built from.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from xmodal.core.cache import cache_root
from xmodal.core.errors import XmodalError
from xmodal.devise.hubness import HubPenalty, text_bank
from xmodal.devise.model import DeviseModel, InputSpec, Standardizer, build_inputs
from xmodal.text.labels import (
    LabelVectors,
    embed_labels,
    imagenet_labels,
    label_matrix,
    label_texts,
)
from xmodal.text.space import Space, embed_texts
from xmodal.text.words import WordSpace
from xmodal.training.datasets import LabeledImages, read_captions, read_labeled
from xmodal.training.evaluate import generalized, hit_at_k
from xmodal.training.fit import TrainConfig, TuneConfig, fit_map, fit_pairs, recorded
from xmodal.training.pairs import Pairs, caption_pairs, join, label_pairs
from xmodal.training.views import VIEWS, view_files

if TYPE_CHECKING:
    from xmodal.vision.exported import OnnxVisual


@dataclass
class TrainResult:
    model: DeviseModel
    images: int
    dropped: list[str]  # labels with no word vector, left out of training
    seconds: float


def visual_outputs(visual: OnnxVisual, paths: Sequence[str | Path], quiet: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """The visual model's (features, logits) for ``paths``, from the on-disk cache when there."""
    from xmodal.vision.exported import OnnxVisual
    from xmodal.vision.features import extract_features

    digest = hashlib.sha1("\n".join(str(Path(p).resolve()) for p in paths).encode()).hexdigest()[:16]
    model_key = f"{visual.id.replace(':', '_').replace('/', '_')[:40]}-{visual.weights_checksum[-12:]}"
    precision = getattr(visual, "precision", "fp32")  # an int8 copy has the fp32 export's id and checksum
    if precision != "fp32":  # named by its file too, whose name changes with the int8 recipe
        model_key += f"-{precision}-{Path(OnnxVisual.FILES.get(precision, precision)).stem}"
    return extract_features(paths, visual, cache=cache_root() / "features" / model_key / digest, quiet=quiet)


def classifier_label_matrix(space: WordSpace, visual: OnnxVisual) -> np.ndarray:
    """Word vectors of the visual model's own ImageNet-1k classes, in logit order (zero rows where none)."""
    labels = imagenet_labels("1k")
    if visual.classes is None or len(visual.classes) != len(labels):
        raise XmodalError(f"visual model {visual.id} has no ImageNet-1k classifier to start ConSE from")
    return label_matrix(space, labels)


def initial_map(spec: InputSpec, classes: np.ndarray | None, feature_dim: int) -> np.ndarray | None:
    """Start at ConSE when the map reads the classifier: its block is the class vectors
    (``classes``), any pooled block starts at zero. A pooled-only map starts at random."""
    if "conse" not in spec.layers:
        return None
    blocks = [
        classes if layer == "conse" else np.zeros((feature_dim, classes.shape[1]), dtype=np.float32)
        for layer in spec.layers
    ]
    return np.concatenate(blocks, axis=0)


def class_centre(classes: np.ndarray | None, usable: np.ndarray | None, amount: float) -> np.ndarray | None:
    """``amount`` times the mean of the classifier classes' (unit) word vectors: the common
    direction that a ConSE-style output shares with every class name, whatever the photo."""
    if not amount:
        return None
    if classes is None or usable is None or not usable.any():
        raise XmodalError("centring needs the conse input: it removes the classifier classes' mean word vector")
    mean = classes[usable].mean(axis=0)
    if amount * np.linalg.norm(mean) >= 1:  # as long as a unit output, it could cancel one or turn it around
        limit = 1 / np.linalg.norm(mean)
        raise XmodalError(f"centre {amount} is too large for these class vectors; use less than {limit:.2f}")
    return (amount * mean).astype(np.float32)


def train(
    data: LabeledImages,
    space: WordSpace,
    visual: OnnxVisual,
    config: TrainConfig,
    spec: InputSpec,
    seen: set[str] | None = None,
    quiet: bool = False,
    on_epoch: Callable[[int, float], None] | None = None,
) -> TrainResult:
    """Fit a map on the train rows (of the ``seen`` classes only, when given)."""
    started = time.perf_counter()
    mask = data.in_split("train")
    if seen is not None:
        mask &= data.of_classes(seen)
    rows = data.select(mask)
    if not len(rows):
        raise XmodalError(f"no training images in {data.source} (split 'train', seen classes)")
    vectors = embed_labels(space, list(rows.classes.values()))
    if not len(vectors.labels):
        raise XmodalError(f"none of the labels in {data.source} has a vector in {space.name!r}")
    rows = rows.select(np.isin(np.array(rows.labels), vectors.names))
    # Settings that cannot work are refused before the visual model runs over every photo.
    classes = classifier_label_matrix(space, visual) if "conse" in spec.layers else None
    init = initial_map(spec, classes, visual.feature_dim)
    if init is None and not config.epochs:
        raise XmodalError("epochs 0 keeps the starting map, and only a map reading the classifier (conse) has one")
    usable = np.linalg.norm(classes, axis=1) > 0 if classes is not None else None
    centre = class_centre(classes, usable, config.centre)
    features, logits = visual_outputs(visual, rows.paths, quiet)
    standardizer = Standardizer.fit(np.asarray(features)) if "pooled" in spec.layers else None
    inputs = build_inputs(spec, features, logits, standardizer, usable)
    weight = fit_map(
        inputs, rows.targets(vectors.names), vectors.vectors, config, init=init, on_epoch=on_epoch, centre=centre
    )
    model = DeviseModel(
        weight=weight,
        spec=spec,
        space=space.identity,
        visual={"id": visual.id, "checksum": visual.weights_checksum},
        labels=vectors.names,
        standardizer=standardizer,
        usable=usable,
        centre=centre,
        training={
            **recorded(config),
            "input": str(spec),
            "top": spec.top,
            "temperature": spec.temperature,
            "data": str(data.source),
            "images": len(rows),
            "classes": len(vectors.labels),
            "dropped_labels": [label.name for label in vectors.dropped],
        },
    )
    return TrainResult(model, len(rows), [label.name for label in vectors.dropped], time.perf_counter() - started)


def evaluate(
    model: DeviseModel,
    data: LabeledImages,
    space: WordSpace,
    visual: OnnxVisual,
    split: tuple[set[str], set[str]] | None = None,
    quiet: bool = False,
) -> dict[str, dict[str, float]]:
    """Flat hit@k on the val/test rows against the data's own labels.

    With a (seen, unseen) class split: ``seen`` (seen images vs seen labels),
    ``zero-shot`` (unseen vs unseen) and ``generalized`` (all vs all).
    """
    rows = data.select(data.in_split("val", "test"))
    vectors = embed_labels(space, list(rows.classes.values()))
    rows = rows.select(np.isin(np.array(rows.labels), vectors.names))
    predicted = model.encode(*visual_outputs(visual, rows.paths, quiet))
    if split is None:
        return {"all": hit_at_k(predicted, rows.targets(vectors.names), vectors.vectors)}
    seen_mask = rows.of_classes(split[0])
    results = {}
    for name, mask in (("seen", seen_mask), ("zero-shot", ~seen_mask)):
        part = rows.select(mask)
        labels = _subset(vectors, set(part.labels))
        results[name] = hit_at_k(predicted[mask], part.targets(labels.names), labels.vectors)
    seen_labels = np.isin(np.array(vectors.names), np.array(rows.labels)[seen_mask])
    results["generalized"] = generalized(predicted, rows.targets(vectors.names), vectors.vectors, seen_labels)
    return results


def _subset(vectors: LabelVectors, names: set[str]) -> LabelVectors:
    keep = [i for i, name in enumerate(vectors.names) if name in names]
    return LabelVectors(tuple(vectors.labels[i] for i in keep), vectors.vectors[keep])


def read_pair_sources(sources: Sequence[str | Path], hierarchy_depth: int, per_class: int | None = None) -> list[Pairs]:
    """Training pairs from several sets: a folder (or CSV) of captions gives every train
    caption with its photo; a labeled set gives each train photo of its seen classes
    with its label's text (its WordNet names up to ``hierarchy_depth`` broader ones),
    at most ``per_class`` photos of a class."""
    parts = []
    for source in sources:
        path = Path(source).expanduser()
        if path.name == "captions.csv" or (path / "captions.csv").is_file():
            parts.append(caption_pairs(read_captions(path), "train"))
            continue
        data = read_labeled(path)
        labels = list(data.classes.values())
        texts = label_texts(labels, hierarchy_depth) if hierarchy_depth else [label.name for label in labels]
        parts.append(label_pairs(data, dict(zip(data.classes, texts)), "train", per_class=per_class))
    if not sum(len(part) for part in parts):
        raise XmodalError(f"no training pairs in {', '.join(map(str, sources))} (split 'train')")
    return parts


def train_pairs(
    sources: Sequence[str | Path],
    space: Space,
    visual: OnnxVisual,
    config: TrainConfig,
    spec: InputSpec,
    hierarchy_depth: int = 1,
    per_class: int | None = None,
    quiet: bool = False,
    on_epoch: Callable[[int, float], None] | None = None,
    tune: TuneConfig | None = None,
    on_tuned: Callable[[int, DeviseModel], None] | None = None,
) -> TrainResult:
    """Fit a map on photos paired with texts (captions, scene and class names).

    The map starts at ConSE over the ImageNet-1k classifier, whose class texts draw
    on WordNet (``hierarchy_depth``), and the pooled block learns what no class
    name covers. With ``config.mix`` the two blocks are normalised apart, so the
    caption-trained block cannot drown out what the classifier already knows.
    With ``tune`` (its ``first`` block set), phase 2 follows: the visual model's
    blocks from ``first`` up are fine-tuned together with the map (xmodal.training.finetune),
    ``on_tuned(epoch, model)`` seeing the model after each of its epochs.
    """
    started = time.perf_counter()
    if "conse" not in spec.layers:
        raise XmodalError("pair training starts from ConSE: use --input conse or pooled+conse")
    parts = read_pair_sources(sources, hierarchy_depth, per_class)
    pairs = join(parts)
    classes = label_matrix(space, imagenet_labels("1k"), hierarchy_depth)
    if visual.classes is None or len(visual.classes) != len(classes):
        raise XmodalError(f"visual model {visual.id} has no ImageNet-1k classifier to start ConSE from")
    usable = np.linalg.norm(classes, axis=1) > 0
    centre = class_centre(classes, usable, config.centre)

    def outputs_of(view: str) -> tuple[np.ndarray, np.ndarray]:  # (features, logits) of a view of every photo, one cache per set
        outputs = [visual_outputs(visual, view_files(part.photos, view, quiet), quiet) for part in parts]
        return np.concatenate([np.asarray(f) for f, _ in outputs]), np.concatenate([np.asarray(l) for _, l in outputs])

    features, logits = outputs_of("whole")
    standardizer = Standardizer.fit(features) if "pooled" in spec.layers else None  # on the photos as they are
    # each further view of every photo stacked after the photos themselves (fit_pairs: a stack of one is the photos alone)
    views = [(features, logits)] + [outputs_of(view) for view in VIEWS[1 : config.views]]
    inputs = np.stack([build_inputs(spec, f, l, standardizer, usable) for f, l in views])
    class_of = np.stack([np.argmax(np.where(usable, l, -np.inf), axis=1) for _, l in views])
    texts = embed_texts(space, pairs.texts)
    conse = slice(visual.feature_dim, None) if spec.layers == ("pooled", "conse") else None
    weight = fit_pairs(
        inputs, texts, pairs.photo, pairs.text, pairs.group, config,
        init=initial_map(spec, classes, visual.feature_dim), on_epoch=on_epoch, centre=centre, conse_rows=conse,
        classes=(classes, class_of),
    )
    hub = None
    if config.hub_weight:  # the bank: each set's texts (sampled) and the class texts the photos were also ranked against
        starts = np.cumsum([0] + [len(part.texts) for part in parts])
        sets = [texts[a:b] for a, b in zip(starts[:-1], starts[1:])] + [classes[usable]]
        hub = HubPenalty(text_bank(sets, seed=config.seed), config.hub_neighbours, config.hub_weight)
    model = DeviseModel(
        weight=weight,
        spec=spec,
        space=space.identity,
        visual={"id": visual.id, "checksum": visual.weights_checksum},
        labels=[label.name for label in imagenet_labels("1k")],
        standardizer=standardizer,
        usable=usable,
        centre=centre,
        mix=config.mix if conse is not None else 0.0,
        hub=hub,
        training={
            **recorded(config),
            "input": str(spec),
            "top": spec.top,
            "temperature": spec.temperature,
            "data": [str(s) for s in sources],
            "pairs": len(pairs),
            "images": len(pairs.photos),
            "texts": len(pairs.texts),
            "hierarchy_depth": hierarchy_depth,
            "per_class": per_class,
        },
    )
    if tune is not None and tune.first:
        model = _phase2(model, parts, visual, texts, classes, config, tune, quiet, on_tuned)
    return TrainResult(model, len(pairs.photos), [], time.perf_counter() - started)


def _phase2(model, parts, visual, texts, classes, config, tune, quiet, on_tuned) -> DeviseModel:
    """Phase 2 on the pairs' photos: their activations below ``tune.first`` are cached per set
    like the visual outputs (for each of ``tune.views`` views: phase 2's own, which phase 1's
    ``config.views`` does not set), and the top is fine-tuned from them with the map."""
    from xmodal.training.finetune import finetune
    from xmodal.vision.visual import tower_split

    bottom, top = tower_split(visual.id, tune.first)
    activations = [  # each view as its sets' cached maps, which finetune reads into one tensor
        [visual_outputs(bottom, view_files(part.photos, name, quiet), quiet)[0] for part in parts] for name in VIEWS[: tune.views]
    ]
    return finetune(model, top, activations, join(parts), texts, classes, config, tune, on_tuned)
