"""Norwegian time: days, worklists and charts are Oslo days, whatever the server's zone."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

OSLO = ZoneInfo("Europe/Oslo")


def local_day(instant: datetime) -> date:
    """The Oslo calendar day of an instant."""
    return instant.astimezone(OSLO).date()


def age_on(birth: date, day: date) -> int:
    """Completed years on ``day`` (a 29 February birthday completes the year on 1 March)."""
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))
