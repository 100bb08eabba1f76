"""FHIR R4 for the journal: read, search, ``_history``, ``ETag`` / ``If-Match`` and
transaction Bundles, over the versions ``journal_records`` keeps (``journal_fhir``).

- Every resource belongs to one patient; each read or search is decided and logged as an access
  to that patient, in the information category of the resource type. An unknown id is answered
  like a patient the caller may not see (403, same text), so ids cannot be probed.
- Search needs ``patient`` (need-to-know is per patient); ``date``, ``code``, ``status``,
  ``_count`` and ``_offset`` narrow and page it. ``as_of`` (an extension) reads the record as
  it stood at an instant; ``_history`` lists every version of a resource.
- Writes go through ``fhir_in`` into the same domain commands as the REST API; a transaction
  Bundle is decided as a whole and appended in one statement (all or nothing), and an entry's
  ``request.ifMatch`` that is not the resource's current version makes the whole Bundle 412.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Annotated, Any
from urllib.parse import urlencode
from uuid import UUID

from fastapi import APIRouter, Body, Query, Request

from libs.access.fhir import searchset
from libs.access.guard import AccessDep, CurrentSubject, Grant, Subject, actor_of
from libs.access.model import Action, Resource
from libs.events.envelope import new_event_id
from libs.web.errors import FhirJSONResponse
from libs.web.fhir_search import SearchParameterError, date_filters
from services.journal import views
from services.journal.domain import Refused

router = APIRouter(prefix="/fhir", tags=["FHIR R4"])

# resource type -> (information category, where its search date is)
TYPES: dict[str, tuple[str, tuple[str, ...]]] = {
    "Patient": ("identity", ("birthDate",)),
    "EpisodeOfCare": ("episodes", ("period.start",)),
    "Encounter": ("notes", ("period.start",)),
    "Observation": ("observations", ("effectiveDateTime",)),
    "Condition": ("conditions", ("recordedDate", "onsetDateTime")),
    "AllergyIntolerance": ("critical_info", ("recordedDate",)),
    "Flag": ("critical_info", ("period.start",)),
    "DocumentReference": ("notes", ("date",)),
    "Composition": ("notes", ("date",)),
    "CarePlan": ("care_plans", ("period.start", "created")),
    "Task": ("tasks", ("authoredOn",)),
}
Count = Annotated[int, Query(alias="_count", ge=1, le=500)]
Offset = Annotated[int, Query(alias="_offset", ge=0, le=100_000)]
AsOf = Annotated[datetime | None, Query(description="the resource as it stood at this instant")]


def _type(rtype: str) -> str:
    if rtype not in TYPES:
        raise Refused(404, f"The journal has no FHIR resource type '{rtype[:40]}'; it serves "
                           f"{', '.join(TYPES)}.")
    return rtype


def _patient_ref(raw: str) -> UUID:
    try:
        return UUID(raw.removeprefix("Patient/"))
    except ValueError:
        raise SearchParameterError("patient: a reference Patient/<id> (or the id)") from None


async def _allowed(access, who: Subject, patient_id: UUID, rtype: str,
                   resources: tuple[str, ...]) -> Grant:
    return await access.require(who, Action.read, Resource(
        patient_id=patient_id, category=TYPES[rtype][0]), resources=resources)


def _denied() -> Refused:
    return Refused(403, "Du har ikke tjenstlig behov for disse opplysningene. You have no "
                        "need-to-know for this information.")


async def _resolve(request: Request, access, who: Subject, rtype: str, rid: str) -> Grant:
    """Decide and log the read of one resource; an unknown id is decided like a stranger."""
    reader = request.app.state.reader
    patient_id = await reader.fhir.patient_of(rtype, rid)
    probe = patient_id or new_event_id()
    grant = await _allowed(access, who, probe, rtype, (f"{rtype}/{rid}"[:200],))
    withheld = views.hidden_for(grant.decision.hidden, grant.decision.categories)
    if patient_id is None or {rid, TYPES[rtype][0]} & withheld:
        raise _denied()
    return grant


def _etagged(resource: dict, status: int = 200) -> FhirJSONResponse:
    meta = resource.get("meta", {})
    headers = {}
    if "versionId" in meta:
        headers["ETag"] = f'W/"{meta["versionId"]}"'
    if "lastUpdated" in meta:
        headers["Last-Modified"] = datetime.fromisoformat(meta["lastUpdated"]).astimezone(
            UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
    return FhirJSONResponse(resource, status_code=status, headers=headers)


@router.get("/metadata")
async def capability_statement():
    params = [{"name": "patient", "type": "reference"}, {"name": "date", "type": "date"},
              {"name": "code", "type": "token"}, {"name": "status", "type": "token"}]
    types = [{"type": t, "versioning": "versioned", "readHistory": True,
              "interaction": [{"code": "read"}, {"code": "vread"}, {"code": "search-type"},
                              {"code": "history-instance"}],
              "searchParam": params if t != "Patient" else [{"name": "_id", "type": "token"}]}
             for t in TYPES]
    return FhirJSONResponse({"resourceType": "CapabilityStatement", "status": "active",
                             "date": "2026-11-29", "kind": "instance", "fhirVersion": "4.0.1",
                             "format": ["application/fhir+json"],
                             "rest": [{"mode": "server", "resource": types,
                                       "interaction": [{"code": "transaction"}]}]})


# --- search ----------------------------------------------------------------------------------

def _path(doc: dict, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(doc, dict):
            return None
        doc = doc.get(part)
    return doc


def _when(doc: dict, rtype: str) -> datetime | None:
    for path in TYPES[rtype][1]:
        raw = _path(doc, path)
        if isinstance(raw, str):
            try:
                value = (datetime.fromisoformat(raw) if "T" in raw
                         else datetime.combine(date.fromisoformat(raw[:10]), datetime.min.time()))
            except ValueError:
                continue
            return value if value.tzinfo else value.replace(tzinfo=UTC)
    return None


def _codes(doc: dict) -> set[str]:
    """Every ``code`` and ``system|code`` of the resource's main coded fields."""
    out: set[str] = set()
    for field in ("code", "type", "category", "class"):
        value = doc.get(field)
        for concept in value if isinstance(value, list) else [value]:
            if not isinstance(concept, dict):
                continue
            codings = concept.get("coding", []) if "coding" in concept else [concept]
            for c in codings:
                if "code" in c:
                    out |= {c["code"], f"{c.get('system', '')}|{c['code']}"}
    return out


