"""FHIR R4 Consent and AuditEvent: read and search by patient and date (DESIGN.md §5).

Every read is decided by the policy and logged like any other access. Who may read what:
- Consent: the patient and their proxies (manage rights), and professionals with need-to-know;
- AuditEvent: the patient and their proxies (innsyn i logg), and unit leaders for the accesses
  made from their own unit (log control).
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode
from uuid import UUID

from fastapi import Depends, Query, Request
from sqlalchemy import text

from libs.web.fhir.negotiation import fhir_format
from libs.web.fhir import elements
from libs.audit.log import AccessLogged
from libs.web.guard import AccessDep, CurrentSubject
from libs.access.model import Action, Basis, Citizen, Decision, Practitioner, Resource
from libs.access.policy import may_review
from libs.web.errors import FhirJSONResponse
from libs.web.fhir.reads import CursorParam, etagged
from libs.web.fhir.search_params import MAX_OFFSET
from libs.web.fhir.search import (
    CURSOR_ERROR, Cursor, SearchParameterError, date_filters, decode_cursor,
)
from libs.kernel.errors import Forbidden, NotFound
from libs.web.routing import PrefixRouter
from services.consent.fhir import mapping as fhir

router = PrefixRouter(prefix="/fhir", tags=["FHIR R4"], dependencies=[Depends(fhir_format)])


Dates = Annotated[list[str] | None, Query(description="FHIR date search, e.g. ge2026-01-01")]
Count = Annotated[int, Query(alias="_count", ge=1, le=1000)]
Offset = Annotated[int, Query(alias="_offset", ge=0, le=MAX_OFFSET,
                              description="skip this many (the next link sets it)")]


def bundle(request: Request, rtype: str, page: list[dict], total: int,
           links: dict[str, tuple[str, str]]) -> FhirJSONResponse:
    """A searchset page: ``total`` is every match; ``self``, and a link per relation in
    ``links`` (relation -> the paging parameter and its value, the other parameters kept)."""
    base = str(request.base_url).rstrip("/") + "/fhir"
    query = [(k, v) for k, v in request.query_params.multi_items()
             if k not in ("_offset", "_cursor")]
    found = elements.searchset(page, base, total=total)
    found["link"] = [{"relation": "self", "url": str(request.url)}] + [
        {"relation": rel, "url": f"{base}/{rtype}?{urlencode([*query, param])}"}
        for rel, param in links.items()]
    return FhirJSONResponse(found)


def offset_page(request: Request, rtype: str, matches: list[dict], offset: int,
                count: int) -> FhirJSONResponse:
    """``matches[offset:offset + count]``, with ``next`` and ``previous`` by ``_offset``."""
    links = {}
    if offset + count < len(matches) and offset + count <= MAX_OFFSET:
        links["next"] = ("_offset", str(offset + count))
    if offset > 0:
        links["previous"] = ("_offset", str(max(0, offset - count)))
    return bundle(request, rtype, matches[offset:offset + count], len(matches), links)


def consent_version(consent, now) -> int:
    """A consent is given (version 1) and may be withdrawn (version 2): its only two events."""
    return 2 if consent.withdrawn_at is not None and consent.withdrawn_at <= now else 1


def consent_resource(patient: UUID, consent, now) -> dict:
    version = consent_version(consent, now)
    return fhir.consent_resource(patient, consent, now, version=version,
                                 last_updated=consent.withdrawn_at if version == 2 else None)


@router.get("/metadata")
async def capability_statement():
    types = [{"type": t, "versioning": "versioned",
              "interaction": [{"code": "read"}, {"code": "search-type"}],
              "searchParam": [{"name": "patient", "type": "reference"},
                              {"name": "date", "type": "date"},
                              {"name": "_count", "type": "number",
                               "documentation": "page size, 1 to 1000, default 100"},
                              {"name": "_offset" if t == "Consent" else "_cursor",
                               "type": "number" if t == "Consent" else "string",
                               "documentation": "where the page starts; the next link sets "
                                                "it"}]}
             for t in ("Consent", "AuditEvent")]
    return FhirJSONResponse({"resourceType": "CapabilityStatement", "status": "active",
                             "date": "2026-11-29", "kind": "instance", "fhirVersion": "4.0.1",
                             "format": ["application/fhir+json"],
                             "implementation": {"description": "The consent service's FHIR "
                                                               "R4 API: consents and the "
                                                               "access log"},
                             "rest": [{"mode": "server", "resource": types}]})


# --- Consent ---------------------------------------------------------------------------------

async def _consents(access, who, patient_id: UUID):
    grant = await access.require(who, Action.read, Resource(patient_id=patient_id,
                                                            category="consents"),
                                 resources=("Consent",))
    return grant.facts.consents


@router.get("/Consent")
async def search_consent(request: Request, who: CurrentSubject, access: AccessDep,
                         patient: UUID, date: Dates = None, count: Count = 100,
                         offset: Offset = 0):
    now = access.now()
    checks = date_filters(date)
    found = [consent_resource(patient, c, now)
             for c in await _consents(access, who, patient)
             if all(ok(c.valid_from) for ok in checks)]
    return offset_page(request, "Consent", found, offset, count)


@router.get("/Consent/{consent_id}")
async def read_consent(consent_id: UUID, request: Request, who: CurrentSubject,
                       access: AccessDep):
    async with request.app.state.engine.connect() as conn:
        patient = (await conn.execute(text("""
            SELECT patient_id FROM access_facts
             WHERE doc->'consents' @> CAST(:c AS jsonb)"""),
            {"c": f'[{{"consent_id": "{consent_id}"}}]'})).scalar_one_or_none()
    if patient is None:
        raise NotFound("Consent not found.")
    consent = next(c for c in await _consents(access, who, patient)
                   if c.consent_id == consent_id)
    return etagged(consent_resource(patient, consent, access.now()))


# --- AuditEvent ------------------------------------------------------------------------------

async def _audit_scope(access, who, patient_id: UUID) -> str | None:
    """None: every entry of the patient; a unit: only that unit's entries (log control)."""
    if isinstance(who, Practitioner):
        if not may_review(who, who.unit):
            raise Forbidden("Only the patient and the unit leader read the access log.")
        await access.record(who, Action.read, Resource(patient_id=patient_id,
                                                       category="access_log"),
                            Decision(permit=True, reason="log_control", basis=Basis.log_control,
                                     message="Logg-kontroll."), resources=("AuditEvent",))
        return who.unit
    if not isinstance(who, Citizen):
        raise Forbidden("Only the patient and the unit leader read the access log.")
    await access.require(who, Action.read, Resource(patient_id=patient_id,
                                                    category="access_log"),
                         resources=("AuditEvent",))
    return None


