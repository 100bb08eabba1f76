"""The ``journal.events`` contract for a condition coded otherwise than by one ICPC-2 / ICD-10
code: ``ConditionCoded`` keeps every coding the source gave (SNOMED CT, ICPC-2, ICD-10, ...).

A condition with an ICPC-2 or ICD-10 code is still ``ConditionRecorded`` (the registries
report those), with ``ConditionCodings`` after it naming every further coding given; a
SNOMED-CT-only condition (SNOMED CT is Norway's national clinical terminology, but the
registries take ICPC-2 / ICD-10) is ``ConditionCoded`` and never reaches a registry report.
Both close with ``ConditionResolved``.
"""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from pydantic import Field

from libs.events.registry import EventPayload, event
from services.journal.contract.observations import Coded
from services.journal.contract.values import Hpr, OrgNr


@event("journal.ConditionCoded")
class ConditionCoded(EventPayload):
    """A condition without an ICPC-2 or ICD-10 code: every coding as given, the first the one
    it is shown by."""

    condition_id: UUID
    codings: tuple[Coded, ...] = Field(min_length=1, max_length=10)
    display: str = Field(min_length=1, max_length=500)
    onset: date | None = None
    note: str | None = Field(default=None, max_length=2000)
    by: str = Hpr
    unit: str = OrgNr
    recorded_at: datetime


@event("journal.ConditionCodings")
class ConditionCodings(EventPayload):
    """The further codings (SNOMED CT, another ICPC-2 / ICD-10 code) a ``ConditionRecorded``
    was given with, appended with it."""

    condition_id: UUID
    codings: tuple[Coded, ...] = Field(min_length=1, max_length=10)
