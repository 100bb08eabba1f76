"""The ``journal.events`` contract for contacts: ``EncounterRecorded``, a contact of any class
(HL7 v3 ActCode: AMB consultation, HH home visit, EMER emergency, IMP inpatient, VR virtual,
...) that took place, with its type and reason as coded by its source.

A contact the journal makes itself is a signed visit or legevakt note (``NoteSigned``); this
event records one that came from elsewhere (an import), so the record holds every contact.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import Field

from libs.events.registry import EventPayload, event
from services.journal.contract.observations import Coded
from services.journal.contract.values import Hpr, OrgNr


@event("journal.EncounterRecorded")
class EncounterRecorded(EventPayload):
    encounter_id: UUID
    status: Literal["finished", "in-progress"]
    class_code: str = Field(pattern=r"^[A-Z_]{2,20}$", description="HL7 v3 ActCode")
    type: tuple[Coded, ...] = Field(default=(), max_length=10)
    reason: tuple[Coded, ...] = Field(default=(), max_length=10)
    text: str | None = Field(default=None, max_length=2000)
    started_at: datetime
    ended_at: datetime | None = None
    episode_id: UUID | None = Field(default=None, description="the episode it belongs to")
    by: str = Hpr
    unit: str = OrgNr
    recorded_at: datetime