def _status(doc: dict) -> set[str]:
    out = {doc["status"]} if isinstance(doc.get("status"), str) else set()
    for field in ("clinicalStatus", "verificationStatus"):
        for c in (doc.get(field) or {}).get("coding", []):
            out.add(c.get("code"))
    return out


def _filters(date_: list[str] | None, code: str | None,
             status: str | None, rtype: str) -> list[Callable[[dict], bool]]:
    checks: list[Callable[[dict], bool]] = []
    for check in date_filters(date_):
        checks.append(lambda d, c=check: (w := _when(d, rtype)) is not None and c(w))
    if code:
        wanted = {x.strip() for x in code.split(",") if x.strip()}
        checks.append(lambda d: bool(_codes(d) & wanted))
    if status:
        states = {x.strip() for x in status.split(",") if x.strip()}
        checks.append(lambda d: bool(_status(d) & states))
    return checks


@router.get("/{rtype}")
async def search(rtype: str, request: Request, who: CurrentSubject, access: AccessDep,
                 patient: Annotated[str | None, Query(description="Patient/<id>")] = None,
                 id_: Annotated[str | None, Query(alias="_id")] = None,
                 date_: Annotated[list[str] | None, Query(alias="date")] = None,
                 code: Annotated[str | None, Query(description="code or system|code")] = None,
                 status: Annotated[str | None, Query()] = None,
                 count: Count = 50, offset: Offset = 0, as_of: AsOf = None):
    """Search one patient's resources of a type, newest first, a page at a time."""
    rtype = _type(rtype)
    if rtype == "Patient":
        patient = patient or id_
    if not patient:
        raise SearchParameterError("patient is required: the journal searches one patient's "
                                   "record at a time (Patient: _id).")
    patient_id = _patient_ref(patient)
    grant = await _allowed(access, who, patient_id, rtype, (f"{rtype}?patient",))
    found = await request.app.state.reader.fhir.search(patient_id, rtype, as_of)
    hidden = views.hidden_for(grant.decision.hidden, grant.decision.categories)
    if TYPES[rtype][0] in hidden:     # the whole section is withheld
        found = []
    checks = _filters(date_, code, status, rtype)
    matches = [d for d in found if d["id"] not in hidden and all(c(d) for c in checks)]
    matches.sort(key=lambda d: (_when(d, rtype) or datetime.min.replace(tzinfo=UTC), d["id"]),
                 reverse=True)
    page = matches[offset:offset + count]
    base = str(request.base_url).rstrip("/") + "/fhir"
    next_url = None
    if offset + count < len(matches):
        query = [(k, v) for k, v in request.query_params.multi_items() if k != "_offset"]
        next_url = f"{base}/{rtype}?{urlencode([*query, ('_offset', offset + count)])}"
    bundle = searchset(page, base, total=len(matches), next_url=next_url)
    bundle["link"] = [{"relation": "self", "url": str(request.url)}, *bundle.get("link", [])]
    return FhirJSONResponse(bundle)


