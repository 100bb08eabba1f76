"""What every ``journal.events`` payload shares: the stream of a patient, value objects (name,
address, scope of a service) and the field constraints the event modules reuse.

Stream per patient: ``journal-<patient_id>`` (``stream_of``), where ``patient_id`` is the internal
UUID that is also the envelope's ``patient_id`` and the Kafka key. One stream holds a patient's
registration, episodes, assessments and decisions, the clinical record, care plans and tasks and
messages, so a decision is made against everything it rests on under one expected version.
"""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import Field

from libs.kernel.model import Frozen

STREAM_PREFIX = "journal-"

Sex = Literal["female", "male", "other", "unknown"]
"""FHIR AdministrativeGender; Folkeregisteret's own field, never read from the number."""

EpisodeKind = Literal["home_care", "nursing_home", "gp", "legevakt", "hospital_stay"]
Score = Literal[1, 2, 3, 4, 5, 9]
"""IPLOS: 1 no problems ... 5 full need of help; 9 not relevant."""

OrgNr = Field(pattern=r"^\d{9}$", description="organisation number (ENH), mod-11 checked")
Hpr = Field(pattern=r"^\d{1,9}$", description="HPR number (Helsepersonellregisteret)")
Text = Field(min_length=1, max_length=2000)
Reason = Field(min_length=1, max_length=2000)


def stream_of(patient_id: UUID) -> str:
    return f"{STREAM_PREFIX}{patient_id}"


class Value(Frozen):
    """A value object inside an event: immutable, unknown fields refused."""


class Name(Value):
    given: str = Field(min_length=1, max_length=200, description="given and middle names")
    family: str = Field(min_length=1, max_length=200)


class Address(Value):
    """A Norwegian address; ``municipality`` is the 4-digit kommunenummer the registry needs."""

    lines: tuple[str, ...] = Field(default=(), max_length=4)
    postal_code: str | None = Field(default=None, pattern=r"^\d{4}$")
    city: str | None = Field(default=None, max_length=200)
    municipality: str = Field(pattern=r"^\d{4}$", description="kommunenummer")
    district: str | None = Field(default=None, pattern=r"^\d{6}$",
                                 description="bydelsnummer: kommunenummer + 2 digits")


class Scope(Value):
    """How much is granted (omfang): e.g. 4.5 hours per week; ``continuous`` for a stay."""

    unit: Literal["hours_per_week", "visits_per_week", "days_per_month", "continuous"]
    amount: float | None = Field(default=None, gt=0)


