"""FHIR R4 for the journal: read, search, ``_history``, ``ETag`` / ``If-Match`` and
transaction Bundles, over the versions ``journal_records`` keeps (``journal_fhir``).

- Every resource belongs to one patient; each read or search is decided and logged as an access
  to that patient, in the information category of the resource type. An unknown id is answered
  like a patient the caller may not see (403, same text), so ids cannot be probed.
- Search needs ``patient`` (need-to-know is per patient); ``date``, ``code``, ``status``,
  ``_count`` and ``_cursor`` (or ``_offset``, at most 10,000) narrow and page it. ``as_of``
  (an extension) reads the record as it stood at an instant; ``_history`` lists every version
  of a resource. The resource types are ``fhir/types.py``.
- ``Patient?identifier=<system>|<national id>`` (or POST ``Patient/_search`` with the number
  in a form body) is a professional's look-up of the person in front of them: parsed at the
  edge (``libs/web/fhir/identifiers.py``), decided and logged as an access with its purpose
  (``X-Purpose-Of-Use``, TREAT when unstated), and the same empty page for a patient the caller
  may not see as for a number nobody has.
- Writes go through ``from_fhir`` into the same domain commands as the REST API, through the
  same write dependency (guard, access log, If-Match): a transaction Bundle is decided as a
  whole and appended in one statement (all or nothing; the server assigns every id);
  ``POST /{type}`` is a transaction of one entry, answered with ``Location``, ``ETag`` and what
  ``Prefer`` asks for (``If-None-Exist`` matches a Patient by identifier); ``PUT Patient/{id}``
  with ``If-Match`` changes its details, ``PUT Observation/{id}`` corrects a value
  (``fhir_observation.py``). Other entries are corrected, resolved or marked
  entered-in-error by their own operations, never replaced or deleted: ``PUT`` and ``DELETE``
  answer 405 with an OperationOutcome saying which.
- ``CodeSystem``: our own code systems (``fhir/codesystems.py``), terminology without a token.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from urllib.parse import parse_qsl
from uuid import UUID

from fastapi import Body, Depends, Header, Request
from pydantic import Field

from libs.events.consistency import HEADER, ConsistencyToken
from libs.access.model import Citizen, Resource
from libs.events.envelope import new_event_id
from libs.kernel.errors import Invalid, PreconditionFailed
from libs.web.fhir.negotiation import fhir_format
from libs.web.errors import FhirJSONResponse
from libs.web.fhir.codesystems import code_system_capability, code_system_routes
from libs.web.fhir.identifiers import PERSON_SYSTEMS, person_identifier
from libs.web.fhir.reads import (
    READ_INTERACTIONS, FhirReads, form_parameters,
    patient_reference, required_patient, resource_capability, server_capabilities,
)
from libs.web.fhir.search import SearchParameterError
from libs.web.fhir.search_params import SearchParams
from libs.web.fhir.writes import kept_routes, not_created, prefer_return, write_answer
from libs.web.fhir.call import FhirCall, fhir_call
from libs.web.guard import PURPOSE, AccessDep, CurrentSubject, Grant, get_access
from libs.web.limits import require_bundle_size
from libs.web.query import QueryModel
from libs.web.routing import PrefixRouter
from libs.web.write import IN_ROUTE, Write, write
from services.journal.fhir import transaction as tx
from services.journal.domain import patients as pt
from services.journal.fhir.codesystems import CODE_SYSTEMS
from services.journal.fhir.types import TYPES
from services.journal.fhir.updates import patient_details, still_as_read
from services.journal.http import views
from services.journal.http.fhir_observation import observation_update_routes
from services.journal.http.deps import WHAT, Journal, clinician, journal_store, not_shown
from services.journal.store import JournalStore

router = PrefixRouter(prefix="/fhir", tags=["FHIR R4"], dependencies=[Depends(fhir_format)])
# our code systems (terminology, no patient data), before the /{rtype} routes
code_system_routes(CODE_SYSTEMS, router)

async def _kept_from_patient(request: Request, grant: Grant, patient_id: UUID) -> set[str]:
    """A citizen's (or proxy's) FHIR reads leave out the entries withheld from the patient
    (§ 5-1), as the journal's own reads do (``deps.not_shown``)."""
    if not isinstance(grant.subject, Citizen):
        return set()
    record, _ = await request.app.state.journal.current(patient_id)
    return {str(i) for i in not_shown(grant, record)}


READS = FhirReads("The journal", TYPES,
                  withheld=lambda decision, _: views.hidden_for(decision.hidden,
                                                                decision.categories),
                  kept=_kept_from_patient)


