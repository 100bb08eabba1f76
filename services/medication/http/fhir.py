"""FHIR R4 for the medication list: MedicationStatement (an entry), MedicationRequest (a
prescription), MedicationAdministration (a dose given, missed or refused) and List (the
patient's medication list, PLL), as ``resources`` maps them and the projection versions them.

- Reads (``libs/web/fhir/reads.py``): read, vread, ``_history``, search by ``patient`` with
  ``date``, ``code`` (FEST product id or ATC code), ``status``, ``_count``/``_cursor`` and
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
  read with the fhir.resources R4B models (``from_fhir``); what cannot be mapped is a 422
  naming the element. The answer is 201 with the MedicationRequest (version 1), ``Location``,
  the list's new version as ``ETag`` (what the next change names in ``If-Match``) and
  ``X-Consistency-Token``; the body is what ``Prefer`` asks for (``libs/web/fhir/writes.py``).
- ``PUT`` and ``DELETE`` of a resource answer 405 with an OperationOutcome naming the list's
  operation that changes it instead (``INSTEAD``), once the caller may see it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Body, Depends, Header, Request

from libs.access.model import Resource
from libs.events.consistency import HEADER
from libs.kernel import errors
from libs.web.fhir.negotiation import fhir_format
from libs.web.errors import FhirJSONResponse
from libs.web.fhir.reads import (
    READ_INTERACTIONS, FhirReads, required_patient, resource_capability, server_capabilities,
)
from libs.web.fhir.narrative import narrated
from libs.web.fhir.search_params import Search
from libs.web.fhir.writes import kept_routes, prefer_return, write_answer
from libs.web.guard import AccessDep, CurrentSubject
from libs.web.routing import PrefixRouter
from libs.web.write import IN_ROUTE, Write, write
from services.medication.domain import medication_list as ml
from services.medication.fhir.elements import FEST_MERKEVARE
from services.medication.fhir.from_fhir import (
    EXT_OVERRIDE_REASON, parsed, prescribe_command, subject,
)
from services.medication.fhir.resources import resource
from services.medication.fhir.types import TYPES
from services.medication.http.imported import IMPORT_DOC
from services.medication.http.deps import (
    CATEGORY, WHAT, actor, catalogue_of, fresh_within, medication_store,
)
from services.medication.projections.reader import CAVE_OF, cave_from

router = PrefixRouter(prefix="/fhir", tags=["FHIR R4"], dependencies=[Depends(fhir_format)])


READS = FhirReads("The medication service", TYPES)

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
    f"medicationCodeableConcept coding of {FEST_MERKEVARE} (an ATC coding, when given, "
    "must match it); one dosageInstruction: timing.repeat.timeOfDay, or frequency per period "
    "1 d, or asNeededBoolean with maxDosePerPeriod per 1 d; doseAndRate.doseQuantity; "
    "route.text (default oral); timing.repeat.boundsPeriod = the treatment's start and end "
    "(dates); additionalInstruction/patientInstruction text; reasonCode text = the "
    "indication. authoredOn and requester are the server's (now, the caller). Going ahead "
    f"against an \"avoid\" warning needs the extension {EXT_OVERRIDE_REASON} (valueString); "
    "without it 422 listing the warnings. 201 with the MedicationRequest; ETag = the list's "
    "new version.")


CREATE_DOC = {"MedicationRequest": ORDER_DOC, "MedicationStatement": IMPORT_DOC}


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
        writes = ([{"code": "create", "documentation": CREATE_DOC[rtype]}]
                  if rtype in CREATE_DOC else [])
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
            {"name": "_cursor", "type": "string", "documentation": "where the page starts; "
                                                                   "the next link sets it"},
            {"name": "_offset", "type": "number", "documentation": "skip this many, at most "
                                                                   "10,000"},
            {"name": "as_of", "type": "date", "documentation": "extension: search or read "
                                                               "the resources as they stood "
                                                               "at this instant"}]}))


@router.get("/{rtype}")
async def search(rtype: str, request: Request, who: CurrentSubject, access: AccessDep,
                 q: Search):
    """Search one patient's resources of a type, newest first, a page at a time (the next
    link pages on with ``_cursor``; ``total`` is left out above 1,000 matches)."""
    rtype = READS.type(rtype)
    patient_id = required_patient(q.patient, PATIENT_REQUIRED)
    grant = await READS.search_allowed(access, who, patient_id, rtype)
    return await READS.search(request, grant, patient_id, rtype, date_=q.date, code=q.code,
                              status=q.status, count=q.count, offset=q.offset, as_of=q.as_of,
                              cursor=q.cursor)


READS.instance_routes(
    "Every version, newest first: a paused, renewed or discontinued entry shows each step.",
    router)


# --- ordering: POST /fhir/MedicationRequest ----------------------------------------------------

OrderWrite = Annotated[Write, Depends(write(CATEGORY, store=medication_store, actor=actor,
                                             if_match="required", what=WHAT,
                                             authorize=IN_ROUTE))]


@router.post("/MedicationRequest", status_code=201)
async def order(request: Request, w: OrderWrite,
                body: Annotated[dict[str, Any], Body(description="an R4 MedicationRequest")],
                prefer: Annotated[str | None, Header(max_length=200)] = None):
    """Order a catalogue product (see ``ORDER_DOC``): decided and logged as a change of the
    patient's medication list (its patient is in the body), then the same decision support and
    ``If-Match`` as REST."""
    sent = parsed(body)
    patient_id = subject(sent)
    grant = await w.require(Resource(patient_id=patient_id, category=CATEGORY),
                            resources=("MedicationRequest",), read_with=CAVE_OF)
    catalogue = catalogue_of(request)
    command = prescribe_command(sent, catalogue, w.now)
    cave = cave_from(grant.read)
    fresh = fresh_within(request)
    appended = []
    try:
        await w.apply(lambda lst: ml.prescribe(lst, command, w.actor, w.now, catalogue=catalogue,
                                               cave=cave, fresh_within=fresh),
                      body=lambda result: appended.append(result) or {}, patient_id=patient_id)
    except errors.Invalid as exc:
        if exc.details:   # the warnings' refusal, in this API's words
            avoid = sum(str(d["code"]).endswith(":avoid") for d in exc.details)
            raise errors.Invalid(f"{avoid} warning(s) say this should be avoided: going ahead "
                                 "needs a stated reason in the extension "
                                 f"{EXT_OVERRIDE_REASON} (valueString).", exc.details) from None
        raise
    result = appended[0]   # an order always records its prescription
    state, _ = await w.store.current(patient_id)   # the cached fold, with the new events
    prescription_id = str(result.envelopes[0].data["prescription_id"])
    # the new resource as the projection will store it: version 1, updated at the append
    created = narrated(resource(state, "MedicationRequest", prescription_id) | {"meta": {
        "versionId": "1", "lastUpdated": result.envelopes[0].recorded_at.isoformat()}})
    # the list's new version as ETag (what the next change names) and the consistency token
    answer = write_answer(request, "MedicationRequest", prescription_id, "1", created,
                          prefer_return(prefer))
    answer.headers.update({h: w.response.headers[h] for h in ("ETag", HEADER)})
    return answer


# --- what the list does instead of replacing or deleting ---------------------------------------

ENTRY_PATH = "/patients/{patient_id}/medication-list/entries/{entry_id}"
INSTEAD = {
    "MedicationRequest": f"a prescription is changed through its entry in the medication list, "
                         f"each change with If-Match on the list: POST {ENTRY_PATH}/renew, "
                         f"/dose, /pause, /resume or /discontinue (with a reason); a recalled "
                         f"prescription stays readable in _history.",
    "MedicationStatement": f"an entry is paused, resumed or discontinued with a reason (POST "
                           f"{ENTRY_PATH}/pause, /resume, /discontinue); every step stays "
                           f"readable in _history.",
    "MedicationAdministration": f"a dose given, missed or refused is a fact; a new one is "
                                f"recorded with POST {ENTRY_PATH}/administrations.",
    "List": "the medication list is the patient's entries; it changes through them.",
}


kept_routes(READS, INSTEAD, INSTEAD["List"], router)
