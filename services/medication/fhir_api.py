"""FHIR R4 for the medication list: MedicationStatement (an entry), MedicationRequest (a
prescription), MedicationAdministration (a dose given, missed or refused) and List (the
patient's medication list, PLL), as ``fhir.py`` maps them and the projection versions them.

- Reads (``libs/web/fhir_reads.py``): read, vread, ``_history``, search by ``patient`` with
  ``date``, ``code`` (FEST product id or ATC code), ``status``, ``_count``/``_offset`` and
  ``as_of`` (an extension: the resources as they stood at an instant). Every read is decided
  and logged as an access to the patient's medication (category ``medication``); an unknown id
  is answered like a patient the caller may not see (403, the same text).
- Versions: MedicationStatement, MedicationRequest and MedicationAdministration are numbered
  1, 2, 3 per resource; the List has a version for every event of the list, numbered by the
  list's version, so its ``ETag`` is the REST API's and either works as ``If-Match``.
- ``POST /fhir/MedicationRequest`` orders a catalogue product through the same decision as
  ``POST /patients/{id}/medication-list/prescriptions``: ``If-Match`` names the list version
  (428 without, 412 when stale), decision support runs, and going ahead against an "avoid"
  warning needs the reason in the extension ``EXT_OVERRIDE_REASON`` (valueString). The body is
  read with the fhir.resources R4B models (``fhir_in.py``); what cannot be mapped is a 422
  naming the element. The answer is 201 with the MedicationRequest (version 1), ``Location``,
  the list's new version as ``ETag`` (what the next change names in ``If-Match``) and
  ``X-Consistency-Token``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Query, Request

from libs.access.guard import PURPOSE, AccessDep, CurrentSubject
from libs.access.model import Action, Resource
from libs.web.consistency import set_consistency_token
from libs.web.errors import FhirJSONResponse
from libs.web.fhir_reads import (
    READ_INTERACTIONS, AsOf, Count, FhirReads, FhirType, Offset, etag_headers, fhir_base,
    required_patient, resource_capability, server_capabilities,
)
from services.medication import api, fhir
from services.medication.fhir_in import (
    EXT_OVERRIDE_REASON, parsed, prescribe_command, subject,
)
from services.medication.domain import Refused
from services.medication.domain import medication_list as ml
from services.medication.handlers import MedicationStore

router = APIRouter(prefix="/fhir", tags=["FHIR R4"])


DRUG = ("medicationCodeableConcept",)
TYPES: dict[str, FhirType] = {
    "MedicationStatement": FhirType("medication", ("effectivePeriod.start", "dateAsserted"),
                                    DRUG),
    "MedicationRequest": FhirType("medication", ("authoredOn",), DRUG),
    "MedicationAdministration": FhirType("medication", ("effectiveDateTime",), DRUG),
    "List": FhirType("medication", ("date",), ("code",)),
}
READS = FhirReads("The medication service", TYPES, Refused)

PATIENT_REQUIRED = ("patient is required: the medication service searches one patient's "
                    "medication list at a time.")
DATES = {"MedicationStatement": "effectivePeriod.start (else dateAsserted)",
         "MedicationRequest": "authoredOn", "MedicationAdministration": "effectiveDateTime",
         "List": "date (the last change of the list's entries)"}
CODES = {"List": "LOINC 10160-0, the list's code"}
LIST_DOC = ("The patient's medication list (PLL), id = the patient's id. Its versionId is the "
            "list's version (the REST ETag, what If-Match names): every change, also a dose "
            "given, makes a version; the date is the last change of its entries.")
ORDER_DOC = (
    "Order a catalogue product, the same decision as POST "
    "/patients/{id}/medication-list/prescriptions. If-Match is required and names the "
    "medication list's version (the ETag of that list or of the last change): 428 without, "
    "412 when stale. status active, intent order, subject Patient/<id>; the product as a "
    f"medicationCodeableConcept coding of {fhir.FEST_MERKEVARE} (an ATC coding, when given, "
    "must match it); one dosageInstruction: timing.repeat.timeOfDay, or frequency per period "
    "1 d, or asNeededBoolean with maxDosePerPeriod per 1 d; doseAndRate.doseQuantity; "
    "route.text (default oral); timing.repeat.boundsPeriod = the treatment's start and end "
    "(dates); additionalInstruction/patientInstruction text; reasonCode text = the "
    "indication. authoredOn and requester are the server's (now, the caller). Going ahead "
    f"against an \"avoid\" warning needs the extension {EXT_OVERRIDE_REASON} (valueString); "
    "without it 422 listing the warnings. 201 with the MedicationRequest; ETag = the list's "
    "new version.")


# --- reads -------------------------------------------------------------------------------------

@router.get("/metadata")
async def capability_statement():
    """What this server does, exactly: the reads of every type, and ordering."""
    resources = []
    for rtype in TYPES:
        params = [{"name": "patient", "type": "reference", "documentation": "required"},
                  {"name": "date", "type": "date", "documentation": DATES[rtype]},
                  {"name": "code", "type": "token", "documentation": CODES.get(
                      rtype, "FEST product id or ATC code: code or system|code")},
                  {"name": "status", "type": "token"}]
        writes = [{"code": "create", "documentation": ORDER_DOC}] * (rtype == "MedicationRequest")
        more = {"documentation": LIST_DOC} if rtype == "List" else {}
        resources.append(resource_capability(rtype, params, [*writes, *READ_INTERACTIONS],
                                             **more))
    return FhirJSONResponse(server_capabilities(
        resources, date_="2026-11-29",
        implementation={"description": "Pasientens legemiddelliste (PLL): the medication "
                                       "service's FHIR R4 API"},
        rest={"searchParam": [
            {"name": "_count", "type": "number", "documentation": "page size, 1 to 500, "
                                                                  "default 50"},
            {"name": "_offset", "type": "number", "documentation": "where the page starts; "
                                                                   "the next link sets it"},
            {"name": "as_of", "type": "date", "documentation": "extension: search or read "
                                                               "the resources as they stood "
                                                               "at this instant"}]}))


@router.get("/{rtype}")
async def search(rtype: str, request: Request, who: CurrentSubject, access: AccessDep,
                 patient: Annotated[str | None, Query(description="Patient/<id>")] = None,
                 date_: Annotated[list[str] | None, Query(alias="date")] = None,
                 code: Annotated[str | None, Query(description="code or system|code")] = None,
                 status: Annotated[str | None, Query()] = None,
                 count: Count = 50, offset: Offset = 0, as_of: AsOf = None):
    """Search one patient's resources of a type, newest first, a page at a time."""
    rtype = READS.type(rtype)
    patient_id = required_patient(patient, PATIENT_REQUIRED)
    grant = await READS.search_allowed(access, who, patient_id, rtype)
    return await READS.search(request, grant, patient_id, rtype, date_=date_, code=code,
                              status=status, count=count, offset=offset, as_of=as_of)


