"""A published statistics table, as the API and ``ehr registry statistics`` serve it."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime

from libs.kernel.errors import Invalid
from libs.kernel.time import local_day
from services.registry_export.domain.person import Person
from services.registry_export.domain.rounding import Rounding
from services.registry_export.domain.statistics import period_count, point_count
from services.registry_export.domain.tables import publish, to_csv, to_jsonstat

KINDS = ("point", "period")
FORMATS = {"jsonstat": "application/json", "csv": "text/csv; charset=utf-8"}


def render_table(people: Iterable[Person], *, year: int, kind: str, fmt: str, min_cell: int,
                 now: datetime, rounding: Rounding | None = None) -> tuple[str, str]:
    """(body, media type) of the table of ``year``."""
    if kind not in KINDS:
        raise Invalid(f"kind is one of {', '.join(KINDS)}, not {kind!r}")
    if fmt not in FORMATS:
        raise Invalid(f"format is one of {', '.join(FORMATS)}, not {fmt!r}")
    if not 2000 <= year <= 2199:
        raise Invalid("year must lie between 2000 and 2199")
    count = point_count if kind == "point" else period_count
    table = publish(count(people, year, local_day(now)), min_cell, rounding)
    if fmt == "csv":
        return to_csv(table), FORMATS[fmt]
    return json.dumps(to_jsonstat(table, now), ensure_ascii=False), FORMATS[fmt]
