"""What actually happened, apart from what was prescribed (DOMAIN.md §2.4, §11 requirement 38):
a pharmacy's dispensing (M10 -> M6) and a dose given, missed or refused by a nurse, a prescriber
or a medicine dispenser (a dispenser's report is idempotent by its device event id).

Rules: a paused or discontinued medication is not given (a conflict), nor one before it starts
or after its end date; a planned dose recorded as given takes no further record (a conflict; a
missed or refused one may be followed by a later "given"); an as-needed medication has no
planned times, is given or refused (not missed) and not beyond its maximum per Oslo day (a
conflict). A planned dose names its planned time (``scheduled_for``), which must be on the plan
that day (else invalid); a regular medication given without one is an extra dose. Dispensing is
recorded on any prescription of the entry, also a recalled one: it reports what happened, and
refusing it would hide a real dispensing.
"""

from __future__ import annotations

import math
from datetime import datetime
from uuid import UUID, uuid4

from pydantic import Field

from libs.kernel.time import OSLO, Instant, clinical_time, local_day
from libs.events.registry import EventPayload
from libs.kernel.errors import Conflict, Forbidden, Invalid, NotFound
from services.medication.domain import Actor, Command, Dispenser, Pharmacy
from services.medication import contract as ev
from services.medication.domain.checks import author, find_entry, orgnr, text_or_none
from services.medication.contract import Outcome
from services.medication.domain.state import Entry, MedicationList, clock, planned_slots

Text = Field(default=None, max_length=2000)


# --- commands ----------------------------------------------------------------------------------

class RecordDispensing(Command):
    entry_id: UUID
    prescription_id: UUID | None = Field(default=None, description="default: the newest")
    dispensed_at: Instant | None = None
    pharmacy: str | None = Field(default=None, max_length=20, description="organisation number")
    package: str | None = Field(default=None, max_length=50)
    quantity: float | None = None


class RecordAdministration(Command):
    entry_id: UUID
    outcome: Outcome
    scheduled_for: Instant | None = Field(default=None, description="the planned time")
    administered_at: Instant | None = Field(default=None, description="default now")
    amount: float | None = Field(default=None, description="default the planned amount")
    note: str | None = Text
    device_event_id: str | None = Field(default=None, max_length=100)


# --- decisions ---------------------------------------------------------------------------------

def record_dispensing(lst: MedicationList, c: RecordDispensing, by: Actor,
                      now: datetime) -> list[EventPayload]:
    """A pharmacy's dispensing report. Recorded on any prescription of the entry, also a
    recalled one: it reports what happened, and hiding it would hide a real dispensing."""
    if isinstance(by, Dispenser):
        raise Forbidden("A medicine dispenser records administration, not dispensing.")
    who = author(by)
    e = find_entry(lst, c.entry_id)
    if not e.prescriptions:
        raise Conflict(f"{e.drug.name} has no prescription to dispense on.")
    wanted = c.prescription_id or e.prescriptions[-1].prescription_id
    if not any(p.prescription_id == wanted for p in e.prescriptions):
        raise NotFound(f"No such prescription for {e.drug.name}.")
    at = clinical_time("dispensed_at", c.dispensed_at, now) if c.dispensed_at else now
    if c.quantity is not None and not (math.isfinite(c.quantity) and c.quantity > 0):
        raise Invalid("quantity: a dispensed quantity is more than zero.")
    pharmacy = who.id if who.kind == "pharmacy" else (
        orgnr(c.pharmacy, "pharmacy") if c.pharmacy else None)
    return [ev.MedicationDispensed(entry_id=e.entry_id, prescription_id=wanted, dispensed_at=at,
                                   pharmacy=pharmacy, package=text_or_none(c.package),
                                   quantity=c.quantity, by=who, recorded_at=now)]


