"""Finding the photos under a folder, and the file facts that tell whether one changed."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PHOTO_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"})
HEIF_SUFFIXES = frozenset({".heic", ".heif"})


@dataclass(frozen=True)
class FileFacts:
    """A photo file as ``stat`` sees it: enough to skip unchanged files without reading them."""

    path: str  # absolute
    size: int
    mtime_ns: int


def heif_supported() -> bool:
    """HEIC/HEIF photos are read when pillow-heif is installed (it registers a PIL opener)."""
    try:
        from pillow_heif import register_heif_opener
    except ImportError:
        return False
    register_heif_opener()
    return True


def walk(folder: str | os.PathLike) -> list[FileFacts]:
    """Every photo file below ``folder`` by suffix (case-insensitive), sorted by path.

    Hidden folders (``.git``, ``.thumbnails``) are skipped; symlinked folders are
    not followed, so a link loop cannot trap the walk.
    """
    suffixes = PHOTO_SUFFIXES | (HEIF_SUFFIXES if heif_supported() else frozenset())
    found = []
    for root, dirs, files in os.walk(Path(folder).resolve()):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in files:
            if Path(name).suffix.lower() not in suffixes or name.startswith("."):
                continue
            path = os.path.join(root, name)
            try:
                stat = os.stat(path)
            except OSError:
                continue  # vanished or unreadable between listing and stat; the decoder will not see it
            found.append(FileFacts(path, stat.st_size, stat.st_mtime_ns))
    return sorted(found, key=lambda facts: facts.path)
