"""Finding the photos under a folder, and the file facts that tell whether one changed.

Links are followed, both to folders and to files, since gathering folders from
several disks under one folder by symlinks is a common way to keep photos.
Each folder and each photo is taken once, at the first path the walk reaches it
by: the walk goes depth first, names in sorted order (a folder's own files
before its subfolders), so "first" is the same on every run of an unchanged
tree. A folder or file is the same one when its resolved target has the same
``(st_dev, st_ino)``, which also ends link loops.
"""

from __future__ import annotations

import os
import stat
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from xmodal.vision.heif import heif_supported

PHOTO_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"})
HEIF_SUFFIXES = frozenset({".heic", ".heif"})

# What a walk passes over or cannot take, by kind, as (one, many); failures first.
# A run's summary counts them, and says them when it indexes nothing.
KINDS = {
    "unreadable photo": ("photo that could not be read", "photos that could not be read"),
    "bad name": ("photo whose name is not valid UTF-8", "photos whose names are not valid UTF-8"),
    "broken link": ("broken link", "broken links"),
    "unreadable folder": ("unreadable folder", "unreadable folders"),
    "heic": ("HEIC photo (install pillow-heif to index it)", "HEIC photos (install pillow-heif to index them)"),
    "not a photo": ("file that is not a photo", "files that are not photos"),
    "link to a non-photo": ("link to a non-photo", "links to non-photos"),
    "second path to a folder": ("second path to a folder", "second paths to folders"),
    "second path to a photo": ("second path to a photo", "second paths to photos"),
    "hidden": ("hidden file or folder", "hidden files or folders"),
}


@dataclass(frozen=True)
class Walk:
    """What a walk found: photo files, what it could not take, and what it passed over."""

    files: list[FileFacts]
    failed: list[tuple[str, str]]  # (path, reason)
    unreadable: list[str]  # folders and broken links: photos stored under them are not known to be gone
    counts: Counter[str]  # by KINDS key: everything the walk did not index, failures included


@dataclass(frozen=True)
class FileFacts:
    """A photo file as ``stat`` sees it: enough to skip unchanged files without reading them."""

    path: str  # absolute, as the walk reached it (links kept)
    size: int
    mtime_ns: int
    identity: tuple[int, int]  # (st_dev, st_ino) of the file itself: one photo, however many paths lead to it


def canonical(path: str | os.PathLike) -> str:
    """The one spelling of a folder the user names (an indexed root, a search within
    folders): absolute, with the folders above it resolved but its own name kept.
    Photos are stored as the walk reaches them from there, links kept; a user's
    spelling of a photo is matched to the index through :func:`spellings`."""
    absolute = os.path.abspath(os.path.expanduser(path))
    return os.path.join(os.path.realpath(os.path.dirname(absolute)), os.path.basename(absolute))


def spellings(path: str | os.PathLike) -> list[str]:
    """The ways the index may spell ``path``, most literal first: as given (absolute,
    ``..`` folded), then with the folders above it resolved from the top down, down to
    :func:`canonical`, then the file a link to a photo leads to. A photo under a linked
    folder is stored under the link, below an indexed folder whose parents were
    resolved, so no single spelling finds both; a link the user made to an indexed
    photo is that photo (as a query, it is not its own look-alike). Only valid UTF-8
    spellings are given, the only ones the index can hold: a name that is not gives none."""
    absolute = os.path.abspath(os.path.expanduser(path))
    parts = Path(absolute).parts
    resolved = []
    for i in range(1, len(parts)):
        above = os.path.join(*parts[:i])
        resolved.append(os.path.join(os.path.realpath(above), *parts[i:]))
        if not os.path.lexists(above):  # deeper folders are not there either: the same spelling again
            break  # (and a long made-up path costs one step, not one realpath per folder)
    found = dict.fromkeys([absolute, *resolved, os.path.realpath(absolute)])
    return [spelling for spelling in found if _utf8(spelling)]  # the index holds no other name: none may be []


def file_identity(path: str) -> tuple[int, int] | None:
    """The device and inode ``path`` leads to (links followed), or None (gone, unreadable):
    what tells one file reached by two paths from two files with the same bytes."""
    try:
        found = os.stat(path)
    except OSError:
        return None
    return found.st_dev, found.st_ino


def _utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # a byte name decoded with surrogates (os.fsdecode)
        return False
    return True


def walk(folder: str | os.PathLike) -> Walk:
    """Every photo file below ``folder`` by suffix (case-insensitive), sorted by path;
    see the module docstring for links.

    Hidden files and folders (``.git``, ``.thumbnails``) are passed over. A name
    that is not valid UTF-8 cannot be stored, and a link that leads nowhere cannot
    be read: both are reported rather than indexed.
    """
    suffixes = PHOTO_SUFFIXES | (HEIF_SUFFIXES if heif_supported() else frozenset())
    found: list[FileFacts] = []
    failed: list[tuple[str, str]] = []
    unreadable: list[str] = []
    counts: Counter[str] = Counter()
    folders_seen: set[tuple[int, int]] = set()
    photos_seen: set[tuple[int, int]] = set()

    def fail(kind: str, path: str, reason: str) -> None:
        counts[kind] += 1
        failed.append((printable(path), reason))

    stack = [canonical(folder)]
    while stack:
        current = stack.pop()
        try:
            facts = os.stat(current)
            if (facts.st_dev, facts.st_ino) in folders_seen:  # a link loop, or a second link to a folder
                counts["second path to a folder"] += 1
                continue
            with os.scandir(current) as listing:
                entries = sorted(listing, key=lambda entry: entry.name)
        except OSError as error:
            unreadable.append(current)
            fail("unreadable folder", current, f"folder not readable: {error.strerror}")
            continue
        folders_seen.add((facts.st_dev, facts.st_ino))
        subfolders = []
        for entry in entries:
            path, link = entry.path, entry.is_symlink()
            if entry.name.startswith("."):
                counts["hidden"] += 1
                continue
            try:
                if link:
                    entry.stat()  # follows the link
            except OSError as error:
                unreadable.append(path)  # perhaps a disk not mounted: what was indexed through it is kept
                fail("broken link", path, f"broken link: {error.strerror}")
                continue
            if entry.is_dir():
                subfolders.append(path)
                continue
            suffix = os.path.splitext(entry.name)[1].lower()
            if suffix not in suffixes:
                counts["heic" if suffix in HEIF_SUFFIXES else "link to a non-photo" if link else "not a photo"] += 1
                continue
            if not _utf8(path):
                fail("bad name", path, "file name is not valid UTF-8")
                continue
            try:
                target = entry.stat()  # cached from the link's check above
            except OSError as error:
                fail("unreadable photo", path, f"unreadable: {error.strerror}")
                continue
            identity = (target.st_dev, target.st_ino)
            if not stat.S_ISREG(target.st_mode):  # a device or a pipe under a photo's name
                counts["link to a non-photo" if link else "not a photo"] += 1
            elif identity in photos_seen:
                counts["second path to a photo"] += 1
            else:
                photos_seen.add(identity)
                found.append(FileFacts(path, target.st_size, target.st_mtime_ns, identity))
        stack.extend(reversed(subfolders))  # the first name is walked next
    return Walk(sorted(found, key=lambda facts: facts.path), failed, unreadable, counts)


def printable(path: str | os.PathLike) -> str:
    """A path (or a line naming one) fit to print, whatever bytes its name holds: as \\xfe."""
    try:
        return os.fsencode(path).decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate no byte decodes to (from Python, not from a disk)
        return os.fspath(path).encode("utf-8", "backslashreplace").decode("utf-8")