def _not_given_because(e: Entry, at: datetime, now: datetime) -> str:
    status = e.status_at(at)
    if status is None and at < e.periods[0].at:
        return f"{e.drug.name} had not started at {clock(at)}."
    if status is None:
        return f"{e.drug.name} ended on {e.end_on}: it is not given after that."
    if status == "paused":
        return (f"{e.drug.name} is paused: a paused medication is not given."
                if e.status == "paused" and e.status_at(now) == "paused" else
                f"{e.drug.name} was paused at {clock(at)}: a paused medication is not given.")
    return (f"{e.drug.name} was discontinued on {local_day(e.status_since)}: a discontinued "
            "medication is not given.")


def record_administration(lst: MedicationList, c: RecordAdministration, by: Actor,
                          now: datetime) -> list[EventPayload]:
    """A dose given, missed or refused, by a nurse, a prescriber or a medicine dispenser. A
    report repeating a known ``device_event_id`` from the same actor returns no event."""
    if isinstance(by, Pharmacy):
        raise Forbidden("A pharmacy records dispensing, not administration.")
    who = author(by)
    device_event = text_or_none(c.device_event_id)
    if isinstance(by, Dispenser) and device_event is None:
        raise Invalid("A dispenser's report needs its device_event_id.")
    if device_event and any(a.device_event_id == device_event and a.by.id == who.id
                            for a in lst.administrations):
        return []
    e = find_entry(lst, c.entry_id)
    given_at = (clinical_time("administered_at", c.administered_at, now)
                if c.administered_at else now)
    at = c.scheduled_for or given_at
    if e.status_at(at) != "active":
        raise Conflict(_not_given_because(e, at, now))
    dose = e.dose_at(at)
    if dose.as_needed:
        if c.scheduled_for is not None:
            raise Invalid(f"{e.drug.name} is taken as needed: it has no planned times.")
        if c.outcome == "missed":
            raise Invalid(f"{e.drug.name} is taken as needed: a dose is given or refused, "
                          "not missed.")
    elif c.scheduled_for is not None:
        if c.outcome == "missed" and c.scheduled_for > now:
            raise Invalid("A dose is not missed before its planned time.")
        slots = planned_slots(e, local_day(c.scheduled_for))
        if not any(s == c.scheduled_for for s, _ in slots):
            planned = ", ".join(s.strftime("%H:%M") for s, _ in slots) or "none"
            raise Invalid(f"{c.scheduled_for.astimezone(OSLO).strftime('%H:%M')} is not a "
                          f"planned time for {e.drug.name} that day (planned: {planned}).")
        if any(a.entry_id == e.entry_id and a.scheduled_for == c.scheduled_for
               and a.outcome == "given" for a in lst.administrations):
            raise Conflict(f"The {clock(c.scheduled_for)} dose of {e.drug.name} is already "
                           "recorded as given.")
    elif c.outcome != "given":
        raise Invalid(f"Name the planned time (scheduled_for) of the {e.drug.name} dose that "
                      f"was {c.outcome}.")
    amount = None
    if c.outcome == "given":
        amount = dose.amount if c.amount is None else c.amount
        if not (math.isfinite(amount) and amount > 0):
            raise Invalid("amount: a dose given is more than zero.")
        if dose.as_needed:
            day = local_day(given_at)
            today = sum(a.amount or 0 for a in lst.administrations
                        if a.entry_id == e.entry_id and a.outcome == "given"
                        and local_day(a.administered_at) == day)
            if today + amount > (dose.max_per_day or amount) * (1 + 1e-9):
                raise Conflict(
                    f"Giving {amount:g} {dose.unit} of {e.drug.name} would exceed its maximum "
                    f"of {dose.max_per_day:g} {dose.unit} per day ({today:g} {dose.unit} "
                    "given that day).")
    elif c.amount is not None:
        raise Invalid(f"A {c.outcome} dose has no amount given.")
    return [ev.MedicationAdministered(
        administration_id=uuid4(), entry_id=e.entry_id, outcome=c.outcome,
        scheduled_for=c.scheduled_for, administered_at=given_at, amount=amount,
        note=text_or_none(c.note), device_event_id=device_event, by=who, recorded_at=now)]
