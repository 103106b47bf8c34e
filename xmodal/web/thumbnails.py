"""Thumbnails of indexed photos for the web page: made on demand, cached on disk.

A thumbnail is made from the original, turned upright (EXIF), decoded at a
reduced JPEG scale (``draft``), which makes a 12-megapixel JPEG a matter of
milliseconds rather than a full decode. It is cached in the user cache under
the photo's content hash and the size, so a moved or copied photo reuses it
and an edited one gets a new one; the cache is derived data and can be deleted
at any time.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

from PIL import Image, ImageOps

import xmodal.vision.decode  # noqa: F401 - the decompression-bomb guard's process-wide warning filter
from xmodal.core.cache import cache_root, write_atomically
from xmodal.store import ImageInfo
from xmodal.vision.decode import content_hash

SIZES = (320, 1280)  # the grid's tiles and the larger view: two sizes, so the cache cannot be filled with variants
QUALITY = 82

# Shown for a photo that is gone or unreadable: fixed text, no user data.
PLACEHOLDER = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="320" height="240" viewBox="0 0 320 240">'
    b'<rect width="320" height="240" fill="#d9d9d9"/>'
    b'<text x="160" y="125" font-family="sans-serif" font-size="18" fill="#555" text-anchor="middle">'
    b"photo not readable</text></svg>"
)


class Unreadable(Exception):
    """The photo is gone or cannot be decoded; the caller shows :data:`PLACEHOLDER`."""


def thumbnail(info: ImageInfo, size: int) -> Path:
    """The cached JPEG of the indexed photo ``info`` at most ``size`` pixels on a side,
    made now if absent. Raises :class:`Unreadable` for a gone or broken photo."""
    if size not in SIZES:
        raise ValueError(f"size {size} is not one of {SIZES}")
    digest = _current_hash(info)
    cached = cache_root() / "thumbnails" / str(size) / digest[:2] / f"{digest}.jpg"
    if not cached.is_file():
        data = make_thumbnail(info.path, size)  # two requests for one thumbnail never serve a half-written file
        write_atomically(cached, lambda tmp: tmp.write_bytes(data))
    return cached


def make_thumbnail(path: str | os.PathLike, size: int) -> bytes:
    """JPEG bytes of the photo at ``path``, upright, fitting in ``size`` x ``size``."""
    try:
        with Image.open(path) as image:
            image.draft("RGB", (size, size))  # JPEG: decode at 1/2, 1/4 or 1/8 scale, still >= size
            upright = ImageOps.exif_transpose(image)
            upright.thumbnail((size, size), Image.Resampling.BILINEAR, reducing_gap=2.0)
            out = io.BytesIO()
            upright.convert("RGB").save(out, "JPEG", quality=QUALITY)
    except (OSError, ValueError, Image.DecompressionBombError) as error:  # gone, damaged, not an image, too big
        raise Unreadable(" ".join(str(error).split()) or type(error).__name__) from None
    return out.getvalue()


def _current_hash(info: ImageInfo) -> str:
    """The photo's content hash: the indexed one while the file is unchanged (size and
    mtime as indexed), else the hash of what is on disk now, so an edit is never
    shown as its old thumbnail."""
    try:
        stat = os.stat(info.path)
    except OSError as error:
        raise Unreadable(error.strerror or str(error)) from None
    if stat.st_size == info.size and stat.st_mtime_ns == info.mtime_ns:
        return info.hash
    try:
        return content_hash(Path(info.path).read_bytes())
    except OSError as error:
        raise Unreadable(error.strerror or str(error)) from None
