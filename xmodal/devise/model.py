"""The DeViSE projection: a linear map from a visual model's outputs into the word space.

The map may read any layer of the visual model (``InputSpec``): the pooled
features, as in the paper; the ImageNet-1k classifier's top-T probabilities
("conse": a map initialised at the class names' word vectors *is* ConSE, and
training moves it only where labeled photos say); or both side by side.

A map reading the classifier may also be *centred* (``TrainConfig.centre``):
every unit output has the mean of the class names' word vectors subtracted
before it is normalised again. Word vectors share a common direction, and a
convex mix of them keeps it, so uncentred ConSE-style outputs crowd toward the
words that sit near that direction (hubs); centring removes it (hubness
reduction, Suzuki et al. 2013; Dinu et al. 2015).

How the map is fitted (losses, settings, loops) is :mod:`xmodal.training.fit`'s.

A trained model is one safetensors file: tensors plus JSON metadata naming the
visual model, the word space, the labels, the settings and the figures.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from xmodal.core.errors import XmodalError
from xmodal.core.vectors import unit_rows
from xmodal.devise.hubness import HubPenalty
from xmodal.text.identity import SpaceIdentity

LAYERS = ("pooled", "conse")
FORMAT = "xmodal-devise/1"
CENTRED_FORMAT = "xmodal-devise/2"  # a centred map: older xmodal must refuse it, not read it uncentred
MIXED_FORMAT = "xmodal-devise/3"  # a map whose two blocks are normalised apart: older xmodal must refuse it
TUNED_FORMAT = "xmodal-devise/4"  # a map with a fine-tuned visual top (phase 2): older xmodal must refuse it
_TOP = "visual_top."  # tensor-name prefix of that top's tensors, stored float16


@dataclass(frozen=True)
class InputSpec:
    """Which visual-model outputs feed the map, and how they are prepared."""

    layers: tuple[str, ...] = ("pooled",)
    top: int = 10  # ConSE's T: how many classifier probabilities to keep
    temperature: float = 1.0  # softmax temperature of the classifier logits (below 1 sharpens)

    def __post_init__(self) -> None:
        unknown = [layer for layer in self.layers if layer not in LAYERS]
        if unknown or not self.layers:
            named = ", ".join(repr(layer) for layer in unknown) or "(none)"
            raise XmodalError(f"unknown input layer {named}; choose from {', '.join(LAYERS)}, or pooled+conse")

    @classmethod
    def parse(cls, text: str, top: int = 10, temperature: float = 1.0) -> InputSpec:
        """'pooled', 'conse' or 'pooled+conse'."""
        return cls(tuple(part.strip() for part in text.split("+")), top, temperature)

    def __str__(self) -> str:
        return "+".join(self.layers)


@dataclass
class Standardizer:
    """Centre and scale pooled features with training-set statistics (kept in the model)."""

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, features: np.ndarray) -> Standardizer:
        mean = features.mean(axis=0)
        scale = features.std(axis=0) + 1e-6
        return cls(mean.astype(np.float32), scale.astype(np.float32))

    def __call__(self, features: np.ndarray) -> np.ndarray:
        return (features - self.mean) / self.scale


def top_probabilities(logits: np.ndarray, top: int) -> np.ndarray:
    """Softmax, then keep the ``top`` largest per row and renormalise (ConSE's convex weights)."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    probs = np.exp(shifted)
    probs /= probs.sum(axis=1, keepdims=True)
    if top < probs.shape[1]:
        cut = np.partition(probs, -top, axis=1)[:, -top][:, None]
        probs = np.where(probs >= cut, probs, 0.0)
        probs /= probs.sum(axis=1, keepdims=True)
    return probs.astype(np.float32)


def build_inputs(
    spec: InputSpec,
    features: np.ndarray | None,
    logits: np.ndarray | None,
    standardizer: Standardizer | None,
    usable: np.ndarray | None = None,
) -> np.ndarray:
    """The map's input rows for a batch of visual-model outputs.

    ``usable`` masks the classifier's classes that have a word vector: ConSE
    takes its top T among those only.
    """
    parts = []
    for layer in spec.layers:
        if layer == "pooled":
            if features is None or standardizer is None:
                raise XmodalError("this model reads pooled features, and none were given")
            parts.append(standardizer(np.asarray(features, dtype=np.float32)))
        else:
            if logits is None:
                raise XmodalError("this model reads classifier logits, and the visual model has none")
            logits = np.asarray(logits, dtype=np.float32) / spec.temperature
            if usable is not None:
                logits = np.where(usable, logits, -np.inf)
            parts.append(top_probabilities(logits, spec.top))
    return np.concatenate(parts, axis=1).astype(np.float32)


@dataclass
class DeviseModel:
    """A trained map with everything needed to use it honestly later."""

    weight: np.ndarray
    spec: InputSpec
    space: SpaceIdentity
    visual: dict  # {"id": ..., "checksum": ...}
    labels: list[str]
    standardizer: Standardizer | None = None
    usable: np.ndarray | None = None  # classifier classes with a word vector (conse input)
    centre: np.ndarray | None = None  # subtracted from each unit output before the final normalisation
    mix: float = 0.0  # > 0: output = mix * unit(pooled block) + unit(classifier block) (TrainConfig.mix)
    hub: HubPenalty | None = None  # query-side: not part of the photo vectors, so not of the checksum
    top: dict[str, np.ndarray] | None = None  # phase 2: the visual model's fine-tuned top (xmodal.training.finetune)
    training: dict = field(default_factory=dict)
    evaluation: dict = field(default_factory=dict)

    def encode(self, features: np.ndarray | None, logits: np.ndarray | None) -> np.ndarray:
        """Unit word-space vectors for a batch of visual-model outputs."""
        inputs = build_inputs(self.spec, features, logits, self.standardizer, self.usable)
        if self.mix:
            cut = self.pooled_rows
            out = self.mix * unit_rows(inputs[:, :cut] @ self.weight[:cut]) + unit_rows(inputs[:, cut:] @ self.weight[cut:])
        else:
            out = inputs @ self.weight
        if self.centre is not None:
            out = unit_rows(out)
            out = np.where(out.any(axis=1, keepdims=True), out - self.centre, 0.0)  # no output stays none
        return unit_rows(out)

    @property
    def pooled_rows(self) -> int:
        """How many of the map's input rows read the pooled features (they come first)."""
        return len(self.standardizer.mean) if self.standardizer is not None and self.spec.layers[0] == "pooled" else 0

    def checksum(self) -> str:
        """A short SHA-256 of the map's numbers, to tell two models apart."""
        import hashlib

        digest = hashlib.sha256(np.ascontiguousarray(self.weight, dtype=np.float32).tobytes())
        digest.update(repr(self.spec).encode())
        if self.centre is not None:
            digest.update(np.ascontiguousarray(self.centre, dtype=np.float32).tobytes())
        if self.mix:
            digest.update(f"mix={self.mix!r}".encode())
        return "sha256:" + digest.hexdigest()[:16]

    def _format(self) -> str:
        """The oldest format that holds this model, so older xmodal reads what it can."""
        if self.top:
            return TUNED_FORMAT
        return MIXED_FORMAT if self.mix else FORMAT if self.centre is None else CENTRED_FORMAT

    def save(self, path: str | Path) -> Path:
        from safetensors.numpy import save_file

        tensors = {"weight": np.ascontiguousarray(self.weight, dtype=np.float32)}
        if self.standardizer is not None:
            tensors["pooled_mean"] = self.standardizer.mean
            tensors["pooled_scale"] = self.standardizer.scale
        if self.usable is not None:
            tensors["usable_classes"] = self.usable.astype(np.uint8)
        if self.centre is not None:
            tensors["centre"] = np.ascontiguousarray(self.centre, dtype=np.float32)
        if self.hub is not None:
            tensors["hub_bank"] = np.ascontiguousarray(self.hub.bank, dtype=np.float16)
        for key, value in (self.top or {}).items():
            tensors[_TOP + key] = np.ascontiguousarray(value, dtype=np.float16)
        meta = {
            "format": self._format(),
            "mix": self.mix,
            "spec": {"layers": list(self.spec.layers), "top": self.spec.top, "temperature": self.spec.temperature},
            "space": self.space.to_dict(),
            "visual": self.visual,
            "labels": self.labels,
            "training": self.training,
            "evaluation": self.evaluation,
        }
        if self.hub is not None:
            meta["hub"] = {"neighbours": self.hub.neighbours, "weight": self.hub.weight, "map": self.checksum()}
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file(tensors, str(path), metadata={"xmodal": json.dumps(meta)})
        return path

    @staticmethod
    def space_of(path: str | Path) -> SpaceIdentity:
        """The space a model file was trained in, read from its metadata alone."""
        path = Path(path)
        meta, _ = _read_file(path, ())
        try:
            return SpaceIdentity.from_dict(meta["space"])
        except (ValueError, KeyError, TypeError):
            raise XmodalError(f"{path} is not an xmodal model file (it names no word space)") from None

    @classmethod
    def load(cls, path: str | Path, space: SpaceIdentity | None = None) -> DeviseModel:
        """Read a model file; with ``space``, refuse one trained in another word space."""
        path = Path(path)
        meta, tensors = _read_file(path)
        if meta.get("format") not in (FORMAT, CENTRED_FORMAT, MIXED_FORMAT, TUNED_FORMAT):
            raise XmodalError(f"{path} is not an xmodal model file (format {meta.get('format')!r})")
        identity = SpaceIdentity.from_dict(meta["space"])
        if space is not None:
            identity.require_same(space, f"model {path.name}")
        centre = tensors.get("centre")
        if centre is not None and centre.shape != (tensors["weight"].shape[1],):
            raise XmodalError(f"{path} is not an xmodal model file: centre of shape {centre.shape}")
        standardizer = None
        if "pooled_mean" in tensors:
            standardizer = Standardizer(tensors["pooled_mean"], tensors["pooled_scale"])
        return cls(
            weight=tensors["weight"],
            spec=InputSpec(
                tuple(meta["spec"]["layers"]), int(meta["spec"]["top"]), float(meta["spec"].get("temperature", 1.0))
            ),
            space=identity,
            visual=meta["visual"],
            labels=list(meta["labels"]),
            standardizer=standardizer,
            usable=tensors["usable_classes"].astype(bool) if "usable_classes" in tensors else None,
            centre=centre,
            mix=float(meta.get("mix", 0.0)),
            hub=_hub(meta, tensors.get("hub_bank")),
            top={key.removeprefix(_TOP): value for key, value in tensors.items() if key.startswith(_TOP)} or None,
            training=meta.get("training", {}),
            evaluation=meta.get("evaluation", {}),
        )

    @staticmethod
    def hub_of(path: str | Path) -> HubPenalty | None:
        """The model file's hub penalty alone (its bank and settings): what a text search
        needs, without reading the map."""
        meta, tensors = _read_file(Path(path), ("hub_bank",))
        return _hub(meta, tensors.get("hub_bank"))


def space_name(space: str | os.PathLike | None, model: str | os.PathLike | None) -> str | os.PathLike | None:
    """The space to load for ``model``: ``space`` when one is named, else the space the
    model file was trained in (a model knows where it was trained); None when neither
    is given, which :func:`~xmodal.text.factory.load_space` reads as its default."""
    if space in (None, "", "default") and model is not None:
        return DeviseModel.space_of(model).name
    return space


def _read_file(path: Path, names: tuple[str, ...] | None = None) -> tuple[dict, dict[str, np.ndarray]]:
    """A model file's xmodal metadata and tensors (those of ``names`` it has; None: all),
    or one line naming the file."""
    from safetensors import SafetensorError, safe_open

    if not path.is_file():
        raise XmodalError(f"model file not found: {path}")
    try:
        with safe_open(str(path), framework="numpy") as handle:
            meta = json.loads((handle.metadata() or {}).get("xmodal", "{}"))
            present = set(handle.keys())
            wanted = present if names is None else [name for name in names if name in present]
            return meta, {name: handle.get_tensor(name) for name in wanted}
    except (SafetensorError, OSError, ValueError) as error:
        raise XmodalError(f"{path} is not an xmodal model file: {error}") from error


def _hub(meta: dict, bank: np.ndarray | None) -> HubPenalty | None:
    if bank is None or "hub" not in meta:
        return None
    hub = meta["hub"]
    return HubPenalty(bank.astype(np.float32), int(hub["neighbours"]), float(hub["weight"]), str(hub.get("map", "")))
