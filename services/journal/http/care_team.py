"""Messages between a patient and their care team over REST (requirement 52).

A citizen writes with their own token (ID-porten, LoA high): the access is decided (``manage``
on ``messages``: the patient themself, or a proxy the policy lets act) and logged, then the
journal decides on the record and the access facts of that decision (consent level full, the
unit's care relation), and appends the message and its worklist task in one transaction. A
clinician of the unit replies like any documenting journal write."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, Request

from libs.access.model import Action, Citizen
from libs.kernel.errors import Forbidden
from libs.web.guard import Grant, Subject, guarded
from libs.web.write import Write, write
from libs.web.routing import PathRouter
from services.journal.domain import care_team as ct
from services.journal.http.deps import WHAT, hidden, journal_store, journal_write, record_at

router = PathRouter(tags=["care team messages"])


def _citizen(who: Subject) -> Citizen:
    if not isinstance(who, Citizen) or who.patient_id is None:
        raise Forbidden("Only the patient (or someone acting for them) writes here; health "
                        "personnel reply to a message.")
    return who


CitizenWrite = Annotated[Write, Depends(write("messages", store=journal_store, what=WHAT,
                                              action=Action.manage, actor=_citizen))]
ReplyWrite = journal_write("messages", documenting=True)


@router.post("/patients/{patient_id}/care-team/messages", status_code=201)
async def write_to_care_team(patient_id: UUID, body: ct.WriteToCareTeam,
                             w: CitizenWrite) -> dict[str, Any]:
    """Write to a unit of one's care team (consent level full needed). Send a new
    ``message_id`` with each message; sending the same one again stores nothing twice."""
    facts = w.grant.facts
    units = {r.unit for r in facts.care_relations if r.active(w.now)}
    answer = {"message_id": str(body.message_id)}
    return await w.apply(lambda p: ct.write(p, body, w.actor.patient_id, facts.consent_level,
                                            units, w.now),
                         body=answer, unchanged=answer)


@router.post("/patients/{patient_id}/care-team/messages/{message_id}/replies",
             status_code=201)
async def reply_to_patient(patient_id: UUID, message_id: UUID, body: ct.ReplyToPatient,
                           w: ReplyWrite) -> dict[str, Any]:
    """A clinician's reply; it completes the unit's reply task."""
    return await w.apply(lambda p: ct.reply(p, message_id, body, w.actor, w.now),
                         body={"message_id": str(message_id)})


@router.get("/patients/{patient_id}/care-team/messages")
async def care_team_messages(patient_id: UUID, request: Request,
                             grant: Grant = Depends(guarded(Action.read, "messages"))):
    """The patient's messages with their care team, newest first, each with its replies."""
    if "messages" in hidden(grant):
        return {"messages": [], "withheld": True}
    patient, _ = await record_at(journal_store(request), request.app.state.reader, patient_id,
                                 None)
    return {"messages": [m.model_dump(mode="json") for m in sorted(
        patient.care_team_messages, key=lambda m: m.received_at, reverse=True)]}
