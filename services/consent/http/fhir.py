"""FHIR R4 Consent and AuditEvent: read and search by patient and date (DESIGN.md §5).

Every read is decided by the policy and logged like any other access. Who may read what:
- Consent: the patient and their proxies (manage rights), and professionals with need-to-know;
- AuditEvent: the patient and their proxies (innsyn i logg), and unit leaders for the accesses
  made from their own unit (log control).
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request
from sqlalchemy import text

from libs.web.fhir import elements
from libs.audit.log import AccessLogged
from libs.web.guard import AccessDep, CurrentSubject
from libs.access.model import Action, Basis, Citizen, Decision, Practitioner, Resource
from libs.access.policy import may_review
from libs.web.errors import FhirJSONResponse
from libs.web.fhir.search import date_filters
from libs.kernel.errors import Forbidden, NotFound
from services.consent.fhir import mapping as fhir

router = APIRouter(prefix="/fhir", tags=["FHIR R4"])


def bundle(request: Request, resources: list[dict]) -> FhirJSONResponse:
    base = str(request.base_url).rstrip("/") + "/fhir"
    return FhirJSONResponse(elements.searchset(resources, base, total=len(resources)))


Dates = Annotated[list[str] | None, Query(description="FHIR date search, e.g. ge2026-01-01")]
Count = Annotated[int, Query(alias="_count", ge=1, le=1000)]


@router.get("/metadata")
async def capability_statement():
    types = [{"type": t, "interaction": [{"code": "read"}, {"code": "search-type"}],
              "searchParam": [{"name": "patient", "type": "reference"},
                              {"name": "date", "type": "date"}]}
             for t in ("Consent", "AuditEvent")]
    return FhirJSONResponse({"resourceType": "CapabilityStatement", "status": "active",
                             "date": "2026-11-29", "kind": "instance", "fhirVersion": "4.0.1",
                             "format": ["application/fhir+json"],
                             "rest": [{"mode": "server", "resource": types}]})


# --- Consent ---------------------------------------------------------------------------------

async def _consents(access, who, patient_id: UUID):
    grant = await access.require(who, Action.read, Resource(patient_id=patient_id,
                                                            category="consents"),
                                 resources=("Consent",))
    return grant.facts.consents


@router.get("/Consent")
async def search_consent(request: Request, who: CurrentSubject, access: AccessDep,
                         patient: UUID, date: Dates = None, count: Count = 100):
    now = access.now()
    checks = date_filters(date)
    found = [fhir.consent_resource(patient, c, now)
             for c in await _consents(access, who, patient)
             if all(ok(c.valid_from) for ok in checks)]
    return bundle(request, found[:count])


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
    return FhirJSONResponse(fhir.consent_resource(patient, consent, access.now()))


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
    entry = AccessLogged.model_validate(row.doc)
    return fhir.audit_event_resource(row.event_id, row.patient_id, entry)


@router.get("/AuditEvent")
async def search_audit_event(request: Request, who: CurrentSubject, access: AccessDep,
                             patient: UUID, date: Dates = None, count: Count = 100):
    unit = await _audit_scope(access, who, patient)
    checks = date_filters(date)
    async with request.app.state.engine.connect() as conn:
        rows = await conn.execute(text("""
            SELECT event_id, patient_id, accessed_at, doc FROM access_log
             WHERE patient_id = :p AND (CAST(:u AS text) IS NULL OR unit = :u)
             ORDER BY accessed_at DESC"""), {"p": patient, "u": unit})
        found = [_audit(r) for r in rows if all(ok(r.accessed_at) for ok in checks)]
    return bundle(request, found[:count])


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
    return FhirJSONResponse(_audit(row))
