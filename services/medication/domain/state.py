"""The state of a ``medication-<patient_id>`` stream: the list's entries with their
prescription chains, dose and status timelines, what was dispensed and given, the reconciled
lists and reviews, and the change history. ``evolve.py`` builds it; decisions read it.

Time: an entry is planned from ``max(recorded_at, start_on 00:00 Oslo)`` to the end of its
``end_on`` day; pauses, resumptions, discontinuation and dose changes take effect at their
``recorded_at``. ``Entry.status_at`` and ``Entry.dose_at`` answer for any instant, so a dose given
before a pause can still be recorded after it, and the chart of a past day shows what was planned
then. ``MedicationList.version`` is the number of events folded: the stream's version, the API's
``ETag``.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Literal
from uuid import UUID

from pydantic import Field

from libs.kernel.time import OSLO, local_day
from libs.kernel.model import Frozen
from services.medication.domain.dosing import planned_times
from services.medication.contract import (
    Author, Dose, Drug, ImportedCoding, NationalPrescription, OtherSource, Outcome, RecallReason,
    ReconciledLine,
)

EntryStatus = Literal["active", "paused", "discontinued"]


class Prescription(Frozen):
    """One prescription (ReseptID) in an entry's chain; ``previous`` is the one it replaced."""

    prescription_id: UUID
    previous: UUID | None = None
    issued_at: datetime
    issued_by: Author
    recalled: RecallReason | None = None
    recalled_at: datetime | None = None


class Period(Frozen):
    """From ``at`` the entry is ``status``."""

    at: datetime
    status: EntryStatus


class DoseFrom(Frozen):
    at: datetime
    dose: Dose


class Entry(Frozen):
    entry_id: UUID
    treatment_id: UUID
    drug: Drug
    source: Literal["prescribed"] | OtherSource
    source_detail: str | None = None
    indication: str | None = None
    start_on: date
    end_on: date | None = None
    status: EntryStatus = "active"
    status_reason: str | None = Field(default=None, description="why paused or discontinued")
    status_since: datetime
    prescriptions: tuple[Prescription, ...] = ()
    doses: tuple[DoseFrom, ...]
    periods: tuple[Period, ...]

    @property
    def dose(self) -> Dose:
        return self.doses[-1].dose

    @property
    def prescription(self) -> Prescription | None:
        """The head of the chain: the newest prescription."""
        return self.prescriptions[-1] if self.prescriptions else None

    @property
    def ends_at(self) -> datetime | None:
        return midnight(self.end_on + timedelta(days=1)) if self.end_on else None

    def status_at(self, at: datetime) -> EntryStatus | None:
        """The status at an instant; None before it starts or after its ``end_on`` day."""
        if at < self.periods[0].at or (self.ends_at is not None and at >= self.ends_at):
            return None
        return [p for p in self.periods if p.at <= at][-1].status

    def dose_at(self, at: datetime) -> Dose:
        return ([d for d in self.doses if d.at <= at] or [self.doses[0]])[-1].dose

    def in_force(self, now: datetime) -> bool:
        """On the list now: not discontinued and not past its end date (may start later)."""
        return self.status != "discontinued" and (self.end_on is None
                                                  or self.end_on >= local_day(now))


class Administration(Frozen):
    administration_id: UUID
    entry_id: UUID
    outcome: Outcome
    scheduled_for: datetime | None = None
    administered_at: datetime
    amount: float | None = None
    note: str | None = None
    device_event_id: str | None = None
    by: Author
    recorded_at: datetime


class Dispensing(Frozen):
    entry_id: UUID
    prescription_id: UUID
    dispensed_at: datetime
    pharmacy: str | None = None
    package: str | None = None
    quantity: float | None = None
    by: Author


class Reconciliation(Frozen):
    reconciliation_id: UUID
    version: int
    lines: tuple[ReconciledLine, ...]
    note: str | None = None
    by: Author
    at: datetime


class MedicationReview(Frozen):
    review_id: UUID
    reconciliation_id: UUID
    reconciliation_version: int
    summary: str
    next_review_on: date | None = None
    by: Author
    at: datetime


class Fetch(Frozen):
    """The newest fetch from the prescription intermediary (RF) and the summary care record."""

    fetched_at: datetime
    sources: tuple[str, ...]
    prescriptions: tuple[NationalPrescription, ...] = ()
    by: Author


class ImportedStatement(Frozen):
    """A medication from another system's record (``MedicationStatementImported``): kept apart
    from the entries, as the source coded it; not in decision support, the chart or the List
    until a reconciliation takes it over."""

    statement_id: UUID
    source_system: str
    source_id: str
    source_type: str
    status: Literal["active", "stopped", "completed"]
    codings: tuple[ImportedCoding, ...]
    name: str
    atc: str | None = None
    asserted_at: datetime | None = None
    start_on: date | None = None
    end_on: date | None = None
    dosage_text: str | None = None
    as_needed: bool | None = None
    by: Author
    recorded_at: datetime


ChangeAction = Literal["prescribed", "recorded", "imported", "renewed", "dose_changed",
                       "recalled", "paused", "resumed", "discontinued", "warnings", "reconciled",
                       "reviewed", "fetched"]


class Change(Frozen):
    """One line of the list's change history: who, when, what and why."""

    at: datetime
    by: Author
    action: ChangeAction
    entry_id: UUID | None = None
    drug: str | None = None
    reason: str | None = None
    detail: str | None = None


class MedicationList(Frozen):
    """The state of a ``medication-<patient_id>`` stream. ``version`` counts the events folded."""

    patient_id: UUID
    version: int = 0
    entries: tuple[Entry, ...] = ()
    administrations: tuple[Administration, ...] = ()
    dispensings: tuple[Dispensing, ...] = ()
    reconciliations: tuple[Reconciliation, ...] = ()
    reviews: tuple[MedicationReview, ...] = ()
    changes: tuple[Change, ...] = ()
    fetched: Fetch | None = None
    imported: tuple[ImportedStatement, ...] = ()

    @classmethod
    def empty(cls, patient_id: UUID) -> MedicationList:
        return cls(patient_id=patient_id)

    def entry(self, entry_id: UUID) -> Entry | None:
        return next((e for e in self.entries if e.entry_id == entry_id), None)

    def imported_statement(self, statement_id: UUID) -> ImportedStatement | None:
        return next((s for s in self.imported if s.statement_id == statement_id), None)

    def active_entries(self, now: datetime) -> tuple[Entry, ...]:
        """What decision support checks against: active (also not yet started), not ended."""
        return tuple(e for e in self.entries if e.status == "active" and e.in_force(now))


# --- time --------------------------------------------------------------------------------------

def midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=OSLO)


def clock(at: datetime) -> str:
    return at.astimezone(OSLO).strftime("%H:%M on %d.%m.%Y")

def planned_slots(e: Entry, day: date) -> tuple[tuple[datetime, Dose], ...]:
    """The planned doses of an entry on an Oslo day: (time, dose) where it was active then and
    the dose in force then plans that time."""
    times = sorted({t for d in e.doses for t in planned_times(d.dose)})
    out = []
    for t in times:
        at = datetime.combine(day, t, tzinfo=OSLO)
        dose = e.dose_at(at)
        if e.status_at(at) == "active" and t in planned_times(dose):
            out.append((at, dose))
    return tuple(out)
