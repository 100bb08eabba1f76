"""FHIR R4 view of the medication list: pure functions from ``MedicationList`` (a
``medication-<patient_id>`` stream's state) to JSON-ready resource dicts, without ``meta``. A
projection stores one new resource version per event, using ``touched`` to learn which resources
an event changed and ``resource`` to build them; it adds ``meta`` (versionId, lastUpdated).

Resource ids are the domain's: ``MedicationStatement/<entry_id>``,
``MedicationRequest/<prescription_id>``, ``MedicationAdministration/<administration_id>`` and
``List/<patient_id>``; the subject is ``Patient/<patient_id>``.

Identifiers and codes (DOMAIN.md §2.3, §2.5, §6): people are logical references by HPR number,
organisations by organisation number (ENH), only from ``IdentifierSystem``. §6 has no system for
the PLL-id, the ReseptID or the treatmentID, so no resource carries them as identifiers (the ids
above are the same UUIDs). A drug is ``medicationCodeableConcept``: its FEST LegemiddelMerkevare
id under DMP's NamingSystem (draft, §2.5 [F11]; HL7 Norway's LMDI codes medications with it), its
ATC code, and its name (FEST NavnFormStyrke) as text. Free text (reasons, notes, indications)
passes as is; the state holds no national id number.

Mapping (domain -> FHIR R4):

- An entry -> ``MedicationStatement``: status active | on-hold (paused) | stopped
  (discontinued), the pause or discontinuation reason as ``statusReason``; ``effectivePeriod``
  from ``start_on`` to ``end_on`` (or to the moment it was discontinued, when earlier);
  ``dateAsserted`` and ``informationSource`` = when and by whom the entry was recorded;
  ``derivedFrom`` = the head of its prescription chain; the indication as ``reasonCode``; the
  dose in force as ``dosage``. An entry recorded from another source says where from in
  ``note`` (no extension needed).
- A prescription (ReseptID) -> ``MedicationRequest``, intent order: recalled for renewal (with or
  without change) -> completed, recalled for discontinuation -> stopped, replaced by a newer one
  but not yet recalled -> completed (as SFM shows non-head prescriptions, §2.3); the head follows
  its entry: active, on-hold (paused), stopped (discontinued). ``priorPrescription`` = the one it
  replaced, ``dosageInstruction`` = the dose it was issued with, ``requester`` the prescriber.
  The other prescriber's prescription of an entry recorded from another source is
  ``reportedBoolean`` with our clinician as ``recorder`` (we know neither its prescriber nor
  when it was written).
- An administration -> ``MedicationAdministration``: given -> completed, missed or refused ->
  not-done with a Norwegian ``statusReason``; ``performer`` the nurse or prescriber (HPR) or the
  medicine dispenser (a Device by display); ``request`` the prescription in force then; the
  planned time (``scheduled_for``, no R4 element) as a ``note``.
- The list -> ``List`` (PLL), status current, mode working, title "Pasientens legemiddelliste",
  code LOINC 10160-0 "History of Medication use Narrative" (the medication section code of IPS,
  which SFM's IPS-style document follows), ``date`` = the last change of the list's entries. It
  exists once an entry has been recorded and holds every entry not discontinued. Discontinued
  entries are left out rather than kept with ``deleted``, which R4 allows only in a list of mode
  ``changes`` (lst-2); their statements stay, status stopped.
- Not mapped: dispensings (no ``MedicationDispense`` here), decision-support warnings,
  reconciliations ("medicines in use", LIB) and reviews; ``touched`` names nothing for them.

Time: everything is decided from the state alone, so a stored version stays true until the next
event. An entry past its ``end_on`` stays active with ``effectivePeriod.end`` in the past. Given
``now``, ``resource`` also decides the time-bound statuses (intended before the start, completed
after the end day) and leaves ended entries off the List, as ``reads.current_list`` does; a
projection does not pass it, and ``touched`` is about the resources built without it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any
from uuid import UUID

from libs.access.fhir import _coding, _instant, _org
from libs.access.identifiers import IdentifierSystem
from libs.access.policy import OSLO
from libs.events.registry import EventPayload
from services.medication.domain import events as ev
from services.medication.domain.dosing import describe
from services.medication.domain.events import Author, Dose, Drug
from services.medication.domain.state import (
    Administration, Change, Entry, MedicationList, Prescription,
)

RESOURCE_TYPES = ("MedicationStatement", "MedicationRequest", "MedicationAdministration", "List")

ATC = "http://www.whocc.no/atc"
FEST_MERKEVARE = "http://dmp.no/fhir/NamingSystem/festLegemiddelMerkevare"  # §2.5 [F11]
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"

# Norwegian (bokmål) text shown to clinicians, in one place.
LIST_TITLE = "Pasientens legemiddelliste"
SOURCE_NO = {"hospital_discharge": "epikrise fra sykehus", "over_the_counter": "reseptfritt",
             "supplement": "kosttilskudd", "other_prescriber": "annen forskriver"}
RECALL_NO = {"renewal": "Tilbakekalt ved fornying",
             "renewal_with_change": "Tilbakekalt ved fornying med endring",
             "discontinuation": "Tilbakekalt ved seponering"}
NOT_DONE_NO = {"missed": "Ikke gitt", "refused": "Pasienten nektet"}
ROUTE_NO = {"oral": "oral", "sublingual": "sublingual", "buccal": "bukkal", "rectal": "rektal",
            "transdermal": "transdermal", "topical": "kutan", "inhalation": "inhalasjon",
            "nasal": "nasal", "ocular": "okulær", "otic": "i øret", "vaginal": "vaginal",
            "subcutaneous": "subkutan", "intramuscular": "intramuskulær",
            "intravenous": "intravenøs", "enteral_tube": "enteral sonde"}

STATEMENT_STATUS = {"active": "active", "paused": "on-hold", "discontinued": "stopped"}
_ISSUING = frozenset({"prescribed", "recorded", "renewed", "dose_changed"})
_LIST_CHANGES = _ISSUING | {"recalled", "paused", "resumed", "discontinued"}

Resource = dict[str, Any]


# --- small pieces ------------------------------------------------------------------------------

def _drop_none(res: Resource) -> Resource:
    return {k: v for k, v in res.items() if v is not None and v != [] and v != {}}


def _ref(kind: str, id_: UUID) -> dict:
    return {"reference": f"{kind}/{id_}"}


def _who(a: Author) -> dict:
    """A prescriber or nurse by HPR number, a pharmacy by organisation number, a medicine
    dispenser (no identifier system for its client id) by display."""
    if a.kind == "pharmacy":
        return _org(a.id)
    if a.kind == "device":
        return {"type": "Device", "display": f"Medisindispenser {a.id}"}
    return {"type": "Practitioner", "identifier": {"system": IdentifierSystem.HPR, "value": a.id}}


def _medication(drug: Drug) -> dict:
    """The FEST id when it is a catalogue product, the ATC code when known, the name."""
    coding = []
    if drug.product_id:
        coding.append(_coding(FEST_MERKEVARE, drug.product_id, drug.name))
    if drug.atc:
        coding.append(_coding(ATC, drug.atc))
    return ({"coding": coding} if coding else {}) | {"text": drug.name}


def _dosage(dose: Dose, bounds: dict | None = None) -> dict:
    """``Dosage``: the Norwegian rendering as text, fixed times or times a day as a daily
    ``timing``, an as-needed dose with its maximum per day; ``bounds`` the treatment period
    (on a prescription: when the treatment runs)."""
    repeat: dict[str, Any] | None = None
    if dose.times_of_day:
        repeat = {"frequency": len(dose.times_of_day), "period": 1, "periodUnit": "d",
                  "timeOfDay": [t.strftime("%H:%M:%S") for t in dose.times_of_day]}
    elif dose.times_per_day is not None:
        repeat = {"frequency": dose.times_per_day, "period": 1, "periodUnit": "d"}
    most = None if not dose.as_needed or dose.max_per_day is None else {
        "numerator": {"value": dose.max_per_day, "unit": dose.unit},
        "denominator": {"value": 1, "unit": "d", "system": UCUM, "code": "d"}}
    return _drop_none({
        "text": describe(dose),
        "additionalInstruction": [{"text": dose.instructions}] if dose.instructions else None,
        "timing": {"repeat": (repeat or {}) | ({"boundsPeriod": bounds} if bounds else {})}
        if repeat or bounds else None,
        "asNeededBoolean": dose.as_needed,
        "route": {"text": ROUTE_NO[dose.route]},
        "doseAndRate": [{"doseQuantity": {"value": dose.amount, "unit": dose.unit}}],
        "maxDosePerPeriod": most,
    })


def _recorded(lst: MedicationList, e: Entry) -> Change:
    """The history line that put the entry on the list (when and by whom)."""
    return next(c for c in lst.changes
                if c.entry_id == e.entry_id and c.action in ("prescribed", "recorded"))


def _list_times(lst: MedicationList) -> list[datetime]:
    return [c.at for c in lst.changes if c.action in _LIST_CHANGES]


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
        end = _instant(e.status_since)
    return {"start": e.start_on.isoformat()} | ({"end": end} if end else {})


def medication_statement(lst: MedicationList, e: Entry, now: datetime | None = None) -> Resource:
    status = _statement_status(e, now)
    first = _recorded(lst, e)
    head = e.prescription
    source = None if e.source == "prescribed" else [{"text": "Kilde: " + " – ".join(
        filter(None, (SOURCE_NO[e.source], e.source_detail)))}]
    reason = e.status_reason if status in ("on-hold", "stopped") else None
    return _drop_none({
        "resourceType": "MedicationStatement", "id": str(e.entry_id),
        "status": status,
        "statusReason": [{"text": reason}] if reason else None,
        "medicationCodeableConcept": _medication(e.drug),
        "subject": _ref("Patient", lst.patient_id),
        "effectivePeriod": _period(e),
        "dateAsserted": _instant(first.at),
        "informationSource": _who(first.by),
        "derivedFrom": [_ref("MedicationRequest", head.prescription_id)] if head else None,
        "reasonCode": [{"text": e.indication}] if e.indication else None,
        "note": source,
        "dosage": [_dosage(e.dose)],
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
        if c.entry_id == e.entry_id and c.action in _ISSUING:
            step += c.action == "dose_changed"
            steps.append(step)
    return e.doses[steps[e.prescriptions.index(p)]].dose


def medication_request(lst: MedicationList, e: Entry, p: Prescription) -> Resource:
    reported = e.source != "prescribed" and p == e.prescriptions[0]
    reason = _request_reason(e, p)
    return _drop_none({
        "resourceType": "MedicationRequest", "id": str(p.prescription_id),
        "status": _request_status(e, p),
        "statusReason": {"text": reason} if reason else None,
        "intent": "order",
        "reportedBoolean": True if reported else None,
        "medicationCodeableConcept": _medication(e.drug),
        "subject": _ref("Patient", lst.patient_id),
        "authoredOn": None if reported else _instant(p.issued_at),
        "requester": None if reported else _who(p.issued_by),
        "recorder": _who(p.issued_by) if reported else None,
        "reasonCode": [{"text": e.indication}] if e.indication else None,
        "dosageInstruction": [_dosage(_issued_dose(lst, e, p), _drop_none({
            "start": e.start_on.isoformat(),
            "end": e.end_on.isoformat() if e.end_on else None}))],
        "priorPrescription": _ref("MedicationRequest", p.previous) if p.previous else None,
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
    return _drop_none({
        "resourceType": "MedicationAdministration", "id": str(a.administration_id),
        "status": "completed" if a.outcome == "given" else "not-done",
        "statusReason": [{"text": NOT_DONE_NO[a.outcome]}] if a.outcome != "given" else None,
        "medicationCodeableConcept": _medication(e.drug),
        "subject": _ref("Patient", lst.patient_id),
        "effectiveDateTime": _instant(a.administered_at),
        "performer": [{"actor": _who(a.by)}],
        "request": _ref("MedicationRequest", issued[-1].prescription_id) if issued else None,
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
    return _drop_none({
        "resourceType": "List", "id": str(lst.patient_id),
        "status": "current",
        "mode": "working",
        "title": LIST_TITLE,
        "code": {"coding": [_coding(LOINC, "10160-0", "History of Medication use Narrative")]},
        "subject": _ref("Patient", lst.patient_id),
        "date": _instant(max(_list_times(lst))),
        "entry": [{"date": _instant(_recorded(lst, e).at),
                   "item": _ref("MedicationStatement", e.entry_id) | {"display": e.drug.name}}
                  for e in listed],
    })


# --- every resource, and finding one ----------------------------------------------------------

def _all(lst: MedicationList, now: datetime | None) -> Iterator[Resource]:
    for e in lst.entries:
        yield medication_statement(lst, e, now)
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
        e = lst.entry(key)
        return medication_statement(lst, e, now) if e is not None else None
    if rtype == "MedicationRequest":
        return next((medication_request(lst, e, p) for e in lst.entries
                     for p in e.prescriptions if p.prescription_id == key), None)
    if rtype == "MedicationAdministration":
        for a in lst.administrations:
            if a.administration_id == key and (e := lst.entry(a.entry_id)) is not None:
                return medication_administration(lst, e, a)
    return None


# --- what an event touches ---------------------------------------------------------------------

Touched = list[tuple[str, UUID]]


def _list_touch(lst: MedicationList, e: Any) -> Touched:
    """The List, when the event moved its date (the last change of the list's entries)."""
    times = _list_times(lst)
    moved = len(times) == 1 or e.recorded_at > max(times[:-1])
    return [("List", lst.patient_id)] if moved else []


def _following(lst: MedicationList, entry_id: UUID, *ids: UUID | None) -> Touched:
    """Requests whose status follows the entry or the chain: those of ``ids`` not recalled."""
    e = lst.entry(entry_id)
    chain = {p.prescription_id: p for p in e.prescriptions} if e else {}
    return [("MedicationRequest", i) for i in ids
            if i is not None and i in chain and chain[i].recalled is None]


def _head(lst: MedicationList, entry_id: UUID) -> UUID | None:
    e = lst.entry(entry_id)
    return e.prescription.prescription_id if e and e.prescription else None


def _new_entry(lst: MedicationList, e: Any) -> Touched:
    requests = [("MedicationRequest", e.prescription_id)] if e.prescription_id else []
    return [("MedicationStatement", e.entry_id), *requests, ("List", lst.patient_id)]


def _reissued(lst: MedicationList, e: Any) -> Touched:
    """Renewal or dose change: the statement, the new prescription, the replaced one (now
    completed unless already recalled) and the List."""
    new = [("MedicationRequest", e.prescription_id)] if e.prescription_id else []
    return [("MedicationStatement", e.entry_id), *new,
            *_following(lst, e.entry_id, e.previous_prescription_id), *_list_touch(lst, e)]


def _status_change(lst: MedicationList, e: Any) -> Touched:
    """Pause, resume: the statement, the head prescription unless recalled, and the List."""
    return [("MedicationStatement", e.entry_id),
            *_following(lst, e.entry_id, _head(lst, e.entry_id)), *_list_touch(lst, e)]


def _discontinued(lst: MedicationList, e: Any) -> Touched:
    return [("MedicationStatement", e.entry_id),
            *_following(lst, e.entry_id, _head(lst, e.entry_id)), ("List", lst.patient_id)]


def _recalled(lst: MedicationList, e: Any) -> Touched:
    return [("MedicationRequest", e.prescription_id), *_list_touch(lst, e)]


def _nothing(lst: MedicationList, e: Any) -> Touched:
    return []


_TOUCHES: dict[type[EventPayload], Callable[[MedicationList, Any], Touched]] = {
    ev.MedicationPrescribed: _new_entry,
    ev.MedicationRecordedFromOtherSource: _new_entry,
    ev.PrescriptionRenewed: _reissued,
    ev.DoseChanged: _reissued,
    ev.PrescriptionRecalled: _recalled,
    ev.MedicationPaused: _status_change,
    ev.MedicationResumed: _status_change,
    ev.MedicationDiscontinued: _discontinued,
    ev.MedicationAdministered: lambda lst, e: [("MedicationAdministration", e.administration_id)],
    ev.WarningsRecorded: _nothing,  # not mapped (module doc)
    ev.MedicationDispensed: _nothing,
    ev.MedicationReconciled: _nothing,
    ev.MedicationReviewed: _nothing,
    ev.MedicationListFetched: _nothing,   # what RF showed; not a resource of ours
}
MAPPED_EVENTS: frozenset[type[EventPayload]] = frozenset(_TOUCHES)
"""Every medication event type ``touched`` knows, including those that touch no resource."""


class UnmappedEvent(LookupError):
    """A medication event type ``touched`` does not know: add it to ``_TOUCHES``."""


def touched(lst: MedicationList, payload: EventPayload) -> list[tuple[str, str]]:
    """The resources (type, id) that ``payload`` created or changed, given the list right after
    it was folded in. An event type without a mapping raises ``UnmappedEvent`` rather than
    return ``[]``, so a projection never silently skips a change."""
    try:
        which = _TOUCHES[type(payload)]
    except KeyError:
        raise UnmappedEvent(f"no FHIR mapping for {payload.event_type}") from None
    return [(kind, str(id_)) for kind, id_ in which(lst, payload)]
