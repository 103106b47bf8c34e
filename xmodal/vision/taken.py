"""When a photo was taken, and with what camera: read from its EXIF, else its file's mtime.

The date is EXIF's DateTimeOriginal, the moment the shutter fired, kept as
ISO 8601 with its UTC offset so that Qdrant filters and orders it as a
datetime. EXIF stores no zone unless OffsetTimeOriginal is written (recent
phones and cameras write it); without one the date is read in this
machine's local time, the time a user searching by date means. A photo with
no date of its own (a scan, a screenshot, an upload stripped of EXIF) is
dated by its file's mtime, marked ``taken_from="mtime"``, since that is when
the file was last written, not necessarily when the photo was taken.

:func:`read_exif` opens only the file's header: dating the photos of an older
index decodes no pixels and embeds nothing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from PIL import Image

from xmodal.vision.heif import heif_supported

EXIF_IFD, DATE_TAKEN, OFFSET_TAKEN, MODEL = 0x8769, 36867, 36881, 272  # EXIF tags
_DATE = re.compile(r"(\d{4})[:-](\d\d)[:-](\d\d)[ T](\d\d):(\d\d):(\d\d)")
_OFFSET = re.compile(r"([+-])(\d\d):(\d\d)")


@dataclass(frozen=True)
class Exif:
    """What a photo's EXIF says of its making; None where it says nothing usable."""

    taken: str | None = None  # ISO 8601 with the UTC offset, to the second
    camera: str | None = None


def exif_facts(exif: Image.Exif) -> Exif:
    """The date taken and camera model in ``exif`` (from ``Image.getexif()``). Never raises:
    damaged EXIF must not cost a photo its place in the index, only its EXIF date."""
    try:
        details = exif.get_ifd(EXIF_IFD)
        return Exif(_moment(details.get(DATE_TAKEN), details.get(OFFSET_TAKEN)), _text(exif.get(MODEL)))
    except Exception:  # PIL reads sub-IFDs lazily, through offsets a damaged file may get wrong
        return Exif()


def read_exif(path: str) -> Exif:
    """The EXIF facts of the photo at ``path``, from its header alone. Never raises:
    a file PIL cannot open has no EXIF, and is dated by its mtime."""
    heif_supported()
    try:
        with Image.open(path) as image:
            if image.format == "PNG" and "exif" not in image.info:
                return Exif()  # PIL would decode the pixels to look for EXIF after them; the PNG spec puts it before
            return exif_facts(image.getexif())
    except Exception:  # PIL raises many types for damaged files; the indexer reports those itself
        return Exif()


def date_fields(exif: Exif, mtime_ns: int) -> dict[str, str | None]:
    """A photo's ``taken``, ``taken_from`` and ``camera`` (:class:`~xmodal.store.ImageInfo`):
    the EXIF date, else the file's mtime in local time, marked as such."""
    if exif.taken is not None:
        return {"taken": exif.taken, "taken_from": "exif", "camera": exif.camera}
    modified = datetime.fromtimestamp(mtime_ns // 10**9, timezone.utc).astimezone()
    return {"taken": modified.isoformat(timespec="seconds"), "taken_from": "mtime", "camera": exif.camera}


def dates_of(files: Sequence[tuple[str, int]], workers: int | None = None) -> list[dict[str, str | None]]:
    """:func:`date_fields` of (path, mtime_ns) pairs, their headers read in threads
    (opening a file is mostly waiting on the disk)."""
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda file: date_fields(read_exif(file[0]), file[1]), files))


def _moment(value: object, offset: object) -> str | None:
    """EXIF's ``YYYY:MM:DD HH:MM:SS`` in its own offset, else in local time; None if unusable
    (blank, all zeros, not a date: cameras write all three)."""
    found = _DATE.match(_text(value) or "")
    if found is None:
        return None
    try:
        moment = datetime(*map(int, found.groups()))
        zone = _OFFSET.fullmatch(_text(offset) or "")
        if zone:
            sign = -1 if zone[1] == "-" else 1
            moment = moment.replace(tzinfo=timezone(sign * timedelta(hours=int(zone[2]), minutes=int(zone[3]))))
        else:
            moment = moment.astimezone()  # a naive time is this machine's local time
    except (ValueError, OverflowError, OSError):
        return None
    return moment.isoformat(timespec="seconds")


def _text(value: object) -> str | None:
    """An EXIF ASCII value as text without padding; None when empty or not text."""
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if not isinstance(value, str):
        return None
    return value.strip("\x00 \t\r\n") or None
