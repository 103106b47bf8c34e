from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from tests.conftest import mean_colour_model
from xmodal.core.errors import XmodalError
from xmodal.vision.decode import decoder
from xmodal.vision.features import extract_features
from xmodal.vision.visual import VisualModel

COLOURS = [(0, 0, 0), (255, 255, 255), (255, 0, 0), (0, 255, 0), (0, 0, 255), (127, 127, 127), (10, 200, 90)]


@pytest.fixture(autouse=True)
def cache_root(tmp_path, monkeypatch):
    monkeypatch.setenv("XMODAL_CACHE_DIR", str(tmp_path / "xmodal-cache"))


def tiny_model(with_logits: bool = True) -> VisualModel:
    return mean_colour_model(["dark", "light"] if with_logits else None)


@pytest.fixture
def photos(tmp_path):
    """Solid-colour PNGs of assorted sizes, one per colour."""
    paths = []
    for i, colour in enumerate(COLOURS):
        paths.append(tmp_path / f"photo-{i}.png")
        Image.new("RGB", (40 + 7 * i, 30 + 3 * i), colour).save(paths[-1])
    return paths


def expected_features(colours) -> np.ndarray:
    return (np.array(colours, np.float32) - 127) / 128


def counting(model: VisualModel, fail_after: int | None = None) -> list[int]:
    """Record the size of every batch ``model`` embeds; optionally die after a few batches."""
    sizes: list[int] = []
    embed = model.embed

    def wrapper(batch):
        if fail_after is not None and len(sizes) == fail_after:
            raise RuntimeError("interrupted")
        sizes.append(len(batch))
        return embed(batch)

    model.embed = wrapper
    return sizes


def test_rows_follow_the_paths(photos):
    model = tiny_model()
    features, logits = extract_features(photos, model, batch_size=3, workers=2, quiet=True)
    np.testing.assert_allclose(features, expected_features(COLOURS), atol=1e-5)
    head = model.torch_module().head
    np.testing.assert_allclose(logits, head(torch.from_numpy(features)).detach().numpy(), atol=1e-5)


def test_model_without_classifier_gives_no_logits(photos):
    features, logits = extract_features(photos[::-1], tiny_model(with_logits=False), quiet=True)
    np.testing.assert_allclose(features, expected_features(COLOURS[::-1]), atol=1e-5)
    assert logits is None


def test_no_paths_no_rows(tmp_path):
    features, logits = extract_features([], tiny_model(), tmp_path / "cache", quiet=True)
    assert features.shape == (0, 3) and logits.shape == (0, 2)


def test_features_read_photos_through_the_indexers_decoder(tmp_path, monkeypatch):
    """One decoder: training features see exactly the pixels indexing sees, EXIF turn included."""
    path = tmp_path / "sideways.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to view
    Image.new("RGB", (40, 20), (200, 30, 90)).save(path, exif=exif)
    model = tiny_model(with_logits=False)
    seen = []
    monkeypatch.setattr(model, "embed", lambda batch: (seen.append(batch.copy()) or (batch.mean(axis=(2, 3)), None)))
    extract_features([path], model, quiet=True)
    photo = decoder(model)(str(path))
    assert (photo.width, photo.height) == (20, 40)  # upright
    np.testing.assert_array_equal(seen[0][0], photo.pixels)


@pytest.mark.parametrize("content", [b"not a picture at all", "truncated"])
def test_unreadable_image_is_named(photos, tmp_path, content):
    bad = tmp_path / "bad.jpg"
    if content == "truncated":
        Image.new("RGB", (64, 64), (1, 2, 3)).save(bad)
        content = bad.read_bytes()[:300]
    bad.write_bytes(content)
    with pytest.raises(XmodalError, match=f"cannot read image {bad}"):
        extract_features([*photos[:4], bad, *photos[4:]], tiny_model(), batch_size=2, quiet=True)


def test_cache_is_read_back_without_running_the_model(photos, tmp_path):
    cache = tmp_path / "cache"
    model = tiny_model()
    features, logits = extract_features(photos, model, cache, batch_size=4, quiet=True)
    np.testing.assert_allclose(features, expected_features(COLOURS), atol=1e-5)
    manifest = json.loads((cache / "manifest.json").read_text())
    assert manifest["model"] == model.id and manifest["weights_checksum"] == model.weights_checksum
    assert manifest["paths"] == [str(path) for path in photos]

    sizes = counting(model)
    again, again_logits = extract_features(photos, model, cache, quiet=True)
    assert sizes == []
    assert isinstance(again, np.memmap) and not again.flags.writeable
    np.testing.assert_array_equal(again, features)
    np.testing.assert_array_equal(again_logits, logits)


def test_interrupted_run_resumes_where_it_stopped(photos, tmp_path):
    cache, model = tmp_path / "cache", tiny_model()
    counting(model, fail_after=2)
    with pytest.raises(RuntimeError, match="interrupted"):
        extract_features(photos, model, cache, batch_size=2, quiet=True)
    assert json.loads((cache / "progress.json").read_text()) == {"done": 4}
    (cache / ".progress.json.4242-deadbeef.tmp").write_text('{"done": 6}')  # a record killed before its rename

    model = tiny_model()
    sizes = counting(model)
    features, logits = extract_features(photos, model, cache, batch_size=2, quiet=True)
    assert sizes == [2, 1]  # only rows 4 to 6
    assert not list(cache.glob(".*.tmp"))  # nothing left behind
    fresh, fresh_logits = extract_features(photos, tiny_model(), quiet=True)
    np.testing.assert_allclose(features, fresh, atol=1e-6)
    np.testing.assert_allclose(logits, fresh_logits, atol=1e-6)


def test_other_paths_or_model_rebuild_the_cache(photos, tmp_path):
    cache = tmp_path / "cache"
    extract_features(photos, tiny_model(), cache, quiet=True)
    features, _ = extract_features(photos[:3], tiny_model(), cache, quiet=True)
    np.testing.assert_allclose(features, expected_features(COLOURS[:3]), atol=1e-5)

    features, logits = extract_features(photos[:3], tiny_model(with_logits=False), cache, quiet=True)
    assert logits is None and not (cache / "logits.npy").exists()
    assert json.loads((cache / "manifest.json").read_text())["model"] == "mean-colour-0"


@pytest.mark.parametrize("damage", ["truncate features", "garble progress", "drop progress"])
def test_damaged_cache_is_rebuilt_not_returned(photos, tmp_path, damage):
    cache, model = tmp_path / "cache", tiny_model()
    extract_features(photos, model, cache, quiet=True)
    if damage == "truncate features":
        data = (cache / "features.npy").read_bytes()
        (cache / "features.npy").write_bytes(data[: len(data) // 2])
    elif damage == "garble progress":
        (cache / "progress.json").write_text("{")
    else:
        (cache / "progress.json").unlink()
    sizes = counting(model)
    features, _ = extract_features(photos, model, cache, quiet=True)
    assert sum(sizes) == len(photos)
    np.testing.assert_allclose(features, expected_features(COLOURS), atol=1e-5)


def test_progress_bar_shows_images_per_second_unless_quiet(photos, capsys):
    extract_features(photos, tiny_model(), batch_size=2)
    assert "images/s" in capsys.readouterr().err
    extract_features(photos, tiny_model(), batch_size=2, quiet=True)
    assert capsys.readouterr().err == ""
