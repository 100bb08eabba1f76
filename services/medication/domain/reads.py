"""Pure reads of a folded ``MedicationList``: the current list, the administration chart for a
day, what was actually taken, and the change history. The list as of a past instant is
``evolve.as_of`` (the fold of the events recorded up to then), read with these.

Days are Oslo days (``libs.kernel.time.local_day``): the chart for 29.11 runs from 00:00 to
24:00 Norwegian time, also across a daylight-saving change.
"""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from libs.kernel.time import OSLO, local_day
from libs.kernel.model import Frozen
from services.medication.contract import Author, Dose, Outcome
from services.medication.domain.state import Change, Entry, MedicationList, planned_slots


def current_list(lst: MedicationList, now: datetime) -> tuple[Entry, ...]:
    """What the patient should take now: every entry not discontinued and not past its end
    date, paused ones included (shown as paused) and ones starting later."""
    return tuple(e for e in lst.entries if e.in_force(now))


class ChartLine(Frozen):
    """A planned dose (``planned_at``) or an unplanned one (as needed, or extra), with what was
    recorded for it; ``outcome`` None means nothing is recorded yet."""

    entry_id: UUID
    drug: str
    dose: Dose
    planned_at: datetime | None = None
    outcome: Outcome | None = None
    administered_at: datetime | None = None
    amount: float | None = None
    by: Author | None = None
    note: str | None = None


class Chart(Frozen):
    day: date
    lines: tuple[ChartLine, ...]


def administration_chart(lst: MedicationList, day: date) -> Chart:
    """Planned against given / missed / refused for one Oslo day. For a planned time the latest
    record counts (a missed dose given later shows as given)."""
    entries = {e.entry_id: e for e in lst.entries}
    planned: dict[tuple[UUID, datetime], ChartLine] = {
        (e.entry_id, at): ChartLine(entry_id=e.entry_id, drug=e.drug.name, dose=dose,
                                    planned_at=at)
        for e in lst.entries for at, dose in planned_slots(e, day)}
    unplanned: list[ChartLine] = []
    for a in lst.administrations:
        e = entries[a.entry_id]
        recorded = {"outcome": a.outcome, "administered_at": a.administered_at.astimezone(OSLO),
                    "amount": a.amount, "by": a.by, "note": a.note}
        if a.scheduled_for is not None and local_day(a.scheduled_for) == day:
            key = (a.entry_id, a.scheduled_for)
            base = planned.get(key) or ChartLine(
                entry_id=e.entry_id, drug=e.drug.name, dose=e.dose_at(a.scheduled_for),
                planned_at=a.scheduled_for.astimezone(OSLO))
            planned[key] = base.model_copy(update=recorded)
        elif a.scheduled_for is None and local_day(a.administered_at) == day:
            unplanned.append(ChartLine(entry_id=e.entry_id, drug=e.drug.name,
                                       dose=e.dose_at(a.administered_at), **recorded))
    lines = sorted((*planned.values(), *unplanned),
                   key=lambda x: (x.planned_at or x.administered_at, x.drug))
    return Chart(day=day, lines=tuple(lines))


class Taken(Frozen):
    """What actually happened to an entry, apart from what was prescribed (requirement 38)."""

    entry_id: UUID
    last_given_at: datetime | None = None
    last_dispensed_at: datetime | None = None


def actually_taken(lst: MedicationList) -> dict[UUID, Taken]:
    out = {e.entry_id: Taken(entry_id=e.entry_id) for e in lst.entries}
    for a in lst.administrations:
        t = out[a.entry_id]
        if a.outcome == "given" and (t.last_given_at is None
                                     or a.administered_at > t.last_given_at):
            out[a.entry_id] = t.model_copy(update={"last_given_at": a.administered_at})
    for d in lst.dispensings:
        t = out[d.entry_id]
        if t.last_dispensed_at is None or d.dispensed_at > t.last_dispensed_at:
            out[d.entry_id] = t.model_copy(update={"last_dispensed_at": d.dispensed_at})
    return out


def history(lst: MedicationList, entry_id: UUID | None = None) -> tuple[Change, ...]:
    """Every change of the list, oldest first, with who, when and why; one entry's when given."""
    return tuple(c for c in lst.changes if entry_id is None or c.entry_id == entry_id)
