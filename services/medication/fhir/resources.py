"""The resources of a medication list (the mapping is the package's doc): a statement per
entry, a request per prescription, an administration per dose recorded, and the ``List``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from uuid import UUID

from libs.kernel.time import OSLO
from libs.web.fhir.elements import coding, instant
from services.medication.contract import Dose
from services.medication.domain.state import (
    Administration, Entry, MedicationList, Prescription,
)
from services.medication.fhir.elements import (
    ISSUING, LIST_TITLE, LOINC, NOT_DONE_NO, RECALL_NO, ROUTE_NO, SOURCE_NO, STATEMENT_STATUS,
    Resource, dosage, drop_none, list_times, medication, recorded, ref, who,
)
from services.medication.fhir.imported import imported_statement

# --- MedicationStatement -----------------------------------------------------------------------

def _statement_status(e: Entry, now: datetime | None) -> str:
    if now is not None and e.status != "discontinued":
        if e.ends_at is not None and now >= e.ends_at:
            return "completed"
        if e.status == "active" and now < e.periods[0].at:
            return "intended"
    return STATEMENT_STATUS[e.status]


def _period(e: Entry) -> dict:
    end: str | None = e.end_on.isoformat() if e.end_on else None
    if e.status == "discontinued" and (e.ends_at is None or e.status_since < e.ends_at):
        end = instant(e.status_since)
    return {"start": e.start_on.isoformat()} | ({"end": end} if end else {})


def medication_statement(lst: MedicationList, e: Entry, now: datetime | None = None) -> Resource:
    status = _statement_status(e, now)
    first = recorded(lst, e)
    head = e.prescription
    source = None if e.source == "prescribed" else [{"text": "Kilde: " + " – ".join(
        filter(None, (SOURCE_NO[e.source], e.source_detail)))}]
    reason = e.status_reason if status in ("on-hold", "stopped") else None
    return drop_none({
        "resourceType": "MedicationStatement", "id": str(e.entry_id),
        "status": status,
        "statusReason": [{"text": reason}] if reason else None,
        "medicationCodeableConcept": medication(e.drug),
        "subject": ref("Patient", lst.patient_id),
        "effectivePeriod": _period(e),
        "dateAsserted": instant(first.at),
        "informationSource": who(first.by),
        "derivedFrom": [ref("MedicationRequest", head.prescription_id)] if head else None,
        "reasonCode": [{"text": e.indication}] if e.indication else None,
        "note": source,
        "dosage": [dosage(e.dose)],
    })


# --- MedicationRequest -------------------------------------------------------------------------

def _request_status(e: Entry, p: Prescription) -> str:
    if p.recalled is not None:
        return "stopped" if p.recalled == "discontinuation" else "completed"
    head = e.prescription
    if head is None or head.prescription_id != p.prescription_id:
        return "completed"  # replaced, its recall not (yet) recorded
    return STATEMENT_STATUS[e.status]


def _request_reason(e: Entry, p: Prescription) -> str | None:
    if p.recalled is not None:
        why = e.status_reason if p.recalled == "discontinuation" else None
        return ": ".join(filter(None, (RECALL_NO[p.recalled], why)))
    head = e.prescription
    if head is not None and head.prescription_id == p.prescription_id and e.status != "active":
        return e.status_reason
    return None


def _issued_dose(lst: MedicationList, e: Entry, p: Prescription) -> Dose:
    """The dose a prescription was issued with: the newest dose recorded by then. Counted along
    the entry's history, where each prescribing, renewal and dose change of an entry with
    prescriptions issued one: a dose changed before the treatment starts takes effect at the
    start, so ``Entry.dose_at`` cannot tell it from the first dose."""
    step, steps = 0, []
    for c in lst.changes:
        if c.entry_id == e.entry_id and c.action in ISSUING:
            step += c.action == "dose_changed"
            steps.append(step)
    return e.doses[steps[e.prescriptions.index(p)]].dose


def medication_request(lst: MedicationList, e: Entry, p: Prescription) -> Resource:
    reported = e.source != "prescribed" and p == e.prescriptions[0]
    reason = _request_reason(e, p)
    return drop_none({
        "resourceType": "MedicationRequest", "id": str(p.prescription_id),
        "status": _request_status(e, p),
        "statusReason": {"text": reason} if reason else None,
        "intent": "order",
        "reportedBoolean": True if reported else None,
        "medicationCodeableConcept": medication(e.drug),
        "subject": ref("Patient", lst.patient_id),
        "authoredOn": None if reported else instant(p.issued_at),
        "requester": None if reported else who(p.issued_by),
        "recorder": who(p.issued_by) if reported else None,
        "reasonCode": [{"text": e.indication}] if e.indication else None,
        "dosageInstruction": [dosage(_issued_dose(lst, e, p), drop_none({
            "start": e.start_on.isoformat(),
            "end": e.end_on.isoformat() if e.end_on else None}))],
        "priorPrescription": ref("MedicationRequest", p.previous) if p.previous else None,
    })


# --- MedicationAdministration ------------------------------------------------------------------

def medication_administration(lst: MedicationList, e: Entry, a: Administration) -> Resource:
    """Dose and prescription are those in force at ``administered_at``, which is never after
    the record, so a later change of the entry does not change a past administration."""
    dose = e.dose_at(a.administered_at)
    issued = [p for p in e.prescriptions if p.issued_at <= a.administered_at]
    notes = [{"text": a.note}] if a.note else []
    if a.scheduled_for is not None:
        notes.append({"text": f"Planlagt {a.scheduled_for.astimezone(OSLO):%d.%m.%Y kl. %H:%M}"})
    return drop_none({
        "resourceType": "MedicationAdministration", "id": str(a.administration_id),
        "status": "completed" if a.outcome == "given" else "not-done",
        "statusReason": [{"text": NOT_DONE_NO[a.outcome]}] if a.outcome != "given" else None,
        "medicationCodeableConcept": medication(e.drug),
        "subject": ref("Patient", lst.patient_id),
        "effectiveDateTime": instant(a.administered_at),
        "performer": [{"actor": who(a.by)}],
        "request": ref("MedicationRequest", issued[-1].prescription_id) if issued else None,
        "note": notes,
        "dosage": None if a.amount is None else {
            "route": {"text": ROUTE_NO[dose.route]},
            "dose": {"value": a.amount, "unit": dose.unit}},
    })


# --- List --------------------------------------------------------------------------------------

def medication_list(lst: MedicationList, now: datetime | None = None) -> Resource | None:
    """The PLL, or ``None`` before anything was put on it."""
    if not lst.entries:
        return None
    listed = [e for e in lst.entries
              if (e.in_force(now) if now is not None else e.status != "discontinued")]
    return drop_none({
        "resourceType": "List", "id": str(lst.patient_id),
        "status": "current",
        "mode": "working",
        "title": LIST_TITLE,
        "code": {"coding": [coding(LOINC, "10160-0", "History of Medication use Narrative")]},
        "subject": ref("Patient", lst.patient_id),
        "date": instant(max(list_times(lst))),
        "entry": [{"date": instant(recorded(lst, e).at),
                   "item": ref("MedicationStatement", e.entry_id) | {"display": e.drug.name}}
                  for e in listed],
    })


# --- every resource, and finding one ----------------------------------------------------------

def _all(lst: MedicationList, now: datetime | None) -> Iterator[Resource]:
    for e in lst.entries:
        yield medication_statement(lst, e, now)
    for s in lst.imported:
        yield imported_statement(lst, s)
    for e in lst.entries:
        for p in e.prescriptions:
            yield medication_request(lst, e, p)
    entries = {e.entry_id: e for e in lst.entries}
    for a in lst.administrations:
        yield medication_administration(lst, entries[a.entry_id], a)
    if (pll := medication_list(lst, now)) is not None:
        yield pll


def resources_of(lst: MedicationList, now: datetime | None = None) -> list[Resource]:
    """Every resource of the list (statements, requests, administrations, the List)."""
    return list(_all(lst, now))


def _uuid(rid: str | UUID) -> UUID | None:
    try:
        return rid if isinstance(rid, UUID) else UUID(str(rid))
    except ValueError:
        return None


def resource(lst: MedicationList, rtype: str, rid: str | UUID,
             now: datetime | None = None) -> Resource | None:
    """One resource, or ``None`` when the list has none of that type and id."""
    key = _uuid(rid)
    if key is None:
        return None
    if rtype == "List":
        return medication_list(lst, now) if key == lst.patient_id else None
    if rtype == "MedicationStatement":
        if (e := lst.entry(key)) is not None:
            return medication_statement(lst, e, now)
        found = lst.imported_statement(key)
        return imported_statement(lst, found) if found is not None else None
    if rtype == "MedicationRequest":
        return next((medication_request(lst, e, p) for e in lst.entries
                     for p in e.prescriptions if p.prescription_id == key), None)
    if rtype == "MedicationAdministration":
        for a in lst.administrations:
            if a.administration_id == key and (e := lst.entry(a.entry_id)) is not None:
                return medication_administration(lst, e, a)
    return None
