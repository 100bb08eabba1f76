"""FHIR search parameters shared by the services' FHIR APIs."""

from __future__ import annotations

import re
from collections.abc import Callable
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


def date_filters(values: list[str] | None) -> list[Callable[[datetime], bool]]:
    """FHIR ``date`` search parameters (``ge2026-01-01``, ``lt2026-02-01T00:00:00Z``)."""
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
        out.append(lambda v, f=_OPS[op], x=when: f(v, x))
    return out
