"""The patient's medication list (PLL): the decisions that change it (DOMAIN.md §2, §11
requirements 30-33, 36). What actually happened is decided in ``administration.py``,
reconciliation and review in ``reconciliation.py``; the state is ``state.py``, its fold
``evolve.py``.

Every decision is ``decide(lst, command, by, now, ...) -> events`` and raises a kind of
``libs.kernel.errors``:
- ``Forbidden``: only a ``Prescriber`` changes the list (prescribe, record from another source,
  renew, change dose, pause, resume, discontinue) and reviews it; administration is recorded by a
  ``Nurse``, a ``Prescriber`` or a ``Dispenser``; dispensing by a ``Pharmacy`` or health
  personnel; reconciliation by a ``Prescriber`` or ``Nurse``.
- ``NotFound``: an unknown entry, prescription or reconciliation version.
- ``Conflict``: a transition the entry's state does not allow. An entry is active, paused or
  discontinued; active -> paused -> active (resume); active | paused -> discontinued, which is
  final (it is not resumed, renewed, paused, re-dosed or given: prescribe it again). Renewal
  needs a prescription (an over-the-counter entry has none). A dose may be changed while paused:
  it applies from resumption (e.g. warfarin restarted lower after surgery). What may be given
  when is in ``administration.py``.
- ``Invalid``: invalid input (no reason to discontinue or pause, a zero dose, an unknown or
  expired product, a time that is not on the plan, going ahead against an "avoid" warning without a
  reason).

Orders and changes run decision support (``decision_support.check``) against the active entries
and the CAVE list passed in, and return its warnings as a ``WarningsRecorded`` event after the
change (``warnings_of`` picks them out for the response). A record from another source gets its
warnings recorded too but needs no override reason: it records a fact, it does not order.

Concurrency: the domain does not take an expected version. ``MedicationList.version`` is the
number of events folded (= the stream version, the API's ``ETag``); the API passes the client's
``If-Match`` to the event store as the expected version, so a stale change is
``PreconditionFailed`` from the store
(STYLE.md habit 5: never a read followed by a check in Python).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal
from datetime import datetime, timedelta
from uuid import UUID, uuid4

from pydantic import Field

from libs.kernel.time import Day, Instant, clinical_time, local_day
from libs.events.registry import EventPayload
from libs.kernel.errors import Conflict, Forbidden, Invalid
from services.medication.domain import Actor, Command, Nurse, Prescriber
from services.medication import contract as ev
from services.medication.domain.checks import (
    author, catalogue_drug, described_drug, find_entry, require_fresh, require_not_discontinued,
    require_prescriber, required_reason, text_or_none, treatment_period,
)
from services.medication.domain.decision_support import (
    Catalogue, CaveEntry, check, require_override,
)
from services.medication.domain.dosing import DoseIn, to_dose
from services.medication.contract import (
    Author, CheckedAction, Dose, Drug, MedicationWarning, NationalPrescription, OtherSource,
    RecallReason,
)
from services.medication.domain.state import Entry, MedicationList, clock

Text = Field(default=None, max_length=2000)


# --- commands ----------------------------------------------------------------------------------

class Prescribe(Command):
    product_id: str = Field(max_length=100, description="the catalogue's (FEST) product id")
    dose: DoseIn
    indication: str | None = Text
    start_on: Day | None = Field(default=None, description="default today (Oslo)")
    end_on: Day | None = None
    override_reason: str | None = Text


class RecordFromOtherSource(Command):
    """A catalogue product by ``product_id``, or something outside it by ``name`` (with its
    ATC code and substances when known)."""

    source: OtherSource
    source_detail: str | None = Text
    product_id: str | None = Field(default=None, max_length=100)
    name: str | None = Field(default=None, max_length=300)
    atc: str | None = Field(default=None, max_length=10)
    substances: list[str] = Field(default=[], max_length=20)
    prescription_id: UUID | None = Field(default=None, description="the other prescriber's")
    dose: DoseIn
    indication: str | None = Text
    start_on: Day | None = None
    end_on: Day | None = None


class Renew(Command):
    entry_id: UUID
    override_reason: str | None = Text


class ChangeDose(Command):
    entry_id: UUID
    dose: DoseIn
    reason: str | None = Text
    override_reason: str | None = Text


class Pause(Command):
    entry_id: UUID
    reason: str | None = Text


class Resume(Command):
    entry_id: UUID
    note: str | None = Text
    override_reason: str | None = Text


class Discontinue(Command):
    entry_id: UUID
    reason: str | None = Text


class RecordFetch(Command):
    """What a fetch from the prescription intermediary (and the summary care record) showed,
    as the EHR's SFM integration reports it."""

    fetched_at: Instant | None = Field(default=None, description="default now")
    sources: list[Literal["rf", "kj"]] = Field(default=["rf"], min_length=1, max_length=2)
    prescriptions: list[NationalPrescription] = Field(default=[], max_length=500)


