"""``evolve`` and ``fold`` for a ``medication-<patient_id>`` stream, and the list as of a past
instant (``as_of``: the fold of the events recorded up to then). Every event counts towards
``MedicationList.version``; each change of the list also becomes a line of its history (who,
when, what and why). Administrations and dispensings are what happened, not changes of the list:
they have their own reads.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from itertools import takewhile
from uuid import UUID

from libs.events.registry import EventPayload
from services.medication import contract as ev
from services.medication.domain.dosing import describe
from services.medication.domain.state import (
    Administration, Change, Dispensing, DoseFrom, Entry, EntryStatus, Fetch, ImportedStatement,
    MedicationList, MedicationReview, Period, Prescription, Reconciliation, midnight,
)


def _start_at(start_on: date, recorded_at: datetime) -> datetime:
    return max(recorded_at, midnight(start_on))


def _new_entry(e: ev.MedicationPrescribed | ev.MedicationRecordedFromOtherSource) -> Entry:
    start = _start_at(e.start_on, e.recorded_at)
    chain = () if e.prescription_id is None else (Prescription(
        prescription_id=e.prescription_id, issued_at=e.recorded_at, issued_by=e.by),)
    other = isinstance(e, ev.MedicationRecordedFromOtherSource)
    return Entry(entry_id=e.entry_id, treatment_id=e.treatment_id, drug=e.drug,
                 source=e.source if other else "prescribed",
                 source_detail=e.source_detail if other else None, indication=e.indication,
                 start_on=e.start_on, end_on=e.end_on, status_since=start, prescriptions=chain,
                 doses=(DoseFrom(at=start, dose=e.dose),),
                 periods=(Period(at=start, status="active"),))


def _status(x: Entry, status: EntryStatus, at: datetime, reason: str | None) -> Entry:
    at = max(at, x.periods[0].at)
    return x.model_copy(update={"status": status, "status_reason": reason, "status_since": at,
                                "periods": (*x.periods, Period(at=at, status=status))})


def _with_entry(lst: MedicationList, entry_id: UUID, update) -> tuple[Entry, ...]:
    return tuple(update(x) if x.entry_id == entry_id else x for x in lst.entries)


def _entry_event(lst: MedicationList, e: EventPayload) -> MedicationList:
    u = lst.model_copy
    match e:
        case ev.MedicationPrescribed() | ev.MedicationRecordedFromOtherSource():
            return u(update={"entries": (*lst.entries, _new_entry(e))})
        case ev.PrescriptionRenewed():
            p = Prescription(prescription_id=e.prescription_id,
                             previous=e.previous_prescription_id, issued_at=e.recorded_at,
                             issued_by=e.by)
            return u(update={"entries": _with_entry(lst, e.entry_id, lambda x: x.model_copy(
                update={"prescriptions": (*x.prescriptions, p)}))})
        case ev.DoseChanged():
            def changed(x: Entry) -> Entry:
                chain = x.prescriptions
                if e.prescription_id is not None:
                    chain = (*chain, Prescription(
                        prescription_id=e.prescription_id, previous=e.previous_prescription_id,
                        issued_at=e.recorded_at, issued_by=e.by))
                step = DoseFrom(at=max(e.recorded_at, x.periods[0].at), dose=e.dose)
                return x.model_copy(update={"doses": (*x.doses, step), "prescriptions": chain})
            return u(update={"entries": _with_entry(lst, e.entry_id, changed)})
        case ev.PrescriptionRecalled():
            def recalled(x: Entry) -> Entry:
                return x.model_copy(update={"prescriptions": tuple(
                    p.model_copy(update={"recalled": e.reason, "recalled_at": e.recorded_at})
                    if p.prescription_id == e.prescription_id else p for p in x.prescriptions)})
            return u(update={"entries": _with_entry(lst, e.entry_id, recalled)})
        case ev.MedicationPaused():
            return u(update={"entries": _with_entry(
                lst, e.entry_id, lambda x: _status(x, "paused", e.recorded_at, e.reason))})
        case ev.MedicationResumed():
            return u(update={"entries": _with_entry(
                lst, e.entry_id, lambda x: _status(x, "active", e.recorded_at, None))})
        case ev.MedicationDiscontinued():
            return u(update={"entries": _with_entry(
                lst, e.entry_id, lambda x: _status(x, "discontinued", e.recorded_at, e.reason))})
        case ev.MedicationDispensed():
            d = Dispensing(entry_id=e.entry_id, prescription_id=e.prescription_id,
                           dispensed_at=e.dispensed_at, pharmacy=e.pharmacy, package=e.package,
                           quantity=e.quantity, by=e.by)
            return u(update={"dispensings": (*lst.dispensings, d)})
        case ev.MedicationAdministered():
            a = Administration(**e.model_dump(exclude={"by"}), by=e.by)
            return u(update={"administrations": (*lst.administrations, a)})
        case ev.MedicationReconciled():
            r = Reconciliation(reconciliation_id=e.reconciliation_id, version=e.version,
                               lines=e.lines, note=e.note, by=e.by, at=e.recorded_at)
            return u(update={"reconciliations": (*lst.reconciliations, r)})
        case ev.MedicationListFetched():
            if lst.fetched is not None and lst.fetched.fetched_at >= e.fetched_at:
                return lst   # an older snapshot recorded late does not replace a newer one
            return u(update={"fetched": Fetch(fetched_at=e.fetched_at, sources=e.sources,
                                              prescriptions=e.prescriptions, by=e.by)})
        case ev.MedicationReviewed():
            r = MedicationReview(review_id=e.review_id, reconciliation_id=e.reconciliation_id,
                                 reconciliation_version=e.reconciliation_version,
                                 summary=e.summary, next_review_on=e.next_review_on, by=e.by,
                                 at=e.recorded_at)
            return u(update={"reviews": (*lst.reviews, r)})
        case ev.MedicationStatementImported():
            i = ImportedStatement(**e.model_dump(exclude={"by", "codings"}), by=e.by,
                                  codings=e.codings)
            return u(update={"imported": (*lst.imported, i)})
    return lst


def _change(lst: MedicationList, e: EventPayload) -> Change | None:
    """The history line for a change of the list (administrations and dispensings are what
    happened, not changes of the list, and have their own reads)."""
    entry_id = getattr(e, "entry_id", None)
    found = lst.entry(entry_id) if entry_id is not None else None
    line = {"at": getattr(e, "recorded_at", None), "by": getattr(e, "by", None),
            "entry_id": entry_id, "drug": found.drug.name if found else None}
    match e:
        case ev.MedicationPrescribed():
            return Change(**line, action="prescribed", reason=e.indication,
                          detail=describe(e.dose))
        case ev.MedicationRecordedFromOtherSource():
            return Change(**line, action="recorded", reason=e.indication,
                          detail=" – ".join(filter(None, (e.source, e.source_detail))))
        case ev.MedicationStatementImported():
            return Change(**(line | {"drug": e.name}), action="imported",
                          detail=f"{e.status}, fra et annet system: {e.source_type} "
                                 f"{e.source_system}|{e.source_id}; ikke kontrollert mot FEST")
        case ev.PrescriptionRenewed():
            return Change(**line, action="renewed")
        case ev.DoseChanged():
            return Change(**line, action="dose_changed", reason=e.reason, detail=describe(e.dose))
        case ev.PrescriptionRecalled():
            return Change(**line, action="recalled", reason=e.reason,
                          detail=str(e.prescription_id))
        case ev.MedicationPaused():
            return Change(**line, action="paused", reason=e.reason)
        case ev.MedicationResumed():
            return Change(**line, action="resumed", reason=e.note)
        case ev.MedicationDiscontinued():
            return Change(**line, action="discontinued", reason=e.reason)
        case ev.WarningsRecorded():
            return Change(**line, action="warnings", reason=e.override_reason,
                          detail=" ".join(w.message for w in e.warnings))
        case ev.MedicationReconciled():
            return Change(**line, action="reconciled", reason=e.note,
                          detail=f"versjon {e.version}, {len(e.lines)} legemidler")
        case ev.MedicationReviewed():
            return Change(**line, action="reviewed", detail=e.summary)
        case ev.MedicationListFetched():
            return Change(**line, action="fetched",
                          detail=f"{' + '.join(s.upper() for s in e.sources)}: "
                                 f"{len(e.prescriptions)} resepter, hentet "
                                 f"{e.fetched_at.isoformat()}")
    return None


def evolve(lst: MedicationList, e: EventPayload) -> MedicationList:
    """One more event of the stream: every event counts towards ``version``; events of other
    kinds leave the rest as it is."""
    after = _entry_event(lst, e)
    change = _change(after, e)
    update: dict = {"version": lst.version + 1}
    if change is not None:
        update["changes"] = (*after.changes, change)
    return after.model_copy(update=update)


def fold(patient_id: UUID, events: Iterable[EventPayload]) -> MedicationList:
    lst = MedicationList.empty(patient_id)
    for e in events:
        lst = evolve(lst, e)
    return lst


def as_of(patient_id: UUID, events: Iterable[EventPayload], instant: datetime) -> MedicationList:
    """The list as it stood at ``instant``: the fold of the stream's events recorded up to then
    (the stream's prefix, so a later event never slips in before one it depends on)."""
    return fold(patient_id, takewhile(lambda e: getattr(e, "recorded_at", instant) <= instant,
                                      events))