@router.get("/metadata")
async def capability_statement():
    params = [{"name": "patient", "type": "reference"}, {"name": "date", "type": "date"},
              {"name": "code", "type": "token"}, {"name": "status", "type": "token"}]
    patient_params = [{"name": "_id", "type": "token"}, {
        "name": "identifier", "type": "token", "documentation": (
            "A national id number (system " + ", ".join(PERSON_SYSTEMS) + "): the look-up of "
            "the person in front of a professional, logged as an access; POST "
            "Patient/_search keeps the number out of the URL.")}]
    types = [resource_capability(
        t, patient_params if t == "Patient" else params + (
            [{"name": "category", "type": "token"}] if t in ("Observation", "Condition") else []),
        [*READ_INTERACTIONS, *(["create"] if t in CREATED_BY_TYPE else []),
         *(["update"] if t in ("Patient", "Observation") else [])],
        **({"conditionalCreate": True, "conditionalUpdate": False} if t == "Patient" else {}))
        for t in TYPES] + [code_system_capability()]
    return FhirJSONResponse(server_capabilities(
        types, date_="2026-11-29", interactions=("transaction", "batch"),
        implementation={"description": "The journal's FHIR R4 API: the clinical record"}))


# --- search ----------------------------------------------------------------------------------

@router.post("/Patient/_search")
async def search_patient_by_form(request: Request, who: CurrentSubject, access: AccessDep,
                                 journal: Journal, purpose: Annotated[
                                     str | None, Header(alias=PURPOSE, max_length=200)] = None):
    """``Patient?identifier=...`` with the parameters in a form body (FHIR's POST search), so
    the national id is in no URL, proxy log or browser history."""
    form = await form_parameters(request)
    if "identifier" not in form:
        raise SearchParameterError("identifier is required: POST Patient/_search finds a "
                                   "patient by national id")
    found = await _person(journal, form["identifier"], form.get("_id"))
    grant = await READS.person_allowed(access, who, found, purpose)
    return await _identified(request, grant, found, 1, None)


async def _person(journal: JournalStore, identifier: str, same_as: str | None) -> UUID | None:
    """The patient registered with the national id (parsed here, at the edge), if any; with
    ``_id`` as well, only when that is the same patient."""
    found = await journal.claimed_by(person_identifier(identifier).value)
    if same_as and found is not None and patient_reference(same_as) != found:
        return None
    return found


async def _identified(request: Request, grant: Grant | None, found: UUID | None, count: int,
                      as_of: datetime | None) -> FhirJSONResponse:
    """The patient found by national id, as the grant lets the caller see it; the same empty
    page whether the caller may not see the patient or no patient has the number."""
    if grant is None or found is None:
        return READS.no_match(request, "Patient")
    return await READS.search(request, grant, found, "Patient", date_=None, code=None,
                              status=None, count=count, offset=0, as_of=as_of)


class JournalSearch(SearchParams):
    """The shared search parameters, and the journal's own: ``_id`` (Patient), ``category``
    and ``identifier`` (a Patient by national id)."""

    id_: str | None = Field(None, alias="_id", title=" Id")
    category: str | None = Field(None, max_length=200, description=(
        "Observation, Condition: category code (laboratory, vital-signs, ...)"))
    identifier: str | None = Field(None, max_length=200, description=(
        "Patient only: <system>|<national id number>"))


SEARCH = fhir_call(QueryModel(JournalSearch), "rtype", purpose=True)   # one dependency


@router.get("/{rtype}")
async def search(request: Request, call: Annotated[FhirCall, Depends(SEARCH)]):
    """Search one patient's resources of a type, newest first, a page at a time (the next
    link pages on with ``_cursor``; ``total`` is left out above 1,000 matches). ``Patient``
    is also found by national id (``identifier``)."""
    (rtype,), q, who, purpose = call.path, call.query, call.who, call.purpose
    access = get_access(request)
    rtype = READS.type(rtype)
    if rtype == "Patient" and q.identifier is not None:
        found = await _person(journal_store(request), q.identifier, q.patient or q.id_)
        grant = await READS.person_allowed(access, who, found, purpose)
        return await _identified(request, grant, found, q.count, q.as_of)
    patient = q.patient or q.id_ if rtype == "Patient" else q.patient
    patient_id = required_patient(patient, "patient is required: the journal searches one "
                                           "patient's record at a time (Patient: _id).")
    return await READS.page_allowed(request, access, who, patient_id, rtype, date_=q.date,
                                    code=q.code, status=q.status, count=q.count,
                                    offset=q.offset, as_of=q.as_of, cursor=q.cursor,
                                    category=q.category)


