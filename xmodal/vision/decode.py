"""Reading one photo file: its content hash, its upright pixels and EXIF facts, or why it cannot be read.

This is the one decoder: indexing, query photos and training features all read
photos through :func:`decode`. Bad files are a fact of life in a photo folder,
so it never raises: a photo that cannot be read comes back with a reason, to be
counted and listed (:func:`read_pixels` raises for callers that must stop).
"""

from __future__ import annotations

import hashlib
import io
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageOps

from xmodal.core.errors import XmodalError
from xmodal.vision.heif import heif_supported
from xmodal.vision.taken import Exif, exif_facts

if TYPE_CHECKING:
    from xmodal.vision.exported import OnnxVisual

heif_supported()  # HEIC photos decode here too, not only in the walk
# Set once for the process: warnings.catch_warnings() is not thread-safe, and decoding runs in threads.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)

# EXIF orientations that turn the picture a quarter, so width and height swap.
_QUARTER_TURNS = {5, 6, 7, 8}


@dataclass(frozen=True)
class Photo:
    """A decoded photo (``pixels`` ready for the visual model, and what its EXIF says
    of its making) or a failure (``error``)."""

    path: str
    hash: str
    width: int = 0
    height: int = 0
    pixels: np.ndarray | None = None
    error: str | None = None
    exif: Exif = Exif()


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_bytes(path: str) -> tuple[bytes | None, str | None]:
    """The file's bytes, or None and a reason (unreadable, empty)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as error:
        return None, f"unreadable: {error.strerror or error}"
    return (data, None) if data else (None, "empty file")


def decoder(visual: OnnxVisual) -> Callable[[str], Photo]:
    """How photos are read for the visual model ``visual``: one rule for indexing, for
    query photos and for training features, so the three see the same pixels."""
    return partial(decode, preprocess=visual.preprocess, size_hint=visual.image_size + 32)


def read_pixels(path: str | os.PathLike, visual: OnnxVisual) -> np.ndarray:
    """One photo ready for ``visual``, or an XmodalError naming the file (for callers
    that cannot go on without it, unlike the indexer, which lists and skips)."""
    photo = decoder(visual)(os.fspath(path))
    if photo.error is not None:
        raise XmodalError(f"cannot read image {path}: {photo.error}")
    return photo.pixels


def decode(path: str, preprocess: Callable[[Image.Image], np.ndarray], size_hint: int) -> Photo:
    """Hash, open, turn upright (EXIF), take the first frame, preprocess.

    PIL's decompression-bomb guard stays on: a picture over about 179 million
    pixels is refused rather than allowed to exhaust memory.
    """
    data, error = read_bytes(path)
    if data is None:
        return Photo(path, "", error=error)
    digest = content_hash(data)
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            exif = image.getexif()
            if exif.get(0x0112) in _QUARTER_TURNS:
                width, height = height, width
            facts = exif_facts(exif)
            image.draft("RGB", (size_hint, size_hint))  # JPEG: decode at reduced scale, much faster
            upright = ImageOps.exif_transpose(image).convert("RGB")
        pixels = preprocess(upright)
    except Image.DecompressionBombError:
        return Photo(path, digest, error="too many pixels (decompression bomb guard)")
    except Image.UnidentifiedImageError:  # PIL's own message names an in-memory buffer, not the file
        return Photo(path, digest, error="not a readable image: not an image format PIL knows, or damaged")
    except Exception as failure:  # PIL raises many types for corrupt or truncated files
        reason = " ".join(str(failure).split()) or type(failure).__name__
        return Photo(path, digest, error=f"not a readable image: {reason}")
    return Photo(path, digest, width, height, pixels, exif=facts)
