"""What the analysts' dashboard shows (``http/dashboard.py``): for one municipality and year,
the users of each service group at the end of every month so far and over the whole year, as
published (suppressed or rounded like every published table: the dashboard shows nothing a
published table does not).

The year's number of a group is the (total, total) cell of the municipality's block in the
year's period table, and on 31 December the one of the year-end point table: both are
published tables, protected whole (secondary suppression too), so the dashboard never shows a
number those tables hide. The other month ends are published nowhere else, and a group's total
there stands alone (no margin adds it up with anything), so it is protected on its own: under
``min_cell`` suppressed, or rounded with the same draw a table would give it. ``None``:
suppressed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from services.registry_export.domain.codes import GROUPS
from services.registry_export.domain.person import Person
from services.registry_export.domain.rounding import Rounding
from services.registry_export.domain.statistics import Counts, count
from services.registry_export.domain.suppression import TOTAL
from services.registry_export.domain.tables import cell_ident, publish


@dataclass(frozen=True)
class Trends:
    year: int
    municipality: str | None
    municipalities: list[str]
    months: list[date]                        # the month ends counted (before today)
    monthly: dict[str, list[int | None]]      # group -> users on each month end
    during: dict[str, int | None]             # group -> users during the year (to today)
    min_cell: int
    rounding_base: int | None
    controlled: bool = False   # the published tables by controlled rounding

    @property
    def groups(self) -> list[str]:
        """The groups with anything to show, in the catalogue's order."""
        return [g for g in GROUPS if self.during.get(g) != 0
                or any(v != 0 for v in self.monthly.get(g, []))]


def month_ends(year: int, today: date) -> list[date]:
    ends = [(date(year + m // 12, m % 12 + 1, 1) - timedelta(days=1)) for m in range(1, 13)]
    return [d for d in ends if d < today]


def municipalities(people: Iterable[Person]) -> list[str]:
    return sorted({r.municipality for p in people for r in p.residence})


def trends(people: Iterable[Person], *, year: int, municipality: str | None, today: date,
           min_cell: int, rounding: Rounding | None) -> Trends:
    people = list(people)
    start, end = date(year, 1, 1), min(date(year, 12, 31), today)
    during_counts = count(people, start, end, "period") if start <= end else None
    if municipality is None and during_counts is not None:   # the one with most users
        users = Counter({m: n for (m, *_), n in during_counts.cells.items()})
        municipality = max(sorted(users), key=users.__getitem__, default=None)

    def totals(counts: Counts | None) -> dict[str, int | None]:
        """The group totals of the municipality's blocks in the published table."""
        if counts is None or municipality is None:
            return {g: 0 for g in GROUPS}
        mine = Counter({k: n for k, n in counts.cells.items() if k[0] == municipality})
        table = publish(Counts(counts.kind, counts.start, counts.end, mine), min_cell,
                        rounding)
        return {g: table.cells.get((municipality, TOTAL, TOTAL, g), 0) for g in GROUPS}

    def alone(counts: Counts) -> dict[str, int | None]:
        """The group totals, each protected on its own."""
        out: dict[str, int | None] = {}
        for g in GROUPS:
            n = sum(v for (m, _, _, group), v in counts.cells.items()
                    if m == municipality and group == g)
            key = (municipality or "", TOTAL, TOTAL, g)
            out[g] = (rounding.round(n, cell_ident(counts, key)) if rounding
                      else None if 0 < n < min_cell else n)
        return out

    months = month_ends(year, today)
    by_month = [(totals if d.month == 12 else alone)(count(people, d, d, "point"))
                for d in months]
    return Trends(year=year, municipality=municipality, municipalities=municipalities(people),
                  months=months, monthly={g: [m[g] for m in by_month] for g in GROUPS},
                  during=totals(during_counts), min_cell=min_cell,
                  rounding_base=rounding.base if rounding else None,
                  controlled=bool(rounding and rounding.controlled))