# --- read, vread, history --------------------------------------------------------------------

READS.instance_routes(
    "Every version, newest first: a corrected note shows its original and each correction.",
    router)


# --- writes: transaction Bundles -------------------------------------------------------------

# a Bundle with a new Patient is a registration (a declared access); any other is decided by
# the policy on the patient's record: both in ``transaction.run``
BundleWrite = Annotated[Write, Depends(write("record", store=journal_store, what=WHAT,
                                             authorize=IN_ROUTE))]

@router.post("")
@router.post("/")
async def transaction(request: Request, w: BundleWrite,
                      bundle: Annotated[dict, Body(description="a FHIR R4 transaction Bundle "
                                                   "for one patient")]):
    """A transaction Bundle for one patient, all or nothing: a Patient to register and/or
    Observations, Conditions, AllergyIntolerances, Flags, DocumentReferences to record. A
    batch Bundle: each entry on its own (``transaction.run_batch``).
    At most ``max_bundle_entries`` entries (413 beyond, before anything is mapped); the
    checking and mapping of a large one run in a worker thread, so other requests go on
    meanwhile (``transaction.off_loop_if_large``)."""
    s = request.app.state.settings
    require_bundle_size(bundle, s.max_bundle_entries)
    rules = {"production": s.environment == "production", "rule_2032": s.id_rule_2032}
    if isinstance(bundle, dict) and bundle.get("type") == "batch":
        return await tx.run_batch(w, bundle, clinician(w.subject), **rules)
    await tx.off_loop_if_large(bundle, tx.check, bundle)
    return await tx.run(w, bundle, clinician(w.subject), **rules)


# --- writes: one resource at a time ----------------------------------------------------------

CREATED_BY_TYPE = ("Patient", "Observation", "Condition", "AllergyIntolerance")
INSTEAD = {   # what the record does instead of replacing or deleting an entry
    "Observation": "a value is corrected with a reason (PUT Observation/{id} with If-Match "
                   "and the reason in a new note, or POST /patients/{patient_id}/"
                   "observations/{id}/corrections), or marked entered-in-error with a reason "
                   "(POST /patients/{patient_id}/observations/{id}/entered-in-error); every "
                   "version stays readable in _history.",
    "DocumentReference": "a signed note is corrected, not overwritten (POST /patients/"
                         "{patient_id}/notes/{id}/corrections, with a reason); the original "
                         "and each correction stay readable in _history.",
    "Condition": "a problem is resolved (POST /patients/{patient_id}/conditions/{id}/resolve); "
                 "it stays in the record as resolved.",
}
INSTEAD["Composition"] = INSTEAD["Encounter"] = INSTEAD["DocumentReference"]
INSTEAD["Patient"] = ("a patient is updated (PUT Patient/{id} with If-Match), never deleted; "
                      "a death is recorded with POST /patients/{patient_id}/death.")
OTHERWISE = ("an entry is changed by the journal's own operation for it, with a reason, and "
             "every version stays readable in _history.")


@router.post("/{rtype}", status_code=201)
async def create(rtype: str, request: Request, w: BundleWrite,
                 resource: Annotated[dict, Body(description="one FHIR R4 resource")],
                 prefer: Annotated[str | None, Header(max_length=200)] = None,
                 if_none_exist: Annotated[str | None, Header(alias="If-None-Exist",
                                                             max_length=300)] = None):
    """Create one resource (FHIR ``create``): the server assigns its id and answers
    ``Location`` and ``ETag``, with the body ``Prefer`` asks for. It is written as a
    transaction of one entry (the same mapping, guard, access log and append). With
    ``If-None-Exist: identifier=<system>|<number>``, a Patient already registered with that
    number (and visible to the caller) is answered (200) instead of registered again."""
    rtype = READS.type(rtype)
    if resource.get("resourceType") != rtype:
        raise Invalid(f"The body's resourceType is {str(resource.get('resourceType'))[:40]}; "
                      f"POST /fhir/{rtype} takes a {rtype}.")
    if rtype not in CREATED_BY_TYPE:
        return not_created(rtype, INSTEAD.get(rtype, OTHERWISE))
    wanted = prefer_return(prefer)
    if if_none_exist is not None:
        found = await _if_none_exist(rtype, if_none_exist, w)
        grant = await READS.person_allowed(w.access, w.subject, found, w.purpose_of_use)
        if grant is not None and found is not None:
            current = await READS.versions(request).current(rtype, str(found))
            if current is not None:
                return write_answer(request, rtype, str(found), current[2]["meta"]["versionId"],
                                    current[2], wanted, status=200)
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": resource, "request": {"method": "POST", "url": rtype}}]}
    tx.check_one(resource, rtype)   # the resource sent; the Bundle around it is ours
    s = request.app.state.settings
    answer = await tx.run(w, bundle, clinician(w.subject),
                          production=s.environment == "production", rule_2032=s.id_rule_2032)
    rid = tx.location_of(answer, rtype).split("/")[1]
    token = answer.headers.get(HEADER)
    versions = READS.versions(request)
    if token is not None:     # new: readable once the journal's read model has it, and its
        # first version there is the proof: the wait asks for it, no is_applied besides
        current = await w.access.caught_up(ConsistencyToken.decode(token),
                                           probe=lambda: versions.current(rtype, rid),
                                           fresh=True)
    else:
        current = await versions.current(rtype, rid)
    version = current[2]["meta"]["versionId"] if current else "1"
    return write_answer(request, rtype, rid, version, current and current[2], wanted,
                        status=201 if token else 200, headers={HEADER: token} if token else {})


