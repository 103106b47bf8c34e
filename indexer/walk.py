"""Finding the photos under a folder, and the file facts that tell whether one changed."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from xmodal.heif import heif_supported

PHOTO_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"})
HEIF_SUFFIXES = frozenset({".heic", ".heif"})


@dataclass(frozen=True)
class Walk:
    """What a walk found: photo files, and folders or names it could not take."""

    files: list[FileFacts]
    failed: list[tuple[str, str]]  # (path, reason)
    unreadable: list[str]  # folders: photos stored under them are not known to be gone


@dataclass(frozen=True)
class FileFacts:
    """A photo file as ``stat`` sees it: enough to skip unchanged files without reading them."""

    path: str  # absolute
    size: int
    mtime_ns: int


def canonical(path: str | os.PathLike) -> str:
    """The one spelling of a photo's path that the index and every query use: absolute,
    with symlinked folders resolved but the file's own name kept (a linked photo is
    stored under its link, as the walk finds it)."""
    absolute = os.path.abspath(os.path.expanduser(path))
    return os.path.join(os.path.realpath(os.path.dirname(absolute)), os.path.basename(absolute))


def walk(folder: str | os.PathLike) -> Walk:
    """Every photo file below ``folder`` by suffix (case-insensitive), sorted by path.

    Hidden folders (``.git``, ``.thumbnails``) are skipped; symlinked folders are
    not followed, so a link loop cannot trap the walk. A name that is not valid
    UTF-8 cannot be stored, so it is reported rather than indexed.
    """
    suffixes = PHOTO_SUFFIXES | (HEIF_SUFFIXES if heif_supported() else frozenset())
    found, failed, unreadable = [], [], []

    def note_unreadable(error: OSError) -> None:
        unreadable.append(str(error.filename))
        failed.append((printable(error.filename), f"folder not readable: {error.strerror}"))

    for root, dirs, files in os.walk(canonical(folder), onerror=note_unreadable):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in files:
            if Path(name).suffix.lower() not in suffixes or name.startswith("."):
                continue
            path = os.path.join(root, name)
            try:
                path.encode("utf-8")
                stat = os.stat(path)
            except UnicodeEncodeError:
                failed.append((printable(path), "file name is not valid UTF-8"))
                continue
            except OSError as error:
                failed.append((path, f"unreadable: {error.strerror}"))
                continue
            found.append(FileFacts(path, stat.st_size, stat.st_mtime_ns))
    return Walk(sorted(found, key=lambda facts: facts.path), failed, unreadable)


def printable(path: str | os.PathLike) -> str:
    """A path fit to print, whatever bytes its name holds."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")
