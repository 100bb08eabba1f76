"""The ``journal.events`` contract for patient administration: patients, episodes of care, IPLOS
functional assessments and service decisions (vedtak), DOMAIN.md §5.1 and §11 requirements 25-26.

The national id number appears only in ``PatientRegistered`` and, when the number itself changes
(a D-number replaced by a fødselsnummer), in ``PatientDetailsChanged``: never in keys, stream ids
or any other event. Sex is its own field and is never derived from the number (requirement 4).
Dates the registry reports on (KPR ``fra_dato``/``til_dato``) are calendar dates in Norway;
moments (an episode's start, an assessment) are aware datetimes.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal
from uuid import UUID

from pydantic import Field

from libs.events.registry import EventPayload, event
from libs.kernel.identifiers import PersonIdType
from services.journal.contract.values import Address, Name, OrgNr, Scope, Sex, Text

EpisodeKind = Literal["home_care", "nursing_home", "gp", "legevakt", "hospital_stay"]
Score = Literal[1, 2, 3, 4, 5, 9]
"""IPLOS: 1 no problems ... 5 full need of help; 9 not relevant."""


# --- patients ---------------------------------------------------------------------------------

@event("journal.PatientRegistered")
class PatientRegistered(EventPayload):
    national_id: str = Field(description="fnr, D-, H- or test number: only here, never a key")
    id_type: PersonIdType
    assigner: str | None = Field(default=None, description="who issued an H-number")
    name: Name
    birth_date: date
    sex: Sex
    address: Address
    regular_gp: str | None = Field(default=None, pattern=r"^\d{1,9}$",
                                   description="HPR number of the fastlege")
    registered_at: datetime


@event("journal.PatientDetailsChanged")
class PatientDetailsChanged(EventPayload):
    """Only what changed is set. A new national id (e.g. D-number -> fnr) comes with the birth
    date it implies; ``no_regular_gp`` records that the patient no longer has a fastlege."""

    national_id: str | None = None
    id_type: PersonIdType | None = None
    assigner: str | None = None
    birth_date: date | None = None
    name: Name | None = None
    sex: Sex | None = None
    address: Address | None = None
    regular_gp: str | None = Field(default=None, pattern=r"^\d{1,9}$")
    no_regular_gp: bool = False
    reason: str | None = Field(default=None, max_length=2000)
    changed_at: datetime


@event("journal.PatientDeceased")
class PatientDeceased(EventPayload):
    """The patient died on ``deceased_on``. A later one corrects the date: ``corrects`` holds
    the date it replaces and ``reason`` says why."""

    deceased_on: date
    corrects: date | None = None
    reason: str | None = Field(default=None, max_length=2000)
    recorded_at: datetime


# --- episodes of care ------------------------------------------------------------------------

@event("journal.EpisodeStarted")
class EpisodeStarted(EventPayload):
    episode_id: UUID
    kind: EpisodeKind
    unit: str = OrgNr
    started_at: datetime
    reason: str | None = Field(default=None, max_length=2000)


@event("journal.EpisodeEnded")
class EpisodeEnded(EventPayload):
    episode_id: UUID
    ended_at: datetime
    reason: str | None = Field(default=None, max_length=2000)


# --- IPLOS functional assessment ------------------------------------------------------------

@event("journal.IplosAssessed")
class IplosAssessed(EventPayload):
    """Scores per IPLOS variable. May be partial; a grant checks completeness (requirement 26)."""

    assessment_id: UUID
    scores: dict[str, Score]
    assessed_at: datetime
    assessed_by: str = Field(min_length=1, max_length=50,
                             description="HPR number, or the assessor's person id")


# --- service decisions (vedtak) -------------------------------------------------------------

@event("journal.ServiceApplied")
class ServiceApplied(EventPayload):
    decision_id: UUID
    service_code: str = Field(pattern=r"^\d{1,3}$", description="IPLOS tjenestekode")
    applied_on: date = Field(description="when the application was received")
    requested_scope: Scope | None = None
    note: str | None = Field(default=None, max_length=2000)


@event("journal.ServiceGranted")
class ServiceGranted(EventPayload):
    """A vedtak granting a service (KPR: tjenestekode, fra_dato, til_dato, provider orgnr)."""

    decision_id: UUID
    service_code: str = Field(pattern=r"^\d{1,3}$")
    from_date: date
    to_date: date | None = None
    scope: Scope
    provider: str = OrgNr
    assessment_id: UUID = Field(description="the IPLOS assessment the grant rests on")
    decided_on: date


@event("journal.ServiceRefused")
class ServiceRefused(EventPayload):
    decision_id: UUID
    reason: str = Text
    decided_on: date


@event("journal.ServiceEnded")
class ServiceEnded(EventPayload):
    decision_id: UUID
    ended_on: date
    reason: str | None = Field(default=None, max_length=2000)
