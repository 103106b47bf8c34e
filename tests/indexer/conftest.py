"""Fixtures of the indexer's tests: a folder of generated photos and an index."""

from __future__ import annotations

import pytest
from PIL import Image

from xmodal.store import open_store


@pytest.fixture
def folder(tmp_path):
    """Six good photos in nested folders, in several formats and cases."""
    root = tmp_path / "photos"
    (root / "trip" / "day1").mkdir(parents=True)
    colours = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (200, 200, 30), (30, 200, 200), (120, 120, 120)]
    names = ["a.jpg", "trip/b.JPG", "trip/c.png", "trip/day1/d.webp", "trip/day1/e.bmp", "f.tiff"]
    for name, colour in zip(names, colours):
        Image.new("RGB", (48, 32), colour).save(root / name)
    frames = [Image.new("RGB", (20, 20), c) for c in [(255, 0, 0), (0, 0, 255)]]
    frames[0].save(root / "g.gif", save_all=True, append_images=frames[1:])
    (root / "notes.txt").write_text("not a photo, not even by name")
    (root / ".hidden").mkdir()
    Image.new("RGB", (8, 8)).save(root / ".hidden" / "skip.png")
    return root


@pytest.fixture
def store(tmp_path):
    with open_store(tmp_path / "index", dim=3, visual_dim=3) as opened:
        yield opened
