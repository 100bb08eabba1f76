"""What an event touches: the resources (type, id) a projection stores a new version of."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from libs.events.registry import EventPayload
from services.medication import contract as ev
from services.medication.domain.state import MedicationList
from services.medication.fhir.elements import list_times

# --- what an event touches ---------------------------------------------------------------------

Touched = list[tuple[str, UUID]]


def _list_touch(lst: MedicationList, e: Any) -> Touched:
    """The List, when the event moved its date (the last change of the list's entries)."""
    times = list_times(lst)
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
    # kept apart from the entries: its own statement, not on the List (domain/imported.py)
    ev.MedicationStatementImported: lambda lst, e: [("MedicationStatement", e.statement_id)],
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
