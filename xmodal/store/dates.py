"""The span of dates a search keeps: ``--after 2019 --before 2019-06``.

Each bound is a year, a month or a day (``YYYY``, ``YYYY-MM`` or
``YYYY-MM-DD``) in this machine's local time, and both are inclusive: ``after``
keeps photos taken from the first moment of its year, month or day, ``before``
up to the last moment of its own, so ``--after 2019-03 --before 2019-03`` is
all of March 2019. The span comes out as two timezone-aware moments, the
first kept and the first left out after it, which the store hands to Qdrant
as a datetime range on the photos' ``taken`` field.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta

from xmodal.core.errors import XmodalError

DateBound = str | date  # "2019", "2019-03", "2019-03-05", or a date (a datetime counts as its day)
Span = tuple[datetime | None, datetime | None]  # the first moment kept, the first left out after; None: open
_FORM = re.compile(r"(\d{4})(?:-(\d\d)(?:-(\d\d))?)?")


def date_span(
    after: DateBound | None, before: DateBound | None, names: tuple[str, str] = ("after", "before")
) -> Span | None:
    """The moments [start, end) that ``after`` and ``before`` keep, or None when neither is
    given; an open end is None. ``names`` are what an error calls the two bounds
    (``--after`` on the command line)."""
    if after is None and before is None:
        return None
    start = None if after is None else _period(after, names[0])[0]
    end = None if before is None else _period(before, names[1])[1]
    if start is not None and end is not None and start >= end:
        raise XmodalError(f"{names[0]} {_spelt(after)} is later than {names[1]} {_spelt(before)}: no date is in both")
    return start, end


def _period(bound: DateBound, name: str) -> tuple[datetime, datetime | None]:
    """The first moment of the year, month or day ``bound`` names, local time, and the
    first moment after it (None past the year 9999)."""
    text = _spelt(bound)
    found = _FORM.fullmatch(text)
    try:
        if found is None:
            raise ValueError(text)
        year, month, day = int(found[1]), int(found[2] or 1), int(found[3] or 1)
        first = date(year, month, day)
        start = datetime.combine(first, time()).astimezone()
    except (ValueError, OverflowError):
        raise XmodalError(f"{name} {text!r} is not a date: give a year, month or day as YYYY, YYYY-MM or YYYY-MM-DD") from None
    try:
        if found[3]:
            following = first + timedelta(days=1)
        elif found[2]:
            following = date(year + month // 12, month % 12 + 1, 1)
        else:
            following = date(year + 1, 1, 1)
        end = datetime.combine(following, time()).astimezone()
    except (ValueError, OverflowError):  # the last day, month or year there is: no end
        end = None
    return start, end


def _spelt(bound: DateBound | None) -> str:
    if isinstance(bound, datetime):
        bound = bound.date()
    return bound.isoformat() if isinstance(bound, date) else str(bound).strip()
