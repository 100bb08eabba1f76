"""Patient administration over REST: register (the registration itself is the declared access),
find by national id, change details, record a death."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Depends, Request
from pydantic import BaseModel, Field

from libs.access.model import Action, Basis, Resource
from libs.events.envelope import new_event_id
from libs.kernel.errors import NotFound
from libs.web.guard import AccessDenied, AccessDep, CurrentSubject
from libs.web.guard import declared as declared_decision
from libs.web.write import Write, declared, write
from services.journal.domain import patients as pt
from libs.web.guard import practitioner
from libs.web.routing import PathRouter
from services.journal.http.deps import WHAT, Journal, journal_store, journal_write

router = PathRouter(tags=["patients"])

RegisterWrite = Annotated[Write, Depends(write(
    "identity", store=journal_store, actor=practitioner, what=WHAT,
    authorize=declared(declared_decision("patient_registered", Basis.administration),
                       "identity")))]
IdentityWrite = journal_write("identity")


def _id_rules(request: Request) -> dict:
    s = request.app.state.settings
    return {"production": s.environment == "production", "rule_2032": s.id_rule_2032}


class RegisterBody(pt.RegisterPatient):
    patient_id: UUID | None = Field(default=None, description="internal id; new if omitted")


@router.post("/patients", status_code=201)
async def register_patient(body: RegisterBody, request: Request, w: RegisterWrite):
    """Register a patient (national id validated; sex is its own field). A person already
    known to the access model keeps their patient id."""
    rules = _id_rules(request)
    known = await w.access.reader.patient_for(body.national_id.strip())
    patient_id = known or body.patient_id or new_event_id()
    command = pt.RegisterPatient(**body.model_dump(exclude={"patient_id"}))
    return await w.register(patient_id, lambda p: pt.register_patient(p, command, w.now,
                                                                       **rules),
                            body={"patient_id": str(patient_id)})


class LookupBody(BaseModel):
    national_id: str = Field(min_length=1, max_length=20)


@router.post("/patients/$lookup")
async def lookup(body: LookupBody, who: CurrentSubject, access: AccessDep, store: Journal):
    """Find a patient by national id (in the body, so it is never in a URL or a log). Only
    staff with a need-to-know for that patient get an answer; everyone else gets the same 404
    whether or not the patient exists."""
    pro = practitioner(who)
    patient_id = await store.claimed_by(body.national_id.strip())
    probe = patient_id or new_event_id()   # an unknown number is decided like a stranger
    try:
        await access.require(pro, Action.read, Resource(patient_id=probe, category="identity"),
                             resources=("identity",))
    except AccessDenied:
        raise NotFound("No patient found that you have a need-to-know for.") from None
    if patient_id is None:
        raise NotFound("No patient found that you have a need-to-know for.")
    return {"patient_id": str(patient_id)}


@router.patch("/patients/{patient_id}")
async def change_details(patient_id: UUID, body: pt.ChangeDetails, request: Request,
                         w: IdentityWrite):
    rules = _id_rules(request)
    return await w.apply(lambda p: pt.change_details(p, body, w.now, **rules),
                         body={"patient_id": str(patient_id)}, status=200)


@router.post("/patients/{patient_id}/death")
async def record_death(patient_id: UUID, body: pt.RecordDeath, w: IdentityWrite):
    return await w.apply(lambda p: pt.record_death(p, body, w.now),
                         body={"patient_id": str(patient_id)}, status=200)
