"""Procedures and diagnostic reports in the journal, decided against and folded into
``patients.Patient`` (``Patient.procedures``, ``Patient.reports``): each kept as its source
coded it. A report names its results by the ids of the patient's observations (folded on their
own, ``clinical_state``); the caller resolves them (an import maps the report's references to
the ids it gives those observations)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Literal
from uuid import UUID, uuid4

from pydantic import Field

from libs.events.registry import EventPayload
from libs.kernel.model import Frozen
from libs.kernel.time import Instant, clinical_time
from services.journal import contract as ev
from services.journal.contract import Coded
from services.journal.domain.base import Clinician, Command, require_alive, signature
from services.journal.domain.contacts import clinical_period

if TYPE_CHECKING:
    from services.journal.domain.patients import Patient


class Procedure(Frozen):
    procedure_id: UUID
    status: Literal["completed", "in-progress", "not-done"]
    code: tuple[Coded, ...]
    text: str | None = None
    performed_at: datetime
    performed_end: datetime | None = None
    reason: tuple[Coded, ...] = ()
    by: str
    unit: str
    recorded_at: datetime


class Report(Frozen):
    report_id: UUID
    status: Literal["final", "amended", "corrected"]
    category: tuple[Coded, ...] = ()
    code: tuple[Coded, ...]
    text: str | None = None
    effective_at: datetime
    results: tuple[UUID, ...] = ()
    conclusion: str | None = None
    by: str
    unit: str
    recorded_at: datetime


class RecordProcedure(Command):
    status: Literal["completed", "in-progress", "not-done"] = "completed"
    code: tuple[Coded, ...] = Field(min_length=1, max_length=10)
    text: str | None = Field(default=None, max_length=500)
    performed_at: Instant
    performed_end: Instant | None = None
    reason: tuple[Coded, ...] = Field(default=(), max_length=10)
    procedure_id: UUID | None = None


class RecordReport(Command):
    status: Literal["final", "amended", "corrected"] = "final"
    category: tuple[Coded, ...] = Field(default=(), max_length=10)
    code: tuple[Coded, ...] = Field(min_length=1, max_length=10)
    text: str | None = Field(default=None, max_length=500)
    effective_at: Instant
    results: tuple[UUID, ...] = Field(default=(), max_length=200)
    conclusion: str | None = Field(default=None, max_length=2000)
    report_id: UUID | None = None


def record_procedure(p: Patient, c: RecordProcedure, by: Clinician,
                     now: datetime) -> list[EventPayload]:
    require_alive(p)
    start, end = clinical_period(p, ("performed_at", c.performed_at),
                                 ("performed_end", c.performed_end), now)
    return [ev.ProcedureRecorded(
        procedure_id=c.procedure_id or uuid4(), status=c.status, code=c.code, text=c.text,
        performed_at=start, performed_end=end, reason=c.reason, recorded_at=now,
        **signature(by))]


def record_report(p: Patient, c: RecordReport, by: Clinician,
                  now: datetime) -> list[EventPayload]:
    require_alive(p)
    at = clinical_time("effective_at", c.effective_at, now, p.birth_date)
    return [ev.DiagnosticReportRecorded(
        report_id=c.report_id or uuid4(), status=c.status, category=c.category, code=c.code,
        text=c.text, effective_at=at, results=tuple(dict.fromkeys(c.results)),
        conclusion=c.conclusion, recorded_at=now, **signature(by))]


def evolve(p: Patient, e: EventPayload) -> Patient:
    """The procedures and reports arm of ``patients.evolve``."""
    if isinstance(e, ev.ProcedureRecorded):
        return p.model_copy(update={"procedures": (*p.procedures, Procedure(**e.model_dump()))})
    if isinstance(e, ev.DiagnosticReportRecorded):
        return p.model_copy(update={"reports": (*p.reports, Report(**e.model_dump()))})
    return p
