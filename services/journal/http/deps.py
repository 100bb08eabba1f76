"""What the journal's routers share: the store and the read model from ``app.state``, the actors
a token stands for, the write dependency of each information category, and the record at an
instant. Every write route takes a ``Write`` (``libs/web/write.py``): guard → actor → If-Match
(optional on every journal write) → decide → append → consistency token and ``ETag``."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, Request
from pydantic import BaseModel, create_model

from libs.access.model import Citizen, Practitioner, Role
from libs.events.envelope import Envelope
from libs.kernel.errors import Forbidden, NotFound
from libs.web.guard import Grant, practitioner
from libs.web.params import as_of_query
from libs.web.write import Write, write
from services.journal.domain.base import Clinician
from services.journal.domain.patients import Patient
from services.journal.domain.withheld import for_patient, withheld_ids
from services.journal.http import views
from services.journal.projections.reader import RecordReader
from services.journal.store import JournalStore

WHAT = "the record"   # names the stream in a 412's message


def journal_store(request: Request) -> JournalStore:
    return request.app.state.journal


# async: FastAPI runs a plain ``def`` dependency in its thread pool, two thread hand-offs per
# request for an attribute lookup (bench/RESULTS.md, journal)
async def journal(request: Request) -> JournalStore:
    return request.app.state.journal


async def reader(request: Request) -> RecordReader:
    return request.app.state.reader


Journal = Annotated[JournalStore, Depends(journal)]
Reader = Annotated[RecordReader, Depends(reader)]
AS_OF_DOC = ("Read the record as it stood at this instant: what a clinician saw when they "
             "acted. Corrections made later are not shown.")
AsOf = as_of_query(AS_OF_DOC)



def clinician(who) -> Clinician:
    """The professional documenting: HPR number, unit, physician or not (from the token)."""
    pro = practitioner(who)
    if not pro.hpr:
        raise Forbidden("Only authorised health personnel (with an HPR number) can document "
                        "in the record.")
    return Clinician(hpr=pro.hpr, unit=pro.unit,
                     physician=Role.physician in pro.roles or Role.prescriber in pro.roles)


def journal_write(category: str, *, documenting: bool = False, **kw: Any) -> Any:
    """The ``Write`` of a route in ``category``: the plain guard, If-Match optional; the actor
    is the ``Clinician`` when the route documents (``documenting``), else the token's subject."""
    return Annotated[Write, Depends(write(category, store=journal_store, what=WHAT,
                                          **({"actor": clinician} if documenting else {}),
                                          **kw))]


def hidden(grant: Grant) -> frozenset[str]:
    return views.hidden_for(grant.decision.hidden, grant.decision.categories)


def shown(grant: Grant, p: Patient) -> Patient:
    """The record as the grant's subject may see it: a citizen (or their proxy) never sees an
    entry withheld from the patient (§ 5-1), nor that one is."""
    return for_patient(p) if isinstance(grant.subject, Citizen) else p


def not_shown(grant: Grant, p: Patient) -> frozenset[UUID]:
    """The entry ids a citizen's read leaves out entirely (none for health personnel)."""
    return withheld_ids(p) if isinstance(grant.subject, Citizen) else frozenset()


WITHHOLDING = frozenset({"journal.EntryWithheldFromPatient", "journal.EntryWithholdingLifted"})


def shown_history(grant: Grant, p: Patient, envelopes: Iterable[Envelope]) -> Iterable[Envelope]:
    """A citizen's timeline: without the withheld entries' events, and without the § 5-1
    decisions themselves (their reasons may name the very harm the decision prevents)."""
    if not isinstance(grant.subject, Citizen):
        return envelopes
    gone = {str(i) for i in withheld_ids(p)}
    return (e for e in envelopes if e.type not in WITHHOLDING
            and not gone & {str(v) for v in e.data.values()})


def viewer_hpr(grant: Grant) -> str | None:
    return grant.subject.hpr if isinstance(grant.subject, Practitioner) else None


async def record_at(store: JournalStore, records: RecordReader, patient_id: UUID,
                    as_of: datetime | None) -> tuple[Patient, int]:
    """The record now (the read model) or as it stood at ``as_of`` (folded from the store)."""
    if as_of is not None:
        loaded = await store.history(patient_id, as_of)
        patient, version = loaded.state, loaded.version
    else:
        found = await records.patient(patient_id)
        patient, version = found if found else (Patient.unknown(patient_id), 0)
    if not patient.registered:
        raise NotFound("The record did not exist at that time." if as_of is not None
                       else "No record for this patient in the journal.")
    return patient, version


def body_of(command: type[BaseModel], *in_path: str) -> type[BaseModel]:
    """The request body of a command whose ids are in the path: the command's own fields
    (types, limits, descriptions) without those ids."""
    fields: dict[str, Any] = {name: (f.annotation, f) for name, f in command.model_fields.items()
                              if name not in in_path}
    return create_model(f"{command.__name__}Body", __config__=command.model_config, **fields)
