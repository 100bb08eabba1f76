"""Messages between a patient and their care team (requirement 52), decided against
``patients.Patient``.

A patient (or a proxy the policy lets act for them) writes to one unit of their care team: only
with consent level full (helsenorge's samtykkenivå; the consent service's fact, passed in by the
caller), to a unit with an active care relation, while the patient lives. The message and its
``message_reply`` task for the unit's worklist, due at the end of the second working day, are one
decision, so one append. The client names the message (``message_id``): sending the same message
again changes nothing, and reusing the id for other words is a Conflict. A clinician's reply
needs text and an existing message, and completes the reply task if it is still open.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID, uuid4

from pydantic import Field

from libs.events.registry import EventPayload
from libs.kernel.errors import Conflict, Forbidden, Invalid, NotFound
from services.journal import contract as ev
from services.journal.domain.base import (
    Clinician, Command, Frozen, require_alive, require_registered, signature,
)
from services.journal.domain.working_days import working_days_after

if TYPE_CHECKING:
    from services.journal.domain.patients import Patient

REPLY_WITHIN_WORKING_DAYS = 2
LEVEL_NEEDED = ("Meldinger til behandlerne dine krever samtykkenivå Full. Velg Full under «Mine "
                "valg». Messages to your care team need consent level Full.")


class Reply(Frozen):
    reply_id: UUID
    text: str
    by: str
    unit: str
    sent_at: datetime


class CareTeamMessage(Frozen):
    message_id: UUID
    unit: str
    subject: str
    text: str
    written_by: UUID
    received_at: datetime
    task_id: UUID | None = None
    replies: tuple[Reply, ...] = ()


class WriteToCareTeam(Command):
    message_id: UUID = Field(description="chosen by the client: a retry is the same message")
    unit: str = Field(max_length=20, description="organisation number of a care-team unit")
    subject: str = Field(max_length=200)
    text: str = Field(max_length=4000)


class ReplyToPatient(Command):
    text: str = Field(max_length=4000)


def _message(p: Patient, message_id: UUID) -> CareTeamMessage | None:
    return next((m for m in p.care_team_messages if m.message_id == message_id), None)


def write(p: Patient, c: WriteToCareTeam, writer: UUID, level: str, units: Collection[str],
          now: datetime) -> list[EventPayload]:
    require_alive(p)
    subject, text = c.subject.strip(), c.text.strip()
    if (old := _message(p, c.message_id)) is not None:
        if (old.unit, old.subject, old.text) == (c.unit, subject, text):
            return []
        raise Conflict("Another message was already sent with this message_id.")
    if level != "full":
        raise Forbidden(LEVEL_NEEDED)
    if not subject or not text:
        raise Invalid("Skriv både emne og melding. Write both a subject and a message.")
    if c.unit not in units:
        raise Invalid("Velg en enhet som yter helsehjelp til deg. Choose a unit of your care "
                      "team.")
    task_id = uuid4()
    return [ev.CareTeamMessageReceived(message_id=c.message_id, unit=c.unit, subject=subject,
                                       text=text, written_by=writer, received_at=now),
            ev.TaskCreated(task_id=task_id, kind="message_reply",
                           title=f"Melding fra pasient: {subject}"[:200], unit=c.unit,
                           due_at=working_days_after(now, REPLY_WITHIN_WORKING_DAYS),
                           message_id=str(c.message_id), created_at=now)]


def reply(p: Patient, message_id: UUID, c: ReplyToPatient, by: Clinician,
          now: datetime) -> list[EventPayload]:
    require_registered(p)
    m = _message(p, message_id)
    if m is None:
        raise NotFound("No such message from this patient.")
    if not (text := c.text.strip()):
        raise Invalid("A reply needs text.")
    reply_id = uuid4()
    out: list[EventPayload] = [ev.CareTeamReplySent(reply_id=reply_id, message_id=message_id,
                                                    text=text, sent_at=now, **signature(by))]
    task = next((t for t in p.tasks if t.task_id == m.task_id), None)
    if task is not None and task.status == "requested":
        out.append(ev.TaskCompleted(task_id=task.task_id, message_id=str(reply_id),
                                    completed_by=by.hpr, completed_at=now))
    return out


def evolve(p: Patient, e: EventPayload) -> Patient:
    match e:
        case ev.CareTeamMessageReceived():
            m = CareTeamMessage(message_id=e.message_id, unit=e.unit, subject=e.subject,
                                text=e.text, written_by=e.written_by, received_at=e.received_at)
            return p.model_copy(update={"care_team_messages": (*p.care_team_messages, m)})
        case ev.TaskCreated(kind="message_reply", message_id=str() as mid):
            return _on(p, mid, lambda m: m.model_copy(update={"task_id": e.task_id}))
        case ev.CareTeamReplySent():
            r = Reply(reply_id=e.reply_id, text=e.text, by=e.by, unit=e.unit, sent_at=e.sent_at)
            return _on(p, str(e.message_id),
                       lambda m: m.model_copy(update={"replies": (*m.replies, r)}))
    return p


def _on(p: Patient, message_id: str, change) -> Patient:
    return p.model_copy(update={"care_team_messages": tuple(
        change(m) if str(m.message_id) == message_id else m for m in p.care_team_messages)})
