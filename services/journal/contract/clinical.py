"""The ``journal.events`` contract for the clinical record: notes, observations, problems
(conditions) and critical information (CAVE). Every entry names who made it (HPR number), the
unit (organisation number) and when. Entries are never changed in place: a correction is a new
event that references the entry it corrects and carries a reason (DOMAIN.md §11 requirement 23).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal
from uuid import UUID

from pydantic import Field

from libs.events.registry import EventPayload, event
from services.journal.contract.values import Hpr, OrgNr, Reason

NoteKind = Literal["nursing", "medical", "home_care_visit", "legevakt_contact",
                   "discharge_summary_received"]
NoteText = Field(min_length=1, max_length=20000)
CriticalCategory = Literal[
    "drug_reaction", "other_allergy", "anaesthesia_complication", "critical_condition",
    "ongoing_treatment_or_implant", "treatment_limitation", "infection"]
"""Kjernejournal's kritisk informasjon: legemiddelreaksjon, annen allergi, anestesikomplikasjon,
kritisk tilstand, pågående behandling/implantat, behandlingsbegrensning, smitte."""
Severity = Literal["mild", "moderate", "severe"]


@event("journal.NoteDrafted")
class NoteDrafted(EventPayload):
    """A draft, or a new version of a draft with the same ``note_id`` (a draft is replaced by
    re-drafting; only a signed note is a journal entry, changed by ``NoteCorrected``)."""

    note_id: UUID
    kind: NoteKind
    text: str = NoteText
    author: str = Hpr
    unit: str = OrgNr
    episode_id: UUID | None = None
    drafted_at: datetime


@event("journal.NoteSigned")
class NoteSigned(EventPayload):
    note_id: UUID
    signed_by: str = Hpr
    signed_at: datetime


@event("journal.NoteCorrected")
class NoteCorrected(EventPayload):
    """A signed note's new text; ``replaces_version`` is the version it corrects (1 = original).
    The correction is signed by its author when made."""

    note_id: UUID
    replaces_version: int = Field(ge=1)
    text: str = NoteText
    reason: str = Reason
    author: str = Hpr
    unit: str = OrgNr
    corrected_at: datetime


@event("journal.ObservationRecorded")
class ObservationRecorded(EventPayload):
    observation_id: UUID
    code: str = Field(pattern=r"^\d{1,7}-\d$", description="LOINC code")
    value: float
    ucum: str = Field(min_length=1, max_length=20, description="UCUM unit, fixed per code")
    effective_at: datetime
    performer: str = Hpr
    unit: str = OrgNr
    recorded_at: datetime


@event("journal.ObservationCorrected")
class ObservationCorrected(EventPayload):
    observation_id: UUID
    value: float
    reason: str = Reason
    by: str = Hpr
    unit: str = OrgNr
    corrected_at: datetime


@event("journal.ObservationEnteredInError")
class ObservationEnteredInError(EventPayload):
    observation_id: UUID
    reason: str = Reason
    by: str = Hpr
    unit: str = OrgNr
    marked_at: datetime


@event("journal.ConditionRecorded")
class ConditionRecorded(EventPayload):
    condition_id: UUID
    system: Literal["ICPC-2", "ICD-10"]
    code: str = Field(min_length=1, max_length=10)
    display: str = Field(min_length=1, max_length=500)
    onset: date | None = None
    note: str | None = Field(default=None, max_length=2000)
    by: str = Hpr
    unit: str = OrgNr
    recorded_at: datetime


@event("journal.ConditionResolved")
class ConditionResolved(EventPayload):
    condition_id: UUID
    resolved_on: date
    reason: str | None = Field(default=None, max_length=2000)
    by: str = Hpr
    unit: str = OrgNr
    recorded_at: datetime


@event("journal.CriticalInfoRegistered")
class CriticalInfoRegistered(EventPayload):
    critical_id: UUID
    category: CriticalCategory
    substance: str | None = Field(default=None, max_length=200, description="for reactions")
    text: str | None = Field(default=None, max_length=2000)
    reaction: str | None = Field(default=None, max_length=2000)
    severity: Severity | None = None
    by: str = Hpr
    unit: str = OrgNr
    registered_at: datetime


@event("journal.CriticalInfoVerified")
class CriticalInfoVerified(EventPayload):
    critical_id: UUID
    by: str = Hpr
    unit: str = OrgNr
    verified_at: datetime


@event("journal.CriticalInfoRefuted")
class CriticalInfoRefuted(EventPayload):
    """Avkreftet: shown to be wrong (e.g. a tolerated dose); stays visible as refuted."""

    critical_id: UUID
    reason: str = Reason
    by: str = Hpr
    unit: str = OrgNr
    refuted_at: datetime


@event("journal.CriticalInfoRemoved")
class CriticalInfoRemoved(EventPayload):
    """Slettet: registered in error or no longer relevant."""

    critical_id: UUID
    reason: str = Reason
    by: str = Hpr
    unit: str = OrgNr
    removed_at: datetime
