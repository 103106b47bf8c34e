"""A visual model as its cached ONNX export: all that indexing and photo queries need, without torch.

Importing torch and reading a network's weights takes seconds, and the weights
only matter when the export is made. The export folder in the user cache is
named by the model and the checksum of its weights, and holds ``visual.json``
beside ``model.onnx`` (sizes, classes, how pixels are prepared). A DeViSE
model file records the same name and checksum, so :func:`find_export` opens the
visual model it was trained on straight from the cache; an unchanged re-index
or a photo query then never imports torch. Only networks whose preprocessing
needs no torch qualify (EfficientNet-Lite's); the others load through
:func:`xmodal.vision.visual.load_visual` as before.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from xmodal.core.cache import cache_root
from xmodal.core.runtime import session

if TYPE_CHECKING:
    from onnxruntime import InferenceSession

ONNX_FORMAT = 2  # bump when the export changes, so old cached exports are rebuilt
FACTS = "visual.json"


class OnnxVisual:
    """A frozen image network run by onnxruntime: ``embed`` gives ``(features, logits)``.

    ``classes`` names the logit columns (``None`` for a network without a
    classifier); ``preprocess`` turns one picture into float32 ``(3, S, S)``.
    ``precision`` says which file of the export runs: the fp32 network or its
    int8 copy (:mod:`xmodal.vision.quantized`), which share the id and weights.
    """

    FILES = {"fp32": "model.onnx", "int8": "model-int8-v2.onnx"}  # by precision, in the export folder; v2: pair-safe

    def __init__(
        self,
        id: str,
        weights_checksum: str,
        preprocess: Callable[[Image.Image], np.ndarray],
        image_size: int,
        feature_dim: int,
        classes: Sequence[str] | None = None,
        threads: int | None = None,
        precision: str = "fp32",
    ) -> None:
        self.id = id
        self.precision = precision
        self.weights_checksum = weights_checksum
        self.image_size = image_size
        self.feature_dim = feature_dim
        self.classes = list(classes) if classes is not None else None
        self.threads = threads or os.cpu_count() or 1
        self._preprocess = preprocess
        self._session = None

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.id!r}, {self.feature_dim}-d, {self.image_size}px, "
                f"{self.weights_checksum}, {self.precision})")

    def at_precision(self, precision: str) -> OnnxVisual:
        """The same network run from its ``precision`` file (which must exist: see :mod:`xmodal.vision.quantized`)."""
        return OnnxVisual(self.id, self.weights_checksum, self._preprocess, self.image_size, self.feature_dim,
                          self.classes, self.threads, precision)

    @property
    def nonnegative_features(self) -> bool:
        """Whether no feature can be negative, which lets an index store them in one byte each
        (:func:`xmodal.store.default_storage`). EfficientNet-Lite ends in ReLU6 before its
        average pool, in its phase-2 tuned copies too (the head is kept); open_clip
        embeddings are signed."""
        return self.id.startswith("efficientnet-lite")

    def preprocess(self, image: Image.Image) -> np.ndarray:
        """One picture as the network wants it: float32 ``(3, S, S)``."""
        return self._preprocess(rgb(image))

    @property
    def int8_kernel(self) -> str | None:
        """How :func:`~xmodal.core.runtime.session` runs this network's int8 products: exactly, if it has any."""
        return "exact" if self.precision == "int8" else None

    @property
    def session(self) -> InferenceSession:
        """The onnxruntime session, started on first use (a run that embeds nothing never starts it)."""
        if self._session is None:
            self._session = session(self.onnx_path(), self.threads, int8=self.int8_kernel)
        return self._session

    def embed(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """``(features, logits)`` for a preprocessed batch ``(N, 3, S, S)``."""
        outputs = self.session.run(None, {"image": np.ascontiguousarray(batch, dtype=np.float32)})
        return outputs[0], (outputs[1] if len(outputs) > 1 else None)

    def onnx_path(self) -> Path:
        return export_dir(self.id, self.weights_checksum) / self.FILES[self.precision]


def export_dir(id: str, weights_checksum: str) -> Path:
    """Where the export of ``id`` with these weights lives in the user cache."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", id)[:60]
    return cache_root() / "onnx" / f"{name}-{weights_checksum.removeprefix('sha256:')}-v{ONNX_FORMAT}"


def write_facts(folder: Path, visual: OnnxVisual, preprocessing: str | None) -> None:
    """Record in an export folder what :func:`find_export` needs to run it without torch."""
    facts = {
        "id": visual.id,
        "weights_checksum": visual.weights_checksum,
        "image_size": visual.image_size,
        "feature_dim": visual.feature_dim,
        "classes": visual.classes,
        "preprocessing": preprocessing,
    }
    (folder / FACTS).write_text(json.dumps(facts), encoding="utf-8")


def find_export(id: str, weights_checksum: str) -> OnnxVisual | None:
    """The visual model ``id`` with these weights, from its cached export, or None when
    there is none yet or its preprocessing needs torch."""
    try:
        facts = json.loads((export_dir(id, weights_checksum) / FACTS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    prepare = PREPROCESSING.get(facts.get("preprocessing"))
    if prepare is None or facts.get("weights_checksum") != weights_checksum:
        return None
    size = int(facts["image_size"])
    return OnnxVisual(
        id, weights_checksum, functools.partial(prepare, size=size), size, int(facts["feature_dim"]),
        facts["classes"],
    )


def tf_preprocess(image: Image.Image, size: int) -> np.ndarray:
    """TensorFlow's EfficientNet evaluation preprocessing, which the Lite weights were trained with.

    A centre crop of ``size / (size + 32)`` of the shorter side, a bicubic resize
    to ``size``, then ``(x - 127) / 128`` per RGB channel: float32 ``(3, size, size)``.
    """
    width, height = image.size
    crop = int(size / (size + 32) * min(width, height))
    top, left = (height - crop + 1) // 2, (width - crop + 1) // 2
    resized = rgb(image).resize((size, size), Image.Resampling.BICUBIC, box=(left, top, left + crop, top + crop))
    pixels = np.asarray(resized, dtype=np.float32)
    return ((pixels - 127.0) / 128.0).transpose(2, 0, 1).copy()


PREPROCESSING = {"tf": tf_preprocess}  # the torch-free ways an export may prepare pixels, by name


def rgb(image: Image.Image) -> Image.Image:
    """The image in RGB, without the full-size copy that ``convert`` makes of an RGB one."""
    return image if image.mode == "RGB" else image.convert("RGB")
