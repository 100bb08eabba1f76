"""Norwegian time: days, worklists and charts are Oslo days, whatever the server's zone.

Plausible times (issue 12): every instant and day a service takes from outside lies within
``EARLIEST`` .. ``LATEST`` (an instant also converts to UTC; ``9999-12-31T23:59:59-14:00``
does not), so no later conversion or "the next day" overflows. ``Instant`` and ``Day`` are those
bounds as pydantic types, for commands and request bodies. A clinical time (an observation's
effective time, a dose given) is also not before the patient's birth, where known, and not
after now (plus ``skew`` where a caller allows another clock's): ``clinical_time`` /
``clinical_day`` say so with ``Invalid``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, AwareDatetime
from pydantic_core import PydanticCustomError

from libs.kernel.errors import Invalid

OSLO = ZoneInfo("Europe/Oslo")

EARLIEST = date(1850, 1, 1)     # the oldest births national ids number (1854) and a margin
LATEST = date(2199, 12, 31)     # planned ends and due dates: far, but not overflowing
RANGE_TEXT = f"between {EARLIEST.isoformat()} and {LATEST.isoformat()}"


def local_day(instant: datetime) -> date:
    """The Oslo calendar day of an instant."""
    return instant.astimezone(OSLO).date()


def age_on(birth: date, day: date) -> int:
    """Completed years on ``day`` (a 29 February birthday completes the year on 1 March)."""
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def in_range_day(day: date) -> date:
    """``day`` when it lies within the plausible range, else ``ValueError``."""
    if not EARLIEST <= day <= LATEST:
        raise ValueError(f"a date {RANGE_TEXT}")
    return day


def in_range_instant(instant: datetime) -> datetime:
    """``instant`` (with an offset) when UTC can hold it and its UTC day lies within the plausible
    range, else ``ValueError``."""
    try:
        utc = instant.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ValueError(f"an instant {RANGE_TEXT}") from None
    if not EARLIEST <= utc.date() <= LATEST:
        raise ValueError(f"an instant {RANGE_TEXT}")
    return instant


def _pydantic(check):
    def validate(value):
        try:
            return check(value)
        except ValueError as exc:
            raise PydanticCustomError("out_of_range", str(exc)) from None
    return validate


Day = Annotated[date, AfterValidator(_pydantic(in_range_day))]
"""A calendar day within ``EARLIEST`` .. ``LATEST``."""

Instant = Annotated[AwareDatetime, AfterValidator(_pydantic(in_range_instant))]
"""An instant with an offset, within ``EARLIEST`` .. ``LATEST`` in UTC."""


def clinical_time(field: str, when: datetime, now: datetime, born: date | None = None, *,
                  skew: timedelta = timedelta(0)) -> datetime:
    """A time something happened to the patient: within the plausible range, not before their
    birth (``born``, where known; their birth day counts, whatever the hour) and not after
    ``now`` (plus ``skew``, the minutes another clock may run ahead). Else ``Invalid`` naming
    ``field``."""
    try:
        in_range_instant(when)
    except ValueError as exc:
        raise Invalid(f"{field}: {exc}.") from None
    if when > now + skew:
        raise Invalid(f"{field} is in the future.")
    if born is not None and local_day(when) < born:
        raise Invalid(f"{field} is before the patient's birth date.")
    return when


def clinical_day(field: str, day: date, now: datetime, born: date | None = None) -> date:
    """A day something happened to the patient: within the plausible range, not after today
    (Oslo) and not before their birth where known. Else ``Invalid`` naming ``field``."""
    if not EARLIEST <= day <= LATEST:
        raise Invalid(f"{field}: a date {RANGE_TEXT}.")
    if day > local_day(now):
        raise Invalid(f"{field} is in the future.")
    if born is not None and day < born:
        raise Invalid(f"{field} is before the patient's birth date.")
    return day
