"""Photos in, word-space vectors out: a visual model and a DeViSE map that belong together.

The shipped default (EfficientNet-Lite2 into the all-MiniLM-L6-v2 sentence
space: a DeViSE map trained on captions and scene names from a centred ConSE
start, chosen by the tables in docs/results.md) lives inside the package, so
image queries and indexing work offline out of the box. The previous default,
EfficientNet-Lite0 into GloVe 6B 50-d, still ships for ``--space glove-6b-50d``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from xmodal.core.errors import XmodalError
from xmodal.devise.model import DeviseModel

if TYPE_CHECKING:
    from xmodal.text.space import Space
    from xmodal.vision.exported import OnnxVisual

MODELS = Path(__file__).parents[1] / "models"
SHIPPED = {  # space name -> the shipped model trained in it (docs/results.md has how each was made)
    "all-minilm-l6-v2": MODELS / "efficientnet-lite2-all-minilm-l6-v2.safetensors",
    "glove-6b-50d": MODELS / "efficientnet-lite0-glove-6b-50d.safetensors",
}
DEFAULT_MODEL = SHIPPED["all-minilm-l6-v2"]
_BATCH = 32


class Encoder:
    """Embeds photos into the word space of the model it was loaded for."""

    def __init__(self, visual: OnnxVisual, model: DeviseModel) -> None:
        if visual.id != model.visual.get("id") or visual.weights_checksum != model.visual.get("checksum"):
            raise XmodalError(
                f"the DeViSE map was trained on {model.visual.get('id')} ({model.visual.get('checksum')}), "
                f"not {visual.id} ({visual.weights_checksum})"
            )
        self.visual = visual
        self.model = model

    @classmethod
    def load(cls, space: Space, path: str | os.PathLike | None = None, precision: str = "fp32") -> Encoder:
        """The model at ``path`` (default: the shipped one) with the visual model it names,
        straight from its cached export when there is one (no torch); refused unless
        the model was trained in ``space``. ``precision`` "int8" runs the network's int8
        copy (:mod:`xmodal.vision.quantized`)."""
        from xmodal.vision.exported import find_export

        model = DeviseModel.load(path or default_model(space), space=space.identity)
        visual = find_export(model.visual["id"], model.visual["checksum"])
        if visual is None:  # first use: build the network in torch (seconds of imports: say so) and export it
            from xmodal.core.progress import status

            with status(f"loading visual model {model.visual['id']} to export it (once)"):
                from xmodal.vision.visual import load_visual, tuned_visual

                if model.top:  # phase 2: the base network with the model file's fine-tuned top
                    visual = tuned_visual(
                        model.visual["base"]["id"], model.visual["first_tuned_block"], model.top,
                        stock_classes=model.visual.get("stock_classes", False),
                    )
                else:
                    visual = load_visual(model.visual["id"])
        return cls(visual, model).at_precision(precision)

    def at_precision(self, precision: str) -> Encoder:
        """This encoder with its network run at ``precision`` ("fp32" or "int8"); the map is the same."""
        from xmodal.vision.quantized import PRECISIONS, int8_visual

        if precision not in PRECISIONS:
            raise XmodalError(f"unknown precision {precision!r}: use one of {', '.join(PRECISIONS)}")
        if precision == self.visual.precision:
            return self
        visual = int8_visual(self.visual) if precision == "int8" else self.visual.at_precision("fp32")
        return Encoder(visual, self.model)

    def embed_files(self, paths: Sequence[str | os.PathLike]) -> tuple[np.ndarray, np.ndarray]:
        """(word-space vectors, visual features) of photo files, decoded exactly as the
        indexer decodes them, so a photo outside an index matches itself inside one."""
        from xmodal.vision.decode import read_pixels

        semantic, visual = [], []
        for start in range(0, len(paths), _BATCH):
            pixels = np.stack([read_pixels(path, self.visual) for path in paths[start : start + _BATCH]])
            batch_semantic, batch_visual = self.embed_pixels(pixels)
            semantic.append(batch_semantic)
            visual.append(batch_visual)
        return np.concatenate(semantic), np.concatenate(visual)

    def encode_images(self, paths: Sequence[str | os.PathLike]) -> np.ndarray:
        """Unit word-space vectors, one row per path."""
        return self.embed_files(paths)[0]

    def encode_image(self, path: str | os.PathLike) -> np.ndarray:
        return self.encode_images([path])[0]

    def embed_pixels(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(word-space vectors, the visual model's own features) for a preprocessed batch."""
        features, logits = self.visual.embed(batch)
        return self.model.encode(features, logits), features

    def identity(self) -> dict:
        """What an index records of the encoder that filled it: the int8 network's photo
        vectors differ a little from fp32's, so an index says which it holds (an fp32 one
        says nothing, as every index did before int8)."""
        identity = {"visual": self.model.visual, "map": self.model.checksum(), "visual_dim": self.visual.feature_dim}
        if self.visual.precision != "fp32":
            identity["precision"] = self.visual.precision
        return identity


def default_model(space: Space) -> Path:
    """The shipped model for ``space``: one per shipped space (the sentence space's is the
    default; the GloVe one is kept so ``--space glove-6b-50d`` still embeds photos)."""
    path = SHIPPED.get(space.name)
    if path is None:
        raise XmodalError(
            f"no shipped DeViSE model for space {space.name!r}: train one with xmodal train and pass --model"
        )
    return path
