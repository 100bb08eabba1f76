"""Immunizations (vaksinasjoner) in the journal: decided against ``patients.Patient`` and
folded into it (``Patient.immunizations``; a person has tens, not thousands).

A vaccination given is a fact with the vaccine as its source coded it (ATC, as SYSVAK takes it,
and/or CVX; every coding kept), the time, the lot number, the dose number and the site, who gave
it (HPR) and where (the unit). ``not-done`` records a vaccination not given, with its reason.
The event, ``journal.ImmunizationRecorded`` on ``journal.events``, carries everything a SYSVAK
reporter needs except the national id, which a reporter takes from ``PatientRegistered`` (as
every consumer of ``journal.events`` does: no national id in other events).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID, uuid4

from pydantic import Field

from libs.events.registry import EventPayload
from libs.kernel.errors import Invalid
from libs.kernel.model import Frozen
from libs.kernel.time import Instant, clinical_time
from services.journal import contract as ev
from services.journal.contract import Coded, ImmunizationStatus
from services.journal.domain.base import Clinician, Command, require_alive, signature

if TYPE_CHECKING:
    from services.journal.domain.patients import Patient

ATC = "http://www.whocc.no/atc"
CVX = "http://hl7.org/fhir/sid/cvx"


class Immunization(Frozen):
    immunization_id: UUID
    status: ImmunizationStatus
    vaccine: tuple[Coded, ...]
    vaccine_text: str | None = None
    occurred_at: datetime
    lot_number: str | None = None
    dose_number: int | None = None
    site: str | None = None
    status_reason: str | None = None
    primary_source: bool = True
    performer: str
    unit: str
    recorded_at: datetime


class RecordImmunization(Command):
    status: ImmunizationStatus = "completed"
    vaccine: tuple[Coded, ...] = Field(min_length=1, max_length=10)
    vaccine_text: str | None = Field(default=None, max_length=500)
    occurred_at: Instant
    lot_number: str | None = Field(default=None, max_length=100)
    dose_number: int | None = Field(default=None, ge=1, le=20)
    site: str | None = Field(default=None, max_length=200)
    status_reason: str | None = Field(default=None, max_length=500)
    primary_source: bool = True
    immunization_id: UUID | None = None


def record_immunization(p: Patient, c: RecordImmunization, by: Clinician,
                        now: datetime) -> list[EventPayload]:
    require_alive(p)
    if c.status == "not-done" and not (c.status_reason or "").strip():
        raise Invalid("A vaccination not given names the reason (status_reason).")
    at = clinical_time("occurred_at", c.occurred_at, now, p.birth_date)
    vaccine = sorted(c.vaccine, key=lambda x: x.system != ATC)   # ATC first: SYSVAK's code
    who = signature(by)
    return [ev.ImmunizationRecorded(
        immunization_id=c.immunization_id or uuid4(), status=c.status, vaccine=tuple(vaccine),
        vaccine_text=c.vaccine_text, occurred_at=at, lot_number=c.lot_number,
        dose_number=c.dose_number, site=c.site, status_reason=c.status_reason,
        primary_source=c.primary_source, performer=who["by"], unit=who["unit"],
        recorded_at=now)]


def evolve(p: Patient, e: EventPayload) -> Patient:
    """The immunization arm of ``patients.evolve``."""
    if isinstance(e, ev.ImmunizationRecorded):
        x = Immunization(**e.model_dump())
        return p.model_copy(update={"immunizations": (*p.immunizations, x)})
    return p