async def _if_none_exist(rtype: str, query: str, w: Write) -> UUID | None:
    """The patient a conditional create names (``identifier=<system>|<number>``), if any."""
    params = dict(parse_qsl(query, max_num_fields=5))
    if rtype != "Patient" or set(params) != {"identifier"}:
        raise SearchParameterError(
            "If-None-Exist: the journal matches a Patient by identifier=<system>|<national id>; "
            "any other entry sent again with the same content is recorded once anyway.")
    return await w.store.claimed_by(person_identifier(params["identifier"]).value)


# the version a FHIR update names is the Patient resource's (its ETag), so the If-Match is
# checked in the route, against that resource
PatientWrite = Annotated[Write, Depends(write("identity", store=journal_store, what=WHAT,
                                              if_match="required", authorize=IN_ROUTE))]


@router.put("/Patient/{rid}")
async def update_patient(rid: str, request: Request, w: PatientWrite,
                         resource: Annotated[dict, Body(description="the whole Patient")],
                         prefer: Annotated[str | None, Header(max_length=200)] = None):
    """FHIR ``update`` of a Patient, with ``If-Match`` naming its version (428 without, 412
    when stale): the details it carries are changed where they differ, as PATCH
    /patients/{patient_id} does (``fhir/updates.py``); one that changes nothing is answered
    with the current version."""
    known = await READS.versions(request).patient_of("Patient", rid)
    await w.require(Resource(patient_id=known or new_event_id(), category="identity"),
                    resources=(f"Patient/{rid}"[:200],))
    current = None if known is None else await READS.versions(request).current("Patient", rid)
    if current is None:
        raise READS.denied()
    version = int(current[2]["meta"]["versionId"])
    if w.expected != version:
        raise PreconditionFailed(version, f"Patient/{rid} has changed: it is at version "
                                          f"{version}. Read it again and redo your change "
                                          f'against it (If-Match: W/"{version}").')
    s = request.app.state.settings
    details = patient_details(resource, rid, w.now)   # one resource: on the loop, as creates
    tx.check_one(resource, "Patient")   # and valid FHIR, as a create's: not only what maps
    w.expected = None   # checked above on the resource, and again on the folded record

    def decide(p):
        still_as_read(p, rid, current[2], version)
        return pt.change_details(p, details, w.now, rule_2032=s.id_rule_2032,
                                 production=s.environment == "production")
    try:
        await w.apply(decide, patient_id=known, status=200)
    except PreconditionFailed:   # overtaken after the If-Match was checked: name the version
        now = await READS.versions(request).current("Patient", rid)
        newest = max(version + 1, int(now[2]["meta"]["versionId"]) if now else 0)
        raise PreconditionFailed(newest, f"Patient/{rid} has changed since version {version} "
                                         f"was read: it is at version {newest} or later. Read "
                                         "it again and redo your change against it.") from None
    token = w.response.headers.get(HEADER)
    if token is not None:
        await w.access.caught_up(ConsistencyToken.decode(token), fresh=True)
        current = await READS.versions(request).current("Patient", rid) or current
    return write_answer(request, "Patient", rid, current[2]["meta"]["versionId"], current[2],
                        prefer_return(prefer), status=200,
                        headers={HEADER: token} if token else {})


observation_update_routes(READS, router)   # PUT Observation: a correction
kept_routes(READS, INSTEAD, OTHERWISE, router)
