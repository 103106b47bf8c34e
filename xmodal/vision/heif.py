"""HEIC/HEIF photos (what phones take), readable when pillow-heif is installed.

pillow-heif is optional: it registers an opener with PIL, after which every
part of xmodal that opens pictures reads HEIC like any other format.
"""

from __future__ import annotations

import functools


@functools.cache
def heif_supported() -> bool:
    """Register pillow-heif's PIL opener once; False when it is not installed."""
    try:
        from pillow_heif import register_heif_opener
    except ImportError:
        return False
    register_heif_opener()
    return True
