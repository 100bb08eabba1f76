"""FHIR R4 for the journal: read, search, ``_history``, ``ETag`` / ``If-Match`` and
transaction Bundles, over the versions ``journal_records`` keeps (``journal_fhir``).

- Every resource belongs to one patient; each read or search is decided and logged as an access
  to that patient, in the information category of the resource type. An unknown id is answered
  like a patient the caller may not see (403, same text), so ids cannot be probed.
- Search needs ``patient`` (need-to-know is per patient); ``date``, ``code``, ``status``,
  ``_count`` and ``_cursor`` (or ``_offset``, at most 10,000) narrow and page it. ``as_of``
  (an extension) reads the record as it stood at an instant; ``_history`` lists every version
  of a resource. The resource types are ``fhir/types.py``.
- Writes go through ``from_fhir`` into the same domain commands as the REST API; a transaction
  Bundle is decided as a whole and appended in one statement (all or nothing), and an entry's
  ``request.ifMatch`` that is not the resource's current version makes the whole Bundle 412.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query, Request

from libs.web.errors import FhirJSONResponse
from libs.web.fhir.reads import (
    AsOf, Count, CursorParam, FhirReads, Offset, required_patient, resource_capability,
    server_capabilities,
)
from libs.web.guard import AccessDep, CurrentSubject
from libs.web.limits import require_bundle_size
from libs.web.write import IN_ROUTE, Write, write
from services.journal.fhir import transaction as tx
from services.journal.fhir.types import TYPES
from services.journal.http import views
from services.journal.http.deps import WHAT, clinician, journal_store

router = APIRouter(prefix="/fhir", tags=["FHIR R4"])

READS = FhirReads("The journal", TYPES,
                  withheld=lambda decision, _: views.hidden_for(decision.hidden,
                                                                decision.categories))


@router.get("/metadata")
async def capability_statement():
    params = [{"name": "patient", "type": "reference"}, {"name": "date", "type": "date"},
              {"name": "code", "type": "token"}, {"name": "status", "type": "token"}]
    types = [resource_capability(t, params if t != "Patient" else [{"name": "_id",
                                                                    "type": "token"}])
             for t in TYPES]
    return FhirJSONResponse(server_capabilities(types, date_="2026-11-29",
                                                interactions=("transaction",)))


# --- search ----------------------------------------------------------------------------------

@router.get("/{rtype}")
async def search(rtype: str, request: Request, who: CurrentSubject, access: AccessDep,
                 patient: Annotated[str | None, Query(description="Patient/<id>")] = None,
                 id_: Annotated[str | None, Query(alias="_id")] = None,
                 date_: Annotated[list[str] | None, Query(alias="date")] = None,
                 code: Annotated[str | None, Query(description="code or system|code")] = None,
                 status: Annotated[str | None, Query()] = None,
                 count: Count = 50, offset: Offset = 0, as_of: AsOf = None,
                 cursor: CursorParam = None):
    """Search one patient's resources of a type, newest first, a page at a time (the next
    link pages on with ``_cursor``; ``total`` is left out above 1,000 matches)."""
    rtype = READS.type(rtype)
    if rtype == "Patient":
        patient = patient or id_
    patient_id = required_patient(patient, "patient is required: the journal searches one "
                                           "patient's record at a time (Patient: _id).")
    grant = await READS.search_allowed(access, who, patient_id, rtype)
    return await READS.search(request, grant, patient_id, rtype, date_=date_, code=code,
                              status=status, count=count, offset=offset, as_of=as_of,
                              cursor=cursor)


# --- read, vread, history --------------------------------------------------------------------

router.include_router(READS.instance_routes(
    "Every version, newest first: a corrected note shows its original and each correction."))


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
    Observations, Conditions, AllergyIntolerances, Flags, DocumentReferences to record.
    At most ``max_bundle_entries`` entries (413 beyond, before anything is mapped); the
    checking and mapping run in a worker thread, so other requests go on meanwhile."""
    s = request.app.state.settings
    require_bundle_size(bundle, s.max_bundle_entries)
    await asyncio.to_thread(tx.check, bundle)
    return await tx.run(w, bundle, clinician(w.subject), production=s.environment == "production",
                        rule_2032=s.id_rule_2032)

