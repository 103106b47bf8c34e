"""xmodal.vision.decode: a photo file to the pixels a visual model reads, upright, quietly, HEIC included."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import mean_colour_model
from xmodal.vision.decode import decode

ROOT = Path(__file__).resolve().parents[2]


def test_decode_turns_photos_upright_and_takes_the_first_gif_frame(tmp_path):
    visual = mean_colour_model(None)
    upright = Image.new("RGB", (60, 20), (255, 0, 0))
    exif = upright.getexif()
    exif[0x0112] = 6  # stored sideways: a viewer turns it 90 degrees
    upright.save(tmp_path / "sideways.jpg", exif=exif)
    photo = decode(str(tmp_path / "sideways.jpg"), visual.preprocess, 48)
    assert (photo.width, photo.height) == (20, 60)
    frames = [Image.new("RGB", (20, 20), c) for c in [(255, 0, 0), (0, 0, 255)]]
    frames[0].save(tmp_path / "g.gif", save_all=True, append_images=frames[1:])
    gif = decode(str(tmp_path / "g.gif"), visual.preprocess, 48)
    assert gif.pixels[0].mean() > 0.9 and gif.pixels[2].mean() < -0.9  # red, the first frame


def test_large_photos_below_the_bomb_limit_decode_in_threads_without_warnings(tmp_path):
    """PIL warns between its pixel limit and twice that; xmodal decodes those photos quietly,
    with a filter set once (catch_warnings in decoding threads would not be thread-safe)."""
    paths = [str(tmp_path / name) for name in ("a.jpg", "b.JPG", "c.png", "e.bmp")]
    for path in paths:
        Image.new("RGB", (48, 32), (200, 30, 30)).save(path)
    child = (
        "from concurrent.futures import ThreadPoolExecutor; import numpy as np; from PIL import Image; "
        "Image.MAX_IMAGE_PIXELS = 1000; "  # the 48x32 photos (1536 pixels) fall in the warning band
        "from xmodal.vision.decode import decode; "
        "pool = ThreadPoolExecutor(4); "
        f"photos = list(pool.map(lambda p: decode(p, np.asarray, 64), {paths!r})); "
        "print(len(photos), all(photo.error is None for photo in photos))"
    )
    done = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "4 True"
    assert "DecompressionBombWarning" not in done.stderr


def test_a_heic_photo_decodes_for_a_query_in_a_fresh_process(tmp_path):
    """A query photo is decoded without any walk having registered pillow-heif first."""
    pillow_heif = pytest.importorskip("pillow_heif")
    pillow_heif.register_heif_opener()  # in this process only, to write the photo
    Image.new("RGB", (40, 30), (200, 10, 10)).save(tmp_path / "phone.heic")
    child = (
        "import numpy as np; from xmodal.vision.decode import decode; "
        f"photo = decode({str(tmp_path / 'phone.heic')!r}, lambda image: np.asarray(image), 64); "
        "print(photo.error, photo.pixels.shape if photo.pixels is not None else None)"
    )
    done = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[0] == "None (30, 40, 3)"
