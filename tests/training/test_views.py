"""xmodal.training.views: a training photo's mirror image and random crops, written once."""

import os

import numpy as np
import pytest
from PIL import Image

from xmodal.training.views import VIEWS, view_files, view_of


def gradient(width=64, height=48) -> Image.Image:
    x = np.linspace(0, 255, width, dtype=np.uint8)[None, :, None]
    y = np.linspace(0, 255, height, dtype=np.uint8)[:, None, None]
    return Image.fromarray(np.concatenate(np.broadcast_arrays(x, y, np.zeros_like(x)), axis=2))


def test_whole_and_mirror():
    image = gradient()
    assert view_of(image, "whole", "a.jpg") is image
    assert np.array_equal(np.asarray(view_of(image, "mirror", "a.jpg")), np.asarray(image)[:, ::-1])


def test_crops_keep_the_size_are_drawn_from_the_seed_and_differ_by_view():
    image = gradient()
    crops = {name: np.asarray(view_of(image, name, "a.jpg")) for name in VIEWS[2:]}
    assert all(crop.shape == np.asarray(image).shape for crop in crops.values())
    assert np.array_equal(crops["crop1"], np.asarray(view_of(image, "crop1", "a.jpg")))  # the same seed, the same crop
    assert not np.array_equal(crops["crop1"], np.asarray(view_of(image, "crop1", "b.jpg")))
    assert len({crop.tobytes() for crop in crops.values()}) == 4
    assert not any(np.array_equal(crop, np.asarray(image)) for crop in crops.values())


def test_a_crop_keeps_half_the_area_or_more():
    """On a photo whose pixels are their own coordinates, a crop spans at least sqrt(0.5 * 3/4)
    of each side (area 0.5 at the widest ratio) before it is resized back."""
    image = gradient(200, 200)
    for seed in map(str, range(20)):
        crop = np.asarray(view_of(image, "crop2", seed)).astype(int)
        red = crop[:, :, 0] if crop[0, 0, 0] < crop[0, -1, 0] else crop[:, ::-1, 0]
        assert red.max() - red.min() >= 255 * np.sqrt(0.5 * 3 / 4) - 8


def test_an_unknown_view_is_refused_and_the_settings_count_every_view():
    from xmodal.training.fit import VIEW_COUNT

    with pytest.raises(ValueError, match="unknown view 'sideways'"):
        view_of(gradient(), "sideways", "a.jpg")
    with pytest.raises(ValueError, match="unknown view 'sideways'"):
        view_files([], "sideways")
    assert VIEW_COUNT == len(VIEWS)


def test_view_files_are_written_once_and_renewed_when_the_photo_changes(tmp_path, monkeypatch):
    monkeypatch.setenv("XMODAL_CACHE_DIR", str(tmp_path / "cache"))
    photo = tmp_path / "beach.jpg"
    gradient().save(photo)
    assert view_files([photo], "whole") == [photo]
    [first] = view_files([photo], "mirror")
    assert first.is_relative_to(tmp_path / "cache" / "views" / "v1" / "mirror")
    with Image.open(first) as view:
        assert view.size == (64, 48) and view.format == "JPEG"
    written = first.stat().st_mtime_ns
    assert view_files([photo], "mirror") == [first] and first.stat().st_mtime_ns == written  # read, not rewritten
    gradient(32, 32).save(photo)
    os.utime(photo, ns=(written + 10**9, written + 10**9))
    [second] = view_files([photo], "mirror")
    assert second != first
    with Image.open(second) as view:
        assert view.size == (32, 32)
    assert not list((tmp_path / "cache").rglob("*.part"))


def test_a_photo_that_cannot_be_read_is_named(tmp_path, monkeypatch):
    from xmodal import XmodalError

    monkeypatch.setenv("XMODAL_CACHE_DIR", str(tmp_path / "cache"))
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    with pytest.raises(XmodalError, match=f"cannot read image {broken}"):
        view_files([broken], "crop1")
    with pytest.raises(XmodalError, match=f"cannot read image {tmp_path / 'gone.jpg'}: No such file"):
        view_files([tmp_path / "gone.jpg"], "mirror")
