"""What the medication API shows: the current list, one entry with its prescription chain, the
administration chart of a day, the change history and the reconciled lists. Pure functions of a
folded ``MedicationList`` into JSON-ready dicts (reads.py decides what is on them).

The current list is also what the projection stores ready to send (``current_view`` with
``valid_until``), so a read of it is one row and no parsing while nothing has started or ended
since it was written.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import orjson

from libs.kernel.time import OSLO
from libs.kernel.views import ByIdentity
from services.medication.domain.dosing import describe
from services.medication.contract import MedicationWarning
from services.medication.domain.reads import actually_taken, administration_chart, current_list
from services.medication.domain.state import Entry, MedicationList

CURRENT_TITLE = "Pasientens legemiddelliste"
SECTION = "medication"
WITHHELD = "Noe er skjermet her. Some information here is withheld."


def hidden_of(hidden: frozenset[str], categories: frozenset[str] | None) -> frozenset[str]:
    """What an access decision withholds here: restricted entries (by entry id), or the whole
    list when the medication section is restricted or outside a limited proxy's categories."""
    if categories is not None and SECTION not in categories:
        return hidden | {SECTION}
    return hidden


def visible(lst: MedicationList, hidden: frozenset[str]) -> tuple[MedicationList, int]:
    """The list without what the reader may not see (an entry hidden from guardians, e.g. a
    15-year-old's contraceptive, or everything when the section is locked), and how many
    entries were withheld. Their administrations, dispensings, history lines and reconciled
    lines go with them."""
    if not hidden:
        return lst, 0
    gone = ({e.entry_id for e in lst.entries} if SECTION in hidden
            else {e.entry_id for e in lst.entries if str(e.entry_id) in hidden})
    if not gone and SECTION not in hidden:
        return lst, 0
    keep = lst.model_copy(update={
        "entries": tuple(e for e in lst.entries if e.entry_id not in gone),
        "administrations": tuple(a for a in lst.administrations if a.entry_id not in gone),
        "dispensings": tuple(d for d in lst.dispensings if d.entry_id not in gone),
        "changes": tuple(c for c in lst.changes if c.entry_id not in gone
                         and (SECTION not in hidden)),
        "reconciliations": () if SECTION in hidden else tuple(
            r.model_copy(update={"lines": tuple(x for x in r.lines if x.entry_id not in gone)})
            for r in lst.reconciliations),
        "reviews": () if SECTION in hidden else lst.reviews,
        "fetched": None if SECTION in hidden else lst.fetched,
        "imported": () if SECTION in hidden else lst.imported})
    return keep, len(gone) or 1


def withheld_note(count: int) -> dict[str, Any]:
    return {"withheld": count, "withheld_message": WITHHELD} if count else {}


def _entry_fields(e: Entry) -> dict[str, Any]:
    head = e.prescription
    return {
        "entry_id": str(e.entry_id), "treatment_id": str(e.treatment_id),
        "drug": e.drug.model_dump(mode="json"),
        "dose": e.dose.model_dump(mode="json"), "dose_text": describe(e.dose),
        "status": e.status, "status_reason": e.status_reason,
        "status_since": e.status_since.astimezone(OSLO).isoformat(),
        "started": None,   # (when the view is asked for: ``_entry``)
        "start_on": e.start_on.isoformat(), "end_on": e.end_on.isoformat() if e.end_on else None,
        "source": e.source, "source_detail": e.source_detail, "indication": e.indication,
        "prescription_id": str(head.prescription_id) if head else None,
        "prescribed_by": head.issued_by.model_dump(mode="json") if head else None,
    }


# an entry's fields are made once per entry object: the projection holds its lists parsed and
# evolves them, so an order's batch meets the list's other entries again unchanged (building
# every entry's view was 11-13 % of the medication background under orders: bench/RESULTS.md)
_fields = ByIdentity(_entry_fields)


def _entry(e: Entry, now: datetime, taken=None) -> dict[str, Any]:
    out = _fields(e) | {"started": e.periods[0].at <= now}
    if taken is not None:
        out["last_given_at"] = taken.last_given_at.isoformat() if taken.last_given_at else None
        out["last_dispensed_at"] = (taken.last_dispensed_at.isoformat()
                                    if taken.last_dispensed_at else None)
    return out


