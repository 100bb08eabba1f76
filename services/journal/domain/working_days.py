"""Working days in Norway (virkedager): weekends and public holidays off. The reply to a
dialogue message falls due at the end of a number of working days (``messages.py``)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import cache

from libs.kernel.time import OSLO, local_day

END_OF_DAY = time(23, 59, 59)


def easter_sunday(year: int) -> date:
    """Easter Sunday in the Gregorian calendar (the anonymous Gregorian algorithm)."""
    a, (b, c) = year % 19, divmod(year, 100)
    d, e = divmod(b, 4)
    g = (b - (b + 8) // 25 + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    weekday = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * weekday) // 451
    month, day = divmod(h + weekday - 7 * m + 114, 31)
    return date(year, month, day + 1)


@cache
def public_holidays(year: int) -> frozenset[date]:
    """Norway's public holidays (helligdager and 1 and 17 May): New Year's Day, Maundy Thursday,
    Good Friday, Easter Sunday and Monday, 1 May, 17 May, Ascension Day, Whit Sunday and Monday,
    Christmas Day and Boxing Day. Christmas Eve and New Year's Eve are working days."""
    easter = easter_sunday(year)
    return frozenset({date(year, 1, 1), date(year, 5, 1), date(year, 5, 17), date(year, 12, 25),
                      date(year, 12, 26)} | {easter + timedelta(days=n)
                                             for n in (-3, -2, 0, 1, 39, 49, 50)})


def is_working_day(day: date) -> bool:
    return day.weekday() < 5 and day not in public_holidays(day.year)


def working_days_after(moment: datetime, n: int) -> datetime:
    """The end (23:59:59 in Europe/Oslo) of the ``n``-th working day after the Norwegian day of
    ``moment``: counting starts the next day, whatever day ``moment`` falls on, and skips
    weekends and public holidays. A Friday 15:00 with ``n=3`` gives Wednesday 23:59:59."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("working_days_after needs an aware datetime")
    if n < 1:
        raise ValueError("n must be at least 1 working day")
    day = local_day(moment)
    while n:
        day += timedelta(days=1)
        n -= is_working_day(day)
    return datetime.combine(day, END_OF_DAY, tzinfo=OSLO)