def _audit(row) -> dict:
    """An access-log entry never changes: always version 1, updated when it was recorded."""
    entry = AccessLogged.model_validate(row.doc)
    resource = fhir.audit_event_resource(row.event_id, row.patient_id, entry)
    return {"resourceType": "AuditEvent", "id": resource["id"],
            "meta": {"versionId": "1", "lastUpdated": resource["recorded"]}} | resource


@router.get("/AuditEvent")
async def search_audit_event(request: Request, who: CurrentSubject, access: AccessDep,
                             patient: UUID, date: Dates = None, count: Count = 100,
                             cursor: CursorParam = None):
    """Newest first; the next page goes on after the last entry of this one (``_cursor``), so
    entries logged while a client pages (its own reads among them) never shift the pages."""
    after = decode_cursor(cursor) if cursor else None
    if after is not None and after.date is None:
        raise SearchParameterError(CURSOR_ERROR)
    unit = await _audit_scope(access, who, patient)
    checks = date_filters(date)
    async with request.app.state.engine.connect() as conn:
        rows = await conn.execute(text("""
            SELECT event_id, patient_id, accessed_at, doc FROM access_log
             WHERE patient_id = :p AND (CAST(:u AS text) IS NULL OR unit = :u)"""),
            {"p": patient, "u": unit})
        matches = sorted((r for r in rows if all(ok(r.accessed_at) for ok in checks)),
                         key=lambda r: (r.accessed_at, str(r.event_id)), reverse=True)
    rest = [r for r in matches
            if after is None or (r.accessed_at, str(r.event_id)) < (after.date, after.id)]
    page = rest[:count]
    links = {}
    if len(rest) > count:
        last = page[-1]
        links["next"] = ("_cursor", Cursor(last.accessed_at, str(last.event_id)).encode())
    return bundle(request, "AuditEvent", [_audit(r) for r in page], len(matches), links)


@router.get("/AuditEvent/{event_id}")
async def read_audit_event(event_id: UUID, request: Request, who: CurrentSubject,
                           access: AccessDep):
    async with request.app.state.engine.connect() as conn:
        row = (await conn.execute(text("""
            SELECT event_id, patient_id, unit, doc FROM access_log WHERE event_id = :e"""),
            {"e": event_id})).first()
    if row is None:
        raise NotFound("AuditEvent not found.")
    unit = await _audit_scope(access, who, row.patient_id)
    if unit is not None and row.unit != unit:
        raise NotFound("AuditEvent not found.")
    return etagged(_audit(row))
