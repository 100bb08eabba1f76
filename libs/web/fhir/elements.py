"""FHIR R4 elements every service builds: codings, instants, organisation references, masked
free text, and searchset Bundles. Pure functions returning JSON-ready dicts (a searchset's
stored resources as ``orjson.Fragment``: JSON for orjson, as every FHIR answer is written)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from libs.kernel.identifiers import IdentifierSystem
from libs.web.fhir.narrative import narrated
from libs.web.fhir.stored import Stored

# the canonical base of our own code systems, extensions and naming systems: the address the
# project publishes its implementation guide at (GitHub Pages). The one place to change it.
CODE_BASE = "https://ehr-kommune.github.io/ig"
V3_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
_LONG_DIGITS = re.compile(r"\d{11,}")


def text(value: object) -> str:
    """Free text for export: a run of 11+ digits (a national id?) becomes asterisks."""
    return _LONG_DIGITS.sub(lambda m: "*" * len(m.group()), str(value))


def instant(dt: datetime) -> str:
    """FHIR instant/dateTime in UTC; a naive datetime is taken to be UTC already."""
    return (dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)).isoformat()


def coding(system: str, code: str, display: str | None = None) -> dict:
    return {"system": system, "code": code} | ({"display": display} if display else {})


def org(orgnr: str, display: str | None = None) -> dict:
    """A logical reference to an organisation by its organisation number (ENH)."""
    ref = {"type": "Organization", "identifier": {"system": IdentifierSystem.ENH, "value": orgnr}}
    return ref | ({"display": text(display)} if display else {})


def searchset(resources: Sequence[dict | Stored], base: str, total: int | None = None,
              next_url: str | None = None) -> dict:
    """A search result page: ``fullUrl`` = ``<base>/<type>/<id>``; ``next`` link when given;
    each resource with its generated narrative (a ``Stored`` one has it already); no
    ``entry`` on an empty page."""
    base = base.rstrip("/")
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset"}
    if total is not None:
        bundle["total"] = total
    if next_url:
        bundle["link"] = [{"relation": "next", "url": next_url}]
    if resources:   # FHIR JSON has no empty arrays: an empty page has no ``entry``
        bundle["entry"] = [_match(r, base) for r in resources]
    return bundle


def _match(r: dict | Stored, base: str) -> dict:
    """One entry of a page; a ``Stored`` resource goes in as its stored text (encoded by
    orjson, as ``FhirJSONResponse`` does)."""
    if isinstance(r, Stored):
        return {"fullUrl": f"{base}/{r.resource_type}/{r.id}", "resource": r.fragment(),
                "search": {"mode": "match"}}
    return {"fullUrl": f"{base}/{r['resourceType']}/{r['id']}", "resource": narrated(r),
            "search": {"mode": "match"}}
