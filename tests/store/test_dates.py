"""--after and --before: years, months and days in local time, both ends inclusive."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from xmodal.core.errors import XmodalError
from xmodal.store.dates import date_span


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone()


def test_a_year_a_month_or_a_day_from_its_first_moment_to_its_last(paris_time):
    assert date_span("2019", "2019") == (local("2019-01-01T00:00"), local("2020-01-01T00:00"))
    assert date_span("2019-03", "2019-03") == (local("2019-03-01T00:00"), local("2019-04-01T00:00"))
    assert date_span("2019-12", "2019-12") == (local("2019-12-01T00:00"), local("2020-01-01T00:00"))
    assert date_span("2020-02-29", "2020-02-29") == (local("2020-02-29T00:00"), local("2020-03-01T00:00"))
    start, end = date_span("2019-07-01", "2019-12-31")
    assert (start.isoformat(), end.isoformat()) == ("2019-07-01T00:00:00+02:00", "2020-01-01T00:00:00+01:00")  # Paris, summer and winter


def test_one_end_open_neither_none_and_dates_as_objects(paris_time):
    assert date_span("2019", None) == (local("2019-01-01T00:00"), None)
    assert date_span(None, "2019-03") == (None, local("2019-04-01T00:00"))
    assert date_span(None, None) is None
    assert date_span(date(2019, 3, 5), datetime(2019, 3, 6, 18, 30)) == (local("2019-03-05T00:00"), local("2019-03-07T00:00"))
    assert date_span(" 2019 ", None) == date_span("2019", None)
    assert date_span(None, "9999") == (None, None)  # no moment after the year 9999: the end stays open


@pytest.mark.parametrize(
    "after, before, message",
    [
        ("2019-13", None, "after '2019-13' is not a date: give a year, month or day as YYYY, YYYY-MM or YYYY-MM-DD"),
        (None, "yesterday", "before 'yesterday' is not a date"),
        ("2019-02-30", None, "after '2019-02-30' is not a date"),
        ("19", None, "after '19' is not a date"),
        ("2019/03", None, "after '2019/03' is not a date"),
        ("", None, "after '' is not a date"),
        ("2020", "2019", "after 2020 is later than before 2019: no date is in both"),
        ("2019-04", "2019-03", "after 2019-04 is later than before 2019-03"),
    ],
)
def test_a_malformed_or_empty_span_is_one_line_naming_it(after, before, message):
    with pytest.raises(XmodalError) as error:
        date_span(after, before)
    assert str(error.value).startswith(message) and "\n" not in str(error.value)


def test_errors_use_the_names_given():
    with pytest.raises(XmodalError, match=r"^--after '2019-13' is not a date"):
        date_span("2019-13", None, ("--after", "--before"))
