"""The ``journal.events`` contract for messages between a patient and their care team
(requirement 52; helsenorge's "kontakt med behandler"): the patient writes to one unit of their
care team, the unit's worklist gets a ``message_reply`` task (``TaskCreated``, in the same
append), and a clinician's reply completes it (``TaskCompleted.message_id`` = the reply's id).
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import Field

from libs.events.registry import EventPayload, event
from services.journal.contract.values import Hpr, OrgNr

Subject = Field(min_length=1, max_length=200)
MessageBody = Field(min_length=1, max_length=4000)


@event("journal.CareTeamMessageReceived")
class CareTeamMessageReceived(EventPayload):
    """``message_id`` is the client's: a retried send is the same message, stored once."""

    message_id: UUID
    unit: str = OrgNr
    subject: str = Subject
    text: str = MessageBody
    written_by: UUID = Field(description="patient id of the writer: the patient, or a proxy")
    received_at: datetime


@event("journal.CareTeamReplySent")
class CareTeamReplySent(EventPayload):
    reply_id: UUID
    message_id: UUID
    text: str = MessageBody
    by: str = Hpr
    unit: str = OrgNr
    sent_at: datetime
