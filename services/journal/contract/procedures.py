"""The ``journal.events`` contract for procedures and diagnostic reports, as coded by their
source (SNOMED CT, NCMP/NCSP, LOINC, ...): ``ProcedureRecorded`` (a procedure done, or not done)
and ``DiagnosticReportRecorded`` (a report and the observations it reports, by their ids in the
journal: its results are the patient's ``ObservationRecorded`` / ``ObservationResultRecorded``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import Field

from libs.events.registry import EventPayload, event
from services.journal.contract.observations import Coded
from services.journal.contract.values import Hpr, OrgNr

Codes = Field(min_length=1, max_length=10)


@event("journal.ProcedureRecorded")
class ProcedureRecorded(EventPayload):
    procedure_id: UUID
    status: Literal["completed", "in-progress", "not-done"]
    code: tuple[Coded, ...] = Codes
    text: str | None = Field(default=None, max_length=500)
    performed_at: datetime
    performed_end: datetime | None = None
    reason: tuple[Coded, ...] = Field(default=(), max_length=10)
    by: str = Hpr
    unit: str = OrgNr
    recorded_at: datetime


@event("journal.DiagnosticReportRecorded")
class DiagnosticReportRecorded(EventPayload):
    report_id: UUID
    status: Literal["final", "amended", "corrected"]
    category: tuple[Coded, ...] = Field(default=(), max_length=10)
    code: tuple[Coded, ...] = Codes
    text: str | None = Field(default=None, max_length=500)
    effective_at: datetime
    results: tuple[UUID, ...] = Field(default=(), max_length=200,
                                      description="the observations it reports")
    conclusion: str | None = Field(default=None, max_length=2000)
    by: str = Hpr
    unit: str = OrgNr
    recorded_at: datetime