@router.get("/{rtype}/{rid}")
async def read(rtype: str, rid: str, request: Request, who: CurrentSubject, access: AccessDep,
               as_of: AsOf = None):
    rtype = READS.type(rtype)
    await READS.resource_allowed(request, access, who, rtype, rid)
    return await READS.read(request, rtype, rid, as_of)


@router.get("/{rtype}/{rid}/_history")
async def history(rtype: str, rid: str, request: Request, who: CurrentSubject,
                  access: AccessDep):
    """Every version, newest first: a paused, renewed or discontinued entry shows each step."""
    rtype = READS.type(rtype)
    await READS.resource_allowed(request, access, who, rtype, rid)
    return await READS.history(request, rtype, rid)


@router.get("/{rtype}/{rid}/_history/{vid}")
async def vread(rtype: str, rid: str, vid: str, request: Request, who: CurrentSubject,
                access: AccessDep):
    rtype = READS.type(rtype)
    await READS.resource_allowed(request, access, who, rtype, rid)
    return await READS.vread(request, rtype, rid, vid)


# --- ordering: POST /fhir/MedicationRequest ----------------------------------------------------

@router.post("/MedicationRequest", status_code=201)
async def order(request: Request, who: CurrentSubject, access: AccessDep,
                body: Annotated[dict[str, Any], Body(description="an R4 MedicationRequest")],
                if_match: api.IfMatch = None,
                purpose: Annotated[str | None, Header(alias=PURPOSE)] = None):
    """Order a catalogue product (see ``ORDER_DOC``): decided and logged as a change of the
    patient's medication list, then the same decision support and ``If-Match`` as REST."""
    sent = parsed(body)
    patient_id = subject(sent)
    grant = await access.require(who, Action.write, Resource(
        patient_id=patient_id, category="medication"), purpose=purpose,
        resources=("MedicationRequest",))
    by, catalogue = api.actor(grant.subject), api.catalogue_of(request)
    now = access.now()
    command = prescribe_command(sent, catalogue, now)
    cave = await request.app.state.reader.cave(patient_id)
    fresh = request.app.state.fresh_within
    store: MedicationStore = request.app.state.medication
    try:
        result = await api.append_against(store, patient_id, grant, lambda lst: ml.prescribe(
            lst, command, by, now, catalogue=catalogue, cave=cave, fresh_within=fresh),
            if_match)
    except Refused as exc:
        if exc.status == 422 and exc.warnings:   # the same refusal, in this API's words
            raise Refused(422, f"{sum(w.level == 'avoid' for w in exc.warnings)} warning(s) "
                               "say this should be avoided: going ahead needs a stated reason "
                               f"in the extension {EXT_OVERRIDE_REASON} (valueString).",
                          exc.warnings) from None
        raise
    assert result is not None   # an order always records its prescription
    state, _ = await store.current(patient_id)   # the cached fold, with the new events
    prescription_id = str(result.envelopes[0].data["prescription_id"])
    # the new resource as the projection will store it: version 1, updated at the append
    created = fhir.resource(state, "MedicationRequest", prescription_id) | {"meta": {
        "versionId": "1", "lastUpdated": result.envelopes[0].recorded_at.isoformat()}}
    location = f"{fhir_base(request)}/MedicationRequest/{prescription_id}/_history/1"
    answer = FhirJSONResponse(created, status_code=201, headers=etag_headers(created) | {
        "Location": location})
    set_consistency_token(answer, result)
    answer.headers["ETag"] = api.etag(result.version)
    return answer
