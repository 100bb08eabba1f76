"""Contacts from elsewhere (``journal.EncounterRecorded``), decided against and folded into
``patients.Patient`` (``Patient.encounters``): a consultation, a home visit, an emergency or an
inpatient stay that took place, of any HL7 v3 ActCode class, with its coded type and reason.
The journal's own contacts are signed visit and legevakt notes (``clinical.py``)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Literal
from uuid import UUID, uuid4

from pydantic import Field

from libs.events.registry import EventPayload
from libs.kernel.errors import Invalid, NotFound
from libs.kernel.model import Frozen
from libs.kernel.time import Instant, clinical_time
from services.journal import contract as ev
from services.journal.contract import Coded
from services.journal.domain.base import Clinician, Command, require_alive, signature

if TYPE_CHECKING:
    from services.journal.domain.patients import Patient


class Encounter(Frozen):
    encounter_id: UUID
    status: Literal["finished", "in-progress"]
    class_code: str
    type: tuple[Coded, ...] = ()
    reason: tuple[Coded, ...] = ()
    text: str | None = None
    started_at: datetime
    ended_at: datetime | None = None
    episode_id: UUID | None = None
    by: str
    unit: str
    recorded_at: datetime


class RecordEncounter(Command):
    class_code: str = Field(pattern=r"^[A-Z_]{2,20}$")
    type: tuple[Coded, ...] = Field(default=(), max_length=10)
    reason: tuple[Coded, ...] = Field(default=(), max_length=10)
    text: str | None = Field(default=None, max_length=2000)
    started_at: Instant
    ended_at: Instant | None = None
    episode_id: UUID | None = None
    encounter_id: UUID | None = None


def clinical_period(p: Patient, start: tuple[str, datetime], end: tuple[str, datetime | None],
                    now: datetime) -> tuple[datetime, datetime | None]:
    """A (start, end) that happened to the patient (``clinical_time``), the end not before the
    start; each given as (field name, value) for the messages."""
    begun = clinical_time(start[0], start[1], now, p.birth_date)
    ended = clinical_time(end[0], end[1], now, p.birth_date) if end[1] is not None else None
    if ended is not None and ended < begun:
        raise Invalid(f"{end[0]} is before {start[0]}.")
    return begun, ended


def record_encounter(p: Patient, c: RecordEncounter, by: Clinician,
                     now: datetime) -> list[EventPayload]:
    require_alive(p)
    start, end = clinical_period(p, ("started_at", c.started_at), ("ended_at", c.ended_at), now)
    if c.episode_id is not None and not any(e.episode_id == c.episode_id for e in p.episodes):
        raise NotFound("No such episode for this patient.")
    return [ev.EncounterRecorded(
        encounter_id=c.encounter_id or uuid4(), status="finished" if end else "in-progress",
        class_code=c.class_code, type=c.type, reason=c.reason, text=c.text, started_at=start,
        ended_at=end, episode_id=c.episode_id, recorded_at=now, **signature(by))]


def evolve(p: Patient, e: EventPayload) -> Patient:
    """The contacts arm of ``patients.evolve``."""
    if isinstance(e, ev.EncounterRecorded):
        return p.model_copy(update={"encounters": (*p.encounters, Encounter(**e.model_dump()))})
    return p