# --- read, vread, history --------------------------------------------------------------------

@router.get("/{rtype}/{rid}")
async def read(rtype: str, rid: str, request: Request, who: CurrentSubject, access: AccessDep,
               as_of: AsOf = None):
    rtype = _type(rtype)
    await _resolve(request, access, who, rtype, rid)
    found = await request.app.state.reader.fhir.current(rtype, rid, as_of)
    if found is None:
        raise Refused(404, "The resource did not exist at that time.")
    return _etagged(found[2])


@router.get("/{rtype}/{rid}/_history")
async def history(rtype: str, rid: str, request: Request, who: CurrentSubject,
                  access: AccessDep):
    """Every version, newest first: a corrected note shows its original and each correction."""
    rtype = _type(rtype)
    await _resolve(request, access, who, rtype, rid)
    versions = await request.app.state.reader.fhir.versions(rtype, rid)
    base = str(request.base_url).rstrip("/") + "/fhir"
    return FhirJSONResponse({
        "resourceType": "Bundle", "type": "history", "total": len(versions),
        "entry": [{"fullUrl": f"{base}/{rtype}/{rid}", "resource": v,
                   "request": {"method": "POST" if v["meta"]["versionId"] == "1" else "PUT",
                               "url": f"{rtype}/{rid}"},
                   "response": {"status": "201" if v["meta"]["versionId"] == "1" else "200",
                                "etag": f'W/"{v["meta"]["versionId"]}"',
                                "lastModified": v["meta"]["lastUpdated"]}}
                  for v in versions]})


@router.get("/{rtype}/{rid}/_history/{vid}")
async def vread(rtype: str, rid: str, vid: str, request: Request, who: CurrentSubject,
                access: AccessDep):
    rtype = _type(rtype)
    await _resolve(request, access, who, rtype, rid)
    for v in await request.app.state.reader.fhir.versions(rtype, rid):
        if v["meta"]["versionId"] == vid:
            return _etagged(v)
    raise Refused(404, f"{rtype}/{rid} has no version {vid[:20]}.")


# --- writes: transaction Bundles -------------------------------------------------------------

@router.post("")
@router.post("/")
async def transaction(request: Request, who: CurrentSubject,
                      access: AccessDep,
                      bundle: Annotated[dict, Body(description="a FHIR R4 transaction Bundle "
                                                   "for one patient")]):
    """A transaction Bundle for one patient, all or nothing: a Patient to register and/or
    Observations, Conditions, AllergyIntolerances, Flags, DocumentReferences to record."""
    from services.journal import fhir_tx  # noqa: PLC0415  (keeps the read path light)
    return await fhir_tx.run(request, who, access, bundle, actor_of(who))