def current_view(lst: MedicationList, now: datetime) -> dict[str, Any]:
    """What the patient should take now: active and paused entries, and ones starting later
    (``started`` false); discontinued and ended ones are not on it."""
    taken = actually_taken(lst)
    entries = sorted(current_list(lst, now), key=lambda e: (e.status != "active",
                                                              e.drug.name.casefold()))
    fetched = lst.fetched and {"at": lst.fetched.fetched_at.isoformat(),
                               "sources": list(lst.fetched.sources),
                               "prescriptions": len(lst.fetched.prescriptions)}
    return {"title": CURRENT_TITLE, "patient_id": str(lst.patient_id), "version": lst.version,
            "fetched_from_rf": fetched or None,
            "entries": [_entry(e, now, taken[e.entry_id]) for e in entries]}


def valid_until(lst: MedicationList, now: datetime) -> datetime | None:
    """The next instant at which ``current_view`` changes without a new event (an entry
    starts or ends); None when none will."""
    moments = [m for e in lst.entries if e.status != "discontinued"
               for m in (e.periods[0].at, e.ends_at) if m is not None and m > now]
    return min(moments, default=None)


def entry_view(lst: MedicationList, e: Entry, now: datetime) -> dict[str, Any]:
    """One entry with its whole prescription chain, dose steps, what was dispensed and given,
    and its history."""
    return _entry(e, now, actually_taken(lst)[e.entry_id]) | {
        "prescriptions": [p.model_dump(mode="json") for p in e.prescriptions],
        "doses": [{"from": d.at.astimezone(OSLO).isoformat(), "dose": d.dose.model_dump(
            mode="json"), "dose_text": describe(d.dose)} for d in e.doses],
        "dispensings": [d.model_dump(mode="json") for d in lst.dispensings
                        if d.entry_id == e.entry_id],
        "administrations": [a.model_dump(mode="json") for a in lst.administrations
                            if a.entry_id == e.entry_id][-50:],
        "history": [c.model_dump(mode="json") for c in lst.changes
                    if c.entry_id == e.entry_id],
    }


def chart_view(lst: MedicationList, day: date) -> dict[str, Any]:
    chart = administration_chart(lst, day)
    lines = [line.model_dump(mode="json") | {"dose_text": describe(line.dose)}
             for line in chart.lines]
    return {"patient_id": str(lst.patient_id), "day": day.isoformat(), "version": lst.version,
            "lines": lines,
            "summary": {k: sum(1 for x in chart.lines if x.outcome == k)
                        for k in ("given", "missed", "refused")}
            | {"open": sum(1 for x in chart.lines if x.planned_at and x.outcome is None)}}


def history_view(lst: MedicationList, entry_id=None) -> dict[str, Any]:
    changes = [c for c in lst.changes if entry_id is None or c.entry_id == entry_id]
    return {"patient_id": str(lst.patient_id), "version": lst.version,
            "changes": [c.model_dump(mode="json") for c in reversed(changes)]}


def reconciliations_view(lst: MedicationList) -> dict[str, Any]:
    return {"patient_id": str(lst.patient_id), "version": lst.version,
            "reconciliations": [r.model_dump(mode="json") for r in reversed(lst.reconciliations)],
            "reviews": [r.model_dump(mode="json") for r in reversed(lst.reviews)]}


def warnings_view(warnings: tuple[MedicationWarning, ...]) -> list[dict[str, Any]]:
    return [w.model_dump(mode="json", exclude_none=True) for w in warnings]


def to_json(doc: dict[str, Any]) -> str:
    """Compact JSON, as the projection stores the current list and the API sends it: the
    text ``json.dumps(doc, ensure_ascii=False, separators=(",", ":"))`` writes, by orjson
    (the stdlib's encoder was a tenth of the projection's CPU under orders: bench/RESULTS.md)."""
    return orjson.dumps(doc).decode()