# --- decision support --------------------------------------------------------------------------

def _checked(lst: MedicationList, entry_id: UUID, drug: Drug, dose: Dose, action: CheckedAction,
             who: Author, now: datetime, catalogue: Catalogue, cave: Iterable[CaveEntry],
             override_reason: str | None, *, must_override: bool = True) -> list[EventPayload]:
    others = [e for e in lst.active_entries(now) if e.entry_id != entry_id]
    warnings = check(drug, dose, others, catalogue=catalogue, cave=cave)
    reason = require_override(warnings, override_reason) if must_override else None
    if not warnings:
        return []
    return [ev.WarningsRecorded(entry_id=entry_id, action=action, warnings=warnings,
                                override_reason=reason, by=who, recorded_at=now)]


def warnings_of(events: Sequence[EventPayload]) -> tuple[MedicationWarning, ...]:
    """The decision-support warnings among a decision's events (for the API's response)."""
    return tuple(w for e in events if isinstance(e, ev.WarningsRecorded) for w in e.warnings)


# --- decisions ---------------------------------------------------------------------------------

def prescribe(lst: MedicationList, c: Prescribe, by: Actor, now: datetime, *,
              catalogue: Catalogue, cave: Iterable[CaveEntry] = (),
              fresh_within: timedelta | None = None) -> list[EventPayload]:
    who = require_prescriber(by)
    require_fresh(lst, now, fresh_within)
    drug = catalogue_drug(catalogue, c.product_id)
    dose = to_dose(c.dose)
    start, end = treatment_period(c.start_on, c.end_on, now, past_start=False)
    entry_id = uuid4()
    warned = _checked(lst, entry_id, drug, dose, "prescribe", who, now, catalogue, cave,
                      c.override_reason)
    return [ev.MedicationPrescribed(
        entry_id=entry_id, treatment_id=uuid4(), prescription_id=uuid4(), drug=drug, dose=dose,
        indication=text_or_none(c.indication), start_on=start, end_on=end, by=who, recorded_at=now),
        *warned]


def record_from_other_source(lst: MedicationList, c: RecordFromOtherSource, by: Actor,
                             now: datetime, *, catalogue: Catalogue,
                             cave: Iterable[CaveEntry] = ()) -> list[EventPayload]:
    who = require_prescriber(by)
    if c.product_id:
        drug = catalogue_drug(catalogue, c.product_id, allow_expired=True)
    elif name := text_or_none(c.name):
        drug = described_drug(name=name, atc=text_or_none(c.atc and c.atc.upper()),
                              substances=tuple(s.strip() for s in c.substances if s.strip()))
    else:
        raise Invalid("Name the medicine: a product_id from the catalogue or a name.")
    dose = to_dose(c.dose)
    start, end = treatment_period(c.start_on, c.end_on, now, past_start=True)
    entry_id = uuid4()
    warned = _checked(lst, entry_id, drug, dose, "record", who, now, catalogue, cave, None,
                      must_override=False)
    return [ev.MedicationRecordedFromOtherSource(
        entry_id=entry_id, treatment_id=uuid4(), prescription_id=c.prescription_id, drug=drug,
        dose=dose, source=c.source, source_detail=text_or_none(c.source_detail),
        indication=text_or_none(c.indication), start_on=start, end_on=end, by=who, recorded_at=now),
        *warned]


def renew(lst: MedicationList, c: Renew, by: Actor, now: datetime, *, catalogue: Catalogue,
          cave: Iterable[CaveEntry] = (),
          fresh_within: timedelta | None = None) -> list[EventPayload]:
    who = require_prescriber(by)
    require_fresh(lst, now, fresh_within)
    e = find_entry(lst, c.entry_id)
    require_not_discontinued(e, "renewed")
    if (head := e.prescription) is None:
        raise Conflict(f"{e.drug.name} has no prescription to renew (it was recorded from "
                       "another source): prescribe it instead.")
    if e.drug.product_id is None:
        raise Invalid(f"{e.drug.name} is not a product in the drug catalogue: prescribe a "
                      "catalogue product instead.")
    catalogue_drug(catalogue, e.drug.product_id)
    warned = _checked(lst, e.entry_id, e.drug, e.dose, "renew", who, now, catalogue, cave,
                      c.override_reason)
    renewed = ev.PrescriptionRenewed(entry_id=e.entry_id, treatment_id=e.treatment_id,
                                     prescription_id=uuid4(),
                                     previous_prescription_id=head.prescription_id, by=who,
                                     recorded_at=now)
    return [renewed, *_recalls(e, "renewal", who, now), *warned]


