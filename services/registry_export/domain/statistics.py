"""Users of the care services counted once per service group (requirements 41–42, SSB's way):
on a day (31 December: a point count) or over a period (any day of it), by municipality × age
band × sex × service group. Pure: people in, counts out.

- A service counts on a day when it is granted, has started and has not ended (its planned
  ``to_date`` or its actual end); refused and merely applied-for services never count.
- The person counts where they lived that day, at their age at the end of the year (SSB's
  "alder ved utgangen av året"); a person dead before the day does not count on it.
- Over a period a person counts once per group, where they lived on the last day they had a
  service of the group in the period.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from libs.kernel.errors import Invalid
from services.registry_export.domain.codes import GROUP_OF, age_band, sex_category
from services.registry_export.domain.person import Person, Service

Key = tuple[str, str, str, str]   # (municipality, age band, sex, group)


@dataclass(frozen=True)
class Counts:
    kind: str            # "point" or "period"
    start: date
    end: date            # the day of a point count
    cells: Counter[Key]


def service_end(s: Service) -> date | None:
    ends = [d for d in (s.to_date, s.ended_on) if d is not None]
    return min(ends) if ends else None


def received(s: Service) -> bool:
    return s.status in ("granted", "ended") and s.from_date is not None


def active_between(s: Service, start: date, end: date) -> date | None:
    """The last day in ``[start, end]`` the service was given, or None."""
    if not received(s) or s.from_date > end:  # type: ignore[operator]
        return None
    stop = service_end(s)
    last = end if stop is None else min(stop, end)
    return last if last >= start else None


def count(people: Iterable[Person], start: date, end: date, kind: str) -> Counts:
    cells: Counter[Key] = Counter()
    for p in people:
        if p.birth_year is None or not p.residence:
            continue
        if p.died_on is not None and p.died_on < (end if kind == "point" else start):
            continue
        last_day: dict[str, date] = {}
        for s in p.services.values():
            group = GROUP_OF.get(s.code)
            day = active_between(s, start, end)
            if group is None or day is None:
                continue
            if p.died_on is not None:
                day = min(day, p.died_on)
            last_day[group] = max(day, last_day.get(group, day))
        band, sex = age_band(end.year - p.birth_year), sex_category(p.sex)
        for group, day in last_day.items():
            where = p.residence[0] if (r := p.residence_on(day)) is None else r
            cells[(where.municipality, band, sex, group)] += 1
    return Counts(kind, start, end, cells)


def point_count(people: Iterable[Person], year: int, today: date) -> Counts:
    """Users on 31 December of ``year``: refused until the year has ended."""
    day = date(year, 12, 31)
    if today <= day:
        raise Invalid(f"a point count on {day.isoformat()} needs the year to have ended "
                      f"(today is {today.isoformat()}); use a period count for the year so far")
    return count(people, day, day, "point")


def period_count(people: Iterable[Person], year: int, today: date) -> Counts:
    """Users at any time in ``year`` (up to today when the year is not over)."""
    start, end = date(year, 1, 1), min(date(year, 12, 31), today)
    if end < start:
        raise Invalid(f"the year {year} has not begun")
    return count(people, start, end, "period")
