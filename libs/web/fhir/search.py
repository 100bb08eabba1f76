"""FHIR search parameters shared by the services' FHIR APIs."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from libs.kernel.time import in_range_instant


class SearchParameterError(ValueError):
    """A search parameter that cannot be understood: a 422 with this readable message."""


_DATE = re.compile(r"^(eq|ne|lt|gt|le|ge|sa|eb)?(\d{4}-\d{2}-\d{2})(T[0-9:.]+(Z|[+-]\d{2}:\d{2}))?$")
_OPS: dict[str, Callable[[datetime, datetime], bool]] = {
    "eq": lambda v, x: v.date() == x.date(), "ne": lambda v, x: v.date() != x.date(),
    "lt": lambda v, x: v < x, "le": lambda v, x: v <= x, "gt": lambda v, x: v > x,
    "ge": lambda v, x: v >= x, "sa": lambda v, x: v > x, "eb": lambda v, x: v < x,
}


Op = str
"""A FHIR date prefix: eq ne lt le gt ge sa eb."""


def date_conditions(values: list[str] | None) -> list[tuple[Op, datetime]]:
    """FHIR ``date`` search parameters (``ge2026-01-01``, ``lt2026-02-01T00:00:00Z``) as
    (prefix, instant); each value narrows the search. A value that is not one is a 422."""
    out = []
    for raw in values or []:
        m = _DATE.match(raw.strip())
        if m is None:
            raise SearchParameterError(f"date: '{raw[:40]}' is not a FHIR date search value "
                                       "such as ge2026-01-01 or lt2026-02-01T00:00:00Z")
        op = m.group(1) or "eq"
        try:
            when = (datetime.fromisoformat(m.group(2) + m.group(3)) if m.group(3)
                    else datetime.combine(date.fromisoformat(m.group(2)), time(), UTC))
        except ValueError:
            raise SearchParameterError(f"date: '{raw[:40]}' is not a valid date") from None
        when = when if when.tzinfo else when.replace(tzinfo=UTC)
        try:
            in_range_instant(when)
        except ValueError as exc:
            raise SearchParameterError(f"date: {exc}") from None
        out.append((op, when))
    return out


def date_filters(values: list[str] | None) -> list[Callable[[datetime], bool]]:
    """The ``date`` search parameters as checks of a resource's date."""
    return [lambda v, f=_OPS[op], x=when: f(v, x) for op, when in date_conditions(values)]


def token_values(raw: str | None) -> list[str] | None:
    """A token parameter's values (comma = or); ``None`` when the parameter is absent."""
    if not raw:
        return None
    return sorted({x.strip() for x in raw.split(",") if x.strip()})


# --- keyset paging -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Cursor:
    """Where the previous page ended: the (search date, id) of its last resource; a page goes on
    after it in the search's order (search date newest first, then id)."""

    date: datetime | None
    id: str

    def encode(self) -> str:
        raw = json.dumps([self.date.isoformat() if self.date else None, self.id],
                         separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


CURSOR_ERROR = ("_cursor: not a cursor this server gave (take the next link of the previous "
                "page, or search again without _cursor)")


def decode_cursor(raw: str) -> Cursor:
    """The ``_cursor`` a ``next`` link carries; anything else is a 422."""
    try:
        text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
        when, rid = json.loads(text)
        if not isinstance(rid, str) or not rid or len(rid) > 200:
            raise ValueError(rid)
        instant = None if when is None else datetime.fromisoformat(when)
        if instant is not None and instant.tzinfo is None:
            raise ValueError(when)
        return Cursor(instant, rid)
    except (ValueError, TypeError, UnicodeDecodeError, binascii.Error):
        raise SearchParameterError(CURSOR_ERROR) from None


@dataclass(frozen=True)
class SearchQuery:
    """One page of a search of a patient's resources of a type: ``dates`` (each narrows),
    ``codes`` and ``statuses`` (any of them; ``None`` = no filter), ``withheld`` ids never
    returned, ``as_of`` (the versions current then), and the page: ``count`` after ``after``
    (a cursor) or after skipping ``offset``."""

    dates: Sequence[tuple[Op, datetime]] = ()
    codes: Sequence[str] | None = None
    categories: Sequence[str] | None = None   # ANDed with codes: category=laboratory&code=...
    statuses: Sequence[str] | None = None
    withheld: Sequence[str] = ()
    as_of: datetime | None = None
    count: int = 50
    offset: int = 0
    after: Cursor | None = None


def as_of_utc(as_of: datetime | None) -> datetime | None:
    """``as_of`` in UTC; an instant UTC cannot hold (around year 1 or 9999) is a 422, not a
    server error."""
    try:
        return None if as_of is None else as_of.astimezone(UTC)
    except (OverflowError, ValueError):
        raise SearchParameterError("as_of: an instant between years 1 and 9999") from None


def parsed_query(date_: list[str] | None, code: str | None, status: str | None, count: int,
                 offset: int, as_of: datetime | None, cursor: str | None = None,
                 category: str | None = None) -> SearchQuery:
    """A search's parameters, checked (a 422 names what is wrong)."""
    if cursor is not None and offset:
        raise SearchParameterError("_cursor and _offset: give one of them, not both")
    return SearchQuery(dates=date_conditions(date_), codes=token_values(code),
                       categories=token_values(category), statuses=token_values(status),
                       as_of=as_of_utc(as_of), count=count, offset=offset,
                       after=None if cursor is None else decode_cursor(cursor))