def _recalls(e: Entry, reason: RecallReason, who: Author,
             now: datetime) -> list[EventPayload]:
    return [ev.PrescriptionRecalled(entry_id=e.entry_id, prescription_id=p.prescription_id,
                                    reason=reason, by=who, recorded_at=now)
            for p in e.prescriptions if p.recalled is None]


def change_dose(lst: MedicationList, c: ChangeDose, by: Actor, now: datetime, *,
                catalogue: Catalogue, cave: Iterable[CaveEntry] = (),
                fresh_within: timedelta | None = None) -> list[EventPayload]:
    """A new dose; on a paused entry it applies from resumption."""
    who = require_prescriber(by)
    require_fresh(lst, now, fresh_within)
    e = find_entry(lst, c.entry_id)
    require_not_discontinued(e, "given a new dose")
    dose = to_dose(c.dose)
    if dose == e.dose:
        raise Invalid(f"The new dose of {e.drug.name} is the same as the current one.")
    warned = _checked(lst, e.entry_id, e.drug, dose, "change_dose", who, now, catalogue, cave,
                      c.override_reason)
    head = e.prescription
    changed = ev.DoseChanged(
        entry_id=e.entry_id, dose=dose, prescription_id=uuid4() if head else None,
        previous_prescription_id=head.prescription_id if head else None,
        reason=text_or_none(c.reason), by=who, recorded_at=now)
    return [changed, *_recalls(e, "renewal_with_change", who, now), *warned]


def pause(lst: MedicationList, c: Pause, by: Actor, now: datetime, *,
          fresh_within: timedelta | None = None) -> list[EventPayload]:
    who = require_prescriber(by)
    require_fresh(lst, now, fresh_within)
    e = find_entry(lst, c.entry_id)
    require_not_discontinued(e, "paused")
    if e.status == "paused":
        raise Conflict(f"{e.drug.name} is already paused (since {clock(e.status_since)}).")
    reason = required_reason(c.reason, f"Pausing {e.drug.name}")
    return [ev.MedicationPaused(entry_id=e.entry_id, reason=reason, by=who, recorded_at=now)]


def resume(lst: MedicationList, c: Resume, by: Actor, now: datetime, *, catalogue: Catalogue,
           cave: Iterable[CaveEntry] = (),
           fresh_within: timedelta | None = None) -> list[EventPayload]:
    who = require_prescriber(by)
    require_fresh(lst, now, fresh_within)
    e = find_entry(lst, c.entry_id)
    require_not_discontinued(e, "resumed")
    if e.status != "paused":
        raise Conflict(f"{e.drug.name} is not paused, so there is nothing to resume.")
    warned = _checked(lst, e.entry_id, e.drug, e.dose, "resume", who, now, catalogue, cave,
                      c.override_reason)
    return [ev.MedicationResumed(entry_id=e.entry_id, note=text_or_none(c.note), by=who,
                                 recorded_at=now), *warned]


def discontinue(lst: MedicationList, c: Discontinue, by: Actor, now: datetime, *,
                fresh_within: timedelta | None = None) -> list[EventPayload]:
    """Seponering: off the list, and every prescription still active is recalled."""
    who = require_prescriber(by)
    require_fresh(lst, now, fresh_within)
    e = find_entry(lst, c.entry_id)
    if e.status == "discontinued":
        raise Conflict(f"{e.drug.name} is already discontinued (on "
                       f"{local_day(e.status_since)}).")
    reason = required_reason(c.reason, f"Discontinuing {e.drug.name}")
    return [ev.MedicationDiscontinued(entry_id=e.entry_id, reason=reason, by=who,
                                      recorded_at=now),
            *_recalls(e, "discontinuation", who, now)]


def record_fetch(lst: MedicationList, c: RecordFetch, by: Actor,
                 now: datetime) -> list[EventPayload]:
    """A fetch from the prescription intermediary, reported by health personnel's EHR (the
    fetch is made for them). A fetch time in the future is refused."""
    if not isinstance(by, Prescriber | Nurse):
        raise Forbidden("A fetch from the prescription intermediary is reported by health "
                        "personnel.")
    at = clinical_time("fetched_at", c.fetched_at, now) if c.fetched_at else now
    return [ev.MedicationListFetched(fetched_at=at, sources=tuple(dict.fromkeys(c.sources)),
                                     prescriptions=tuple(c.prescriptions), by=author(by),
                                     recorded_at=now)]
