"""The ``journal.events`` contract for observations beyond the journal's own vital signs, and for
immunizations: laboratory results, the rest of FHIR's vital signs (body height, BMI, head
circumference, pain), social history (smoking status), surveys; and vaccinations given, shaped so
a SYSVAK reporter can consume them from ``journal.events`` without reading anything else.

A result keeps what the source said: every coding of its code (LOINC, NLK, ...), its categories
(FHIR ``observation-category`` codes), and its value as a quantity (UCUM), a coded value, or
components. The journal's own vital signs (``clinical.VITALS``) stay ``ObservationRecorded``
with their fixed unit and plausible range; a result is corrected or marked entered-in-error by
the same ``ObservationCorrected`` / ``ObservationEnteredInError`` events.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import Field

from libs.events.registry import EventPayload, event
from services.journal.contract.values import Hpr, OrgNr, Value

SYSTEM = Field(min_length=1, max_length=200, description="code system URI as given")


class Coded(Value):
    """One coding as the source gave it (a code system URI, a code, its display text)."""

    system: str = SYSTEM
    code: str = Field(min_length=1, max_length=100)
    display: str | None = Field(default=None, max_length=500)


class Quantity(Value):
    value: float
    unit: str | None = Field(default=None, max_length=40, description="UCUM code or unit text")


class Component(Value):
    """One component of an observation (a blood pressure panel's systolic value, ...)."""

    code: tuple[Coded, ...] = Field(min_length=1, max_length=10)
    quantity: Quantity | None = None
    concept: tuple[Coded, ...] = Field(default=(), max_length=10)


@event("journal.ObservationResultRecorded")
class ObservationResultRecorded(EventPayload):
    """A result: exactly one of ``quantity``, ``concept`` (a coded value) or ``components``."""

    observation_id: UUID
    category: tuple[str, ...] = Field(default=(), max_length=10,
                                      description="FHIR observation-category codes")
    code: tuple[Coded, ...] = Field(min_length=1, max_length=10,
                                    description="every coding given; LOINC first")
    text: str | None = Field(default=None, max_length=500)
    quantity: Quantity | None = None
    concept: tuple[Coded, ...] = Field(default=(), max_length=10)
    components: tuple[Component, ...] = Field(default=(), max_length=20)
    effective_at: datetime
    performer: str = Hpr
    unit: str = OrgNr
    recorded_at: datetime


ImmunizationStatus = Literal["completed", "not-done"]


@event("journal.ImmunizationRecorded")
class ImmunizationRecorded(EventPayload):
    """A vaccination given (or, ``not-done``, one not given, with the reason), as SYSVAK is
    reported: the vaccine as coded by the source (ATC and/or CVX, every coding kept), when, the
    lot number, who gave it (HPR) and where (the unit's organisation number)."""

    immunization_id: UUID
    status: ImmunizationStatus
    vaccine: tuple[Coded, ...] = Field(min_length=1, max_length=10)
    vaccine_text: str | None = Field(default=None, max_length=500)
    occurred_at: datetime
    lot_number: str | None = Field(default=None, max_length=100)
    dose_number: int | None = Field(default=None, ge=1, le=20)
    site: str | None = Field(default=None, max_length=200)
    status_reason: str | None = Field(default=None, max_length=500)
    primary_source: bool = True
    performer: str = Hpr
    unit: str = OrgNr
    recorded_at: datetime
