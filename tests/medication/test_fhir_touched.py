"""The medication FHIR mapping's ``touched``, pure: it names exactly the resources each event
changes, for every registered ``medication.*`` event type, and refuses an unmapped one."""

from __future__ import annotations

from datetime import date
from typing import ClassVar

import pytest

from libs.events.registry import EventPayload
from services.medication import contract as ev
from services.medication.domain import evolve as fl
from services.medication.domain import medication_list as ml
from services.medication.domain.state import MedicationList
from services.medication.fhir import elements, resources
from services.medication.fhir import touched as touches
from tests.medication.domain_support import DOCTOR, P, dose
from tests.medication.fhir_mapping_support import (
    CATALOGUE, FULL, HISTORY, MEDICATION_EVENTS, RESOURCES, Q, Story, at, the,
)



# --- touched: which resources each event changes -------------------------------------------------

def test_every_registered_medication_event_type_has_a_mapping():
    """A new medication event type fails here until ``fhir/touched.py`` names what it changes."""
    assert {t.event_type for t in touches.MAPPED_EVENTS} == MEDICATION_EVENTS


def test_the_history_has_every_medication_event_type():
    """... and here until ``_history`` makes one, so the next test covers it."""
    assert {e.event_type for e in HISTORY} == MEDICATION_EVENTS


def _by_key(lst: MedicationList) -> dict[tuple[str, str], dict]:
    return {(r["resourceType"], r["id"]): r for r in resources.resources_of(lst)}


def test_touched_is_exactly_what_each_event_changed():
    lst = MedicationList.empty(P)
    for e in HISTORY:
        before = _by_key(lst)
        lst = fl.evolve(lst, e)
        after = _by_key(lst)
        changed = {k for k, r in after.items() if before.get(k) != r} | (
            before.keys() - after.keys())
        got = touches.touched(lst, e)
        assert len(got) == len(set(got)), e.event_type
        assert set(got) == changed, (e.event_type, set(got) ^ changed)
        assert all(isinstance(i, str) and k in elements.RESOURCE_TYPES for k, i in got)
        for k, i in got:
            assert resources.resource(lst, k, i) == after[(k, i)]
    assert after == {(r["resourceType"], r["id"]): r for r in RESOURCES}


def test_the_list_is_touched_by_changes_of_its_entries_only():
    lst, touching = MedicationList.empty(P), set()
    for e in HISTORY:
        lst = fl.evolve(lst, e)
        if ("List", str(P)) in touches.touched(lst, e):
            touching.add(type(e).__name__)
    assert touching == {"MedicationPrescribed", "MedicationRecordedFromOtherSource",
                        "PrescriptionRenewed", "DoseChanged", "MedicationPaused",
                        "MedicationResumed", "MedicationDiscontinued"}
    # a recall decided with its renewal, dose change or discontinuation has the same time


def test_an_unmapped_event_type_is_refused_not_skipped():
    class Unknown(EventPayload):
        event_type: ClassVar[str] = "medication.Unknown"
    with pytest.raises(touches.UnmappedEvent, match=r"medication\.Unknown"):
        touches.touched(FULL, Unknown())


def test_a_recall_with_its_renewal_leaves_the_list_alone_a_later_one_moves_its_date():
    s = Story(Q)
    entry_id = s.prescribe("Paracet tab 500 mg", dose(1, "tablett", "08:00"), at(20, 9))
    renewed, recalled = ml.renew(s.lst, ml.Renew(entry_id=entry_id), DOCTOR, at(21, 9),
                                 catalogue=CATALOGUE)
    old, new = str(recalled.prescription_id), str(renewed.prescription_id)
    lst = fl.evolve(s.lst, renewed)
    assert touches.touched(lst, renewed) == [
        ("MedicationStatement", str(entry_id)), ("MedicationRequest", new),
        ("MedicationRequest", old), ("List", str(Q))]  # the old one is replaced: completed
    lst = fl.evolve(lst, recalled)
    assert touches.touched(lst, recalled) == [("MedicationRequest", old)]
    late = ev.PrescriptionRecalled(  # a recall recorded on its own, a day later
        entry_id=entry_id, prescription_id=renewed.prescription_id, reason="discontinuation",
        by=recalled.by, recorded_at=at(22, 9))
    lst = fl.evolve(lst, late)
    assert touches.touched(lst, late) == [("MedicationRequest", new), ("List", str(Q))]
    assert the("List", Q, lst)["date"] == "2026-11-22T08:00:00+00:00"
    assert the("MedicationRequest", new, lst)["status"] == "stopped"


@pytest.mark.parametrize("raw", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00",
                                 "9999-12-31", "1200-01-01"])
def test_an_order_date_out_of_range_is_invalid_not_an_overflow(raw):
    """A boundsPeriod date beyond what a clinic plans is a 422, never an OverflowError (500)."""
    from libs.kernel.errors import Invalid
    from services.medication.fhir.from_fhir import _day

    with pytest.raises(Invalid, match="between 1850-01-01 and 2199-12-31"):
        _day(raw, "timing.repeat.boundsPeriod.end")
    assert _day("2026-03-01", "x") == date(2026, 3, 1)
