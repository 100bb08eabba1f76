"""What a FHIR search filters and sorts on, read from a resource once, when its version is
written: the search date, its codes and its statuses. Pure functions over the resource's JSON.

A service describes each resource type it serves with a ``FhirType`` (in its ``fhir`` package,
so both its projection, which writes the versions, and its HTTP layer, which decides and answers
searches, can use it); ``search_columns`` is what the versions table stores for a version.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

CODED = ("code", "type", "category", "class")


@dataclass(frozen=True)
class FhirType:
    """A resource type a service serves: its information category (what an access to it is
    decided and logged as), the elements its search ``date`` is read from (the first present),
    and the coded elements its search ``code`` matches."""

    category: str
    dates: tuple[str, ...] = ()
    codes: tuple[str, ...] = CODED


def _path(doc: dict, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(doc, dict):
            return None
        doc = doc.get(part)
    return doc


def when(doc: dict, paths: Sequence[str]) -> datetime | None:
    """The first of ``paths`` that holds a date or dateTime (a date is its midnight, UTC)."""
    for path in paths:
        raw = _path(doc, path)
        if isinstance(raw, str):
            try:
                value = (datetime.fromisoformat(raw) if "T" in raw
                         else datetime.combine(date.fromisoformat(raw[:10]), datetime.min.time()))
            except ValueError:
                continue
            return value if value.tzinfo else value.replace(tzinfo=UTC)
    return None


def codes(doc: dict, fields: Sequence[str] = CODED) -> set[str]:
    """Every ``code`` and ``system|code`` of the resource's coded ``fields``."""
    out: set[str] = set()
    for field in fields:
        value = doc.get(field)
        for concept in value if isinstance(value, list) else [value]:
            if not isinstance(concept, dict):
                continue
            codings = concept.get("coding", []) if "coding" in concept else [concept]
            for c in codings:
                if isinstance(c, dict) and "code" in c:
                    out |= {c["code"], f"{c.get('system', '')}|{c['code']}"}
    return out


def statuses(doc: dict) -> set[str]:
    """``status``, and the codes of ``clinicalStatus`` and ``verificationStatus``."""
    out = {doc["status"]} if isinstance(doc.get("status"), str) else set()
    for field in ("clinicalStatus", "verificationStatus"):
        for c in (doc.get(field) or {}).get("coding", []):
            out.add(c.get("code"))
    return out


UNDATED = "-infinity"
"""The stored search date of a resource without one: it sorts after every dated one (newest
first) and no ``date`` filter matches it."""


def stored_date(value: datetime | None) -> str:
    """The search date as the versions table stores it (UTC; ``UNDATED`` when there is none). A
    dateTime UTC cannot hold (year 1 with a positive offset, year 9999 with a negative one) is
    stored as the first or last instant UTC holds."""
    if value is None:
        return UNDATED
    try:
        return value.astimezone(UTC).isoformat()
    except (OverflowError, ValueError):
        edge = datetime.min if value.year == 1 else datetime.max
        return edge.replace(tzinfo=UTC).isoformat()


def search_columns(kind: FhirType | None, doc: dict) -> tuple[str, list[str], list[str]]:
    """(search date, codes, statuses) of one version, as the versions table stores them; a type
    the service does not describe has no date and the default coded elements."""
    kind = kind or FhirType("")
    return (stored_date(when(doc, kind.dates)), sorted(codes(doc, kind.codes)),
            sorted(s for s in statuses(doc) if isinstance(s, str)))
