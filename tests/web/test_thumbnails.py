"""Thumbnails: upright, small, cached by content hash and size, and refused gracefully."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from PIL import Image

from xmodal.store import ImageInfo
from xmodal.vision.decode import content_hash
from xmodal.web import thumbnails
from xmodal.web.thumbnails import Unreadable, make_thumbnail, thumbnail


def photo(path: Path, size=(600, 300), orientation: int | None = None) -> ImageInfo:
    """A JPEG with a red left half, optionally marked with an EXIF orientation; its stored facts."""
    image = Image.new("RGB", size, (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, size[0] // 2, size[1]))
    exif = Image.Exif()
    if orientation:
        exif[0x0112] = orientation
    image.save(path, "JPEG", exif=exif.tobytes())
    stat = path.stat()
    return ImageInfo(str(path), content_hash(path.read_bytes()), stat.st_size, stat.st_mtime_ns, *size)


def test_thumbnail_fits_the_size_and_is_turned_upright(tmp_path):
    info = photo(tmp_path / "turned.jpg", orientation=6)  # 6: shown turned a quarter clockwise
    with Image.open(thumbnail(info, 320)) as small:
        assert small.size == (160, 320)  # 600x300 stored, 300x600 upright
        assert small.getpixel((80, 10))[0] > 200  # the red half is on top once upright
        assert small.getpixel((80, 310))[2] > 200


def test_large_jpeg_is_decoded_at_reduced_scale(tmp_path, monkeypatch):
    big = tmp_path / "big.jpg"
    Image.new("RGB", (4000, 3000), (10, 200, 30)).save(big, quality=90)
    drafts = []
    original = Image.Image.draft

    def spy(self, mode, size):
        result = original(self, mode, size)
        drafts.append(self.size)
        return result

    monkeypatch.setattr(Image.Image, "draft", spy)
    with Image.open(io.BytesIO(make_thumbnail(big, 320))) as small:
        assert small.size == (320, 240)
    assert drafts == [(500, 375)]  # decoded at 1/8 scale, never the full 12 megapixels


def test_cached_by_content_hash_and_size(tmp_path, monkeypatch):
    info = photo(tmp_path / "a.jpg")
    first = thumbnail(info, 320)
    assert first.stem == info.hash and first.parent.parent.name == "320"
    made = []
    monkeypatch.setattr(thumbnails, "make_thumbnail", lambda *args: made.append(args) or b"")
    assert thumbnail(info, 320) == first and made == []  # cached: nothing made again
    moved = tmp_path / "b.jpg"
    os.rename(info.path, moved)
    stat = moved.stat()
    assert thumbnail(ImageInfo(str(moved), info.hash, stat.st_size, stat.st_mtime_ns, 600, 300), 320) == first


def test_an_edited_photo_gets_a_new_thumbnail(tmp_path):
    info = photo(tmp_path / "a.jpg")
    before = thumbnail(info, 320)
    Image.new("RGB", (100, 100), (0, 255, 0)).save(info.path)  # changed since it was indexed
    after = thumbnail(info, 320)
    assert after != before and after.stem == content_hash(Path(info.path).read_bytes())
    with Image.open(after) as small:
        assert small.size == (100, 100)


def test_gone_or_broken_photos_are_unreadable(tmp_path):
    info = photo(tmp_path / "a.jpg")
    Path(info.path).write_bytes(b"not a jpeg")
    with pytest.raises(Unreadable):
        thumbnail(info, 320)
    Path(info.path).unlink()
    with pytest.raises(Unreadable):
        thumbnail(info, 320)
    with pytest.raises(ValueError, match="size 333"):
        thumbnail(info, 333)
