"""``POST /fhir/MedicationStatement``: a medication from another system's record (an import,
e.g. ``ehr import synthea``) onto the patient's list as an imported statement
(``domain/imported.py``, ``fhir/imported.py``).

Decided and logged as a write to the patient's medication (its patient is in the body), by
health personnel (a prescriber or a nurse). It is a fact from elsewhere, not a change of the
plan: ``If-Match`` may name the list version but need not. The same source identifier sent
again is answered 200 with the statement already recorded, and appends nothing. The answer is
201 with the MedicationStatement (version 1), ``Location``, ``ETag`` and
``X-Consistency-Token``; the body is what ``Prefer`` asks for.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Body, Depends, Header, Request

from libs.access.model import Resource
from libs.events.consistency import HEADER
from libs.web.fhir.narrative import narrated
from libs.web.fhir.negotiation import fhir_format
from libs.web.fhir.writes import prefer_return, write_answer
from libs.web.write import IN_ROUTE, Write, write
from libs.web.routing import PrefixRouter
from services.medication.domain.imported import record_imported, statement_id
from services.medication.fhir.imported import (
    import_command, imported_statement, parsed_statement, statement_subject,
)
from services.medication.http.deps import CATEGORY, WHAT, actor, medication_store

router = PrefixRouter(prefix="/fhir", tags=["FHIR R4"], dependencies=[Depends(fhir_format)])

IMPORT_DOC = (
    "Import a medication from another system's record (status active, stopped or completed; "
    "coded in RxNorm, ATC or SNOMED CT; identifier = the source's, which makes the import "
    "idempotent; derivedFrom a logical reference to the source's MedicationRequest or "
    "MedicationStatement; dosage as text). It is not checked against FEST, no decision "
    "support is run on it and nothing is sent to the prescription intermediary; an active one "
    "must be reconciled. 201 with the statement; the same identifier again is 200 with the "
    "statement already recorded.")

ImportWrite = Annotated[Write, Depends(write(CATEGORY, store=medication_store, actor=actor,
                                              what=WHAT, authorize=IN_ROUTE))]


@router.post("/MedicationStatement", status_code=201)
async def import_statement(request: Request, w: ImportWrite,
                           body: Annotated[dict[str, Any], Body(
                               description="an R4 MedicationStatement from another record")],
                           prefer: Annotated[str | None, Header(max_length=200)] = None):
    """See ``IMPORT_DOC``."""
    sent = parsed_statement(body)
    patient_id = statement_subject(sent)
    await w.require(Resource(patient_id=patient_id, category=CATEGORY),
                    resources=("MedicationStatement",))
    command = import_command(sent)
    appended = []
    await w.apply(lambda lst: record_imported(lst, command, w.actor, w.now),
                  body=lambda result: appended.append(result) or {}, unchanged={},
                  patient_id=patient_id)
    state, _ = await w.store.current(patient_id)
    sid = statement_id(patient_id, command.source_system.strip(), command.source_id.strip())
    found = state.imported_statement(sid)
    created = narrated(imported_statement(state, found) | {"meta": {
        "versionId": "1", "lastUpdated": found.recorded_at.isoformat()}})
    token = {HEADER: w.response.headers[HEADER]} if HEADER in w.response.headers else {}
    return write_answer(request, "MedicationStatement", str(sid), "1", created,
                        prefer_return(prefer), status=201 if appended else 200, headers=token)
