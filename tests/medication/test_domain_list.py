"""The medication list, pure (part 1): prescribing and the three identities (requirement 30),
renewal, dose change and the chain between renewals (30, 32), who may do what (33), pause, resume
and discontinuation, records from other sources. Part 2 (``test_domain_list_care.py``):
administration (38), dispensing, reconciliation and review (34), the reads and the fold."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta


from libs.kernel.time import OSLO
from libs.kernel.errors import Conflict, Forbidden, Invalid, NotFound
from services.medication.domain import Prescriber
from services.medication.domain import administration as adm
from services.medication import contract as ev
from services.medication.domain import medication_list as ml
from services.medication.domain import reads
from services.medication.domain.dosing import (
    DoseIn, daily_amount, describe, planned_times, to_dose,
)
from tests.medication.domain_support import (
    CATALOGUE, DEVICE, DOCTOR, NOW, NURSE, OTHER_DOCTOR, PHARMACY, TODAY, UNIT, dose, empty,
    prescribed, then,
)
from tests.medication.domain_support import LATER
from tests.support.refusals import refused


# --- prescribing and identities (requirement 30) -----------------------------------------------

def test_a_prescription_puts_an_entry_on_the_list_with_its_three_identities():
    lst = empty()
    events = ml.prescribe(lst, ml.Prescribe(
        product_id="paracet", dose=dose(2, "tablett", "20:00", "08:00"), indication=" smerter ",
        end_on=TODAY + timedelta(days=13)), DOCTOR, NOW, catalogue=CATALOGUE)
    [e] = events
    assert isinstance(e, ev.MedicationPrescribed)
    assert len({e.entry_id, e.treatment_id, e.prescription_id}) == 3
    assert (e.drug.product_id, e.drug.name, e.drug.atc, e.drug.substances) == (
        "paracet", "Paracet tab 500 mg", "N02BE01", ("paracetamol",))
    assert e.dose.times_of_day == (time(8), time(20)) and e.dose.route == "oral"
    assert (e.indication, e.start_on, e.end_on, e.recorded_at) == (
        "smerter", TODAY, TODAY + timedelta(days=13), NOW)
    assert (e.by.kind, e.by.id, e.by.unit) == ("prescriber", DOCTOR.hpr, UNIT)
    lst = then(lst, events)
    entry = lst.entry(e.entry_id)
    assert (entry.status, entry.source, entry.treatment_id) == ("active", "prescribed",
                                                                 e.treatment_id)
    assert entry.prescription.prescription_id == e.prescription_id
    assert entry.prescription.previous is None and entry.prescription.recalled is None
    assert lst.version == 1
    assert entry.status_at(NOW - timedelta(minutes=1)) is None  # planned from when it was made
    assert entry.status_at(NOW) == "active"


def test_a_prescription_starting_later_is_planned_from_midnight_that_day():
    lst, entry = prescribed(start_on=TODAY + timedelta(days=2))
    start = datetime(2026, 12, 1, tzinfo=OSLO)
    assert entry.status_at(start - timedelta(seconds=1)) is None
    assert entry.status_at(start) == "active"
    assert entry in reads.current_list(lst, NOW)


def test_only_a_prescriber_changes_the_list():
    lst, entry = prescribed()
    for who in (NURSE, DEVICE, PHARMACY):
        assert refused(Forbidden, ml.prescribe, lst, ml.Prescribe(product_id="paracet", dose=dose()),
                       who, NOW, catalogue=CATALOGUE) == (
            "Only a prescriber changes the medication list.")
    cases = [
        (ml.record_from_other_source, ml.RecordFromOtherSource(
            source="over_the_counter", name="Tran", dose=dose()), {"catalogue": CATALOGUE}),
        (ml.renew, ml.Renew(entry_id=entry.entry_id), {"catalogue": CATALOGUE}),
        (ml.change_dose, ml.ChangeDose(entry_id=entry.entry_id, dose=dose(2)),
         {"catalogue": CATALOGUE}),
        (ml.pause, ml.Pause(entry_id=entry.entry_id, reason="operasjon"), {}),
        (ml.resume, ml.Resume(entry_id=entry.entry_id), {"catalogue": CATALOGUE}),
        (ml.discontinue, ml.Discontinue(entry_id=entry.entry_id, reason="ferdig"), {}),
    ]
    for decide, command, kw in cases:
        assert "Only a prescriber" in refused(Forbidden, decide, lst, command, NURSE, NOW, **kw)


def test_orders_are_validated():
    lst = empty()

    def order(d: DoseIn | None = None, by=DOCTOR, **kw) -> str:
        kw.setdefault("product_id", "paracet")
        return refused(Invalid, ml.prescribe, lst, ml.Prescribe(dose=d or dose(), **kw), by, NOW,
                       catalogue=CATALOGUE)

    assert "Unknown product 'nope'" in order(product_id="nope")
    assert "no longer in the drug catalogue (expired)" in order(product_id="old")
    assert order(dose(0)) == "dose.amount: a dose is more than zero."
    order(dose(-1))
    order(dose(float("nan")))
    order(dose(1, "  "))
    assert "exactly one of" in order(DoseIn(amount=1, unit="mg"))
    assert "exactly one of" in order(dose(1, "mg", "08:00", times_per_day=2))
    order(dose(1, "mg", times_per_day=0))
    order(dose(1, "mg", times_per_day=25))
    assert "needs a max_per_day" in order(dose(1, "mg", as_needed=True))
    assert "less than one dose" in order(dose(2, "tablett", as_needed=True, max_per_day=1))
    assert "only for an as-needed dose" in order(dose(1, "mg", "08:00", max_per_day=4))
    assert "given once" in order(dose(1, "mg", "08:00", "08:00"))
    assert "without a time zone" in order(DoseIn(amount=1, unit="mg", times_of_day=[
        time(8, tzinfo=UTC)]))
    assert "in the past" in order(start_on=TODAY - timedelta(days=1))
    assert "before start_on" in order(end_on=TODAY - timedelta(days=1), start_on=TODAY)
    assert "HPR" in order(by=Prescriber(hpr="12x", unit=UNIT))
    assert "unit" in order(by=Prescriber(hpr="7654321", unit="123456784"))


def test_doses_plan_times_and_amounts_per_day():
    assert planned_times(to_dose(dose(1, "mg", times_per_day=3))) == (time(8), time(14),
                                                                     time(20))
    six = planned_times(to_dose(dose(1, "mg", times_per_day=6)))
    assert six == (time(0), time(4), time(8), time(12), time(16), time(20))
    assert daily_amount(to_dose(dose(2, "tablett", "08:00", "14:00", "20:00"))) == 6
    assert daily_amount(to_dose(dose(1, "tablett", as_needed=True, max_per_day=4))) == 4


def test_doses_read_as_norwegian_text():
    assert describe(to_dose(dose(1.5, "tablett", "08:00", "20:00"))) == (
        "1,5 tablett kl. 08:00, 20:00")
    assert describe(to_dose(dose(0.5, "tablett", as_needed=True, max_per_day=1.5))) == (
        "0,5 tablett ved behov, maks 1,5 per døgn")
    assert describe(to_dose(dose(2, "tablett", times_per_day=2))) == "2 tablett kl. 08:00, 20:00"


def test_unknown_entries_are_404():
    lst, _ = prescribed()
    unknown = uuid.uuid4()
    message = refused(NotFound, ml.pause, lst, ml.Pause(entry_id=unknown, reason="x"), DOCTOR, NOW)
    assert message == "No such medication on this patient's list."
    refused(NotFound, ml.renew, lst, ml.Renew(entry_id=unknown), DOCTOR, NOW, catalogue=CATALOGUE)
    refused(NotFound, ml.discontinue, lst, ml.Discontinue(entry_id=unknown, reason="x"), DOCTOR, NOW)
    refused(NotFound, adm.record_administration, lst, adm.RecordAdministration(
        entry_id=unknown, outcome="given"), NURSE, NOW)
    refused(NotFound, adm.record_dispensing, lst, adm.RecordDispensing(entry_id=unknown), PHARMACY, NOW)


# --- renewal, dose change and the chain (requirements 30, 32) ----------------------------------

def test_a_renewal_is_a_new_prescription_in_the_chain_and_recalls_the_previous():
    lst, entry = prescribed()
    first = entry.prescription.prescription_id
    later = NOW + timedelta(days=300)
    renewed, recalled = ml.renew(lst, ml.Renew(entry_id=entry.entry_id), OTHER_DOCTOR, later,
                                 catalogue=CATALOGUE)
    assert isinstance(renewed, ev.PrescriptionRenewed)
    assert (renewed.entry_id, renewed.treatment_id, renewed.previous_prescription_id) == (
        entry.entry_id, entry.treatment_id, first)
    assert renewed.prescription_id != first and renewed.by.id == OTHER_DOCTOR.hpr
    assert (recalled.prescription_id, recalled.reason) == (first, "renewal")
    lst = then(lst, [renewed, recalled])
    lst = then(lst, ml.renew(lst, ml.Renew(entry_id=entry.entry_id), DOCTOR, later,
                             catalogue=CATALOGUE))
    chain = lst.entry(entry.entry_id).prescriptions
    assert [p.previous for p in chain] == [None, first, renewed.prescription_id]
    assert [p.recalled for p in chain] == ["renewal", "renewal", None]
    assert lst.entry(entry.entry_id).treatment_id == entry.treatment_id


def test_a_dose_change_issues_a_new_prescription_and_keeps_the_old_dose_in_history():
    lst, entry = prescribed(d=dose(1, "tablett", "08:00", "20:00"))
    later = NOW + timedelta(days=2)
    assert "same as the current one" in refused(Invalid, ml.change_dose, lst, ml.ChangeDose(
        entry_id=entry.entry_id, dose=dose(1, "tablett", "20:00", "08:00")), DOCTOR, later,
        catalogue=CATALOGUE)
    refused(Invalid, ml.change_dose, lst, ml.ChangeDose(entry_id=entry.entry_id, dose=dose(0)),
            DOCTOR, later, catalogue=CATALOGUE)
    changed, recalled = ml.change_dose(lst, ml.ChangeDose(
        entry_id=entry.entry_id, dose=dose(2, "tablett", "08:00"), reason="bedre effekt"),
        DOCTOR, later, catalogue=CATALOGUE)
    assert changed.previous_prescription_id == entry.prescription.prescription_id
    assert changed.prescription_id not in (None, entry.prescription.prescription_id)
    assert (recalled.reason, recalled.prescription_id) == (
        "renewal_with_change", entry.prescription.prescription_id)
    lst = then(lst, [changed, recalled])
    now = lst.entry(entry.entry_id)
    assert now.dose.amount == 2 and now.dose_at(NOW).amount == 1
    assert now.prescription.prescription_id == changed.prescription_id


def test_the_dose_of_an_entry_without_a_prescription_changes_without_one():
    lst = empty()
    [rec] = ml.record_from_other_source(lst, ml.RecordFromOtherSource(
        source="supplement", name="Tran", dose=dose(5, "ml")), DOCTOR, NOW, catalogue=CATALOGUE)
    lst = then(lst, [rec])
    [changed] = ml.change_dose(lst, ml.ChangeDose(entry_id=rec.entry_id, dose=dose(10, "ml")),
                               DOCTOR, NOW, catalogue=CATALOGUE)
    assert changed.prescription_id is None and changed.previous_prescription_id is None
    assert "no prescription to renew" in refused(Conflict, ml.renew, lst, ml.Renew(
        entry_id=rec.entry_id), DOCTOR, NOW, catalogue=CATALOGUE)


# --- pause, resume, discontinue ----------------------------------------------------------------

def test_pause_and_resume():
    lst, entry = prescribed()
    assert refused(Invalid, ml.pause, lst, ml.Pause(entry_id=entry.entry_id), DOCTOR, NOW) == (
        "Pausing Paracet tab 500 mg needs a reason.")
    refused(Invalid, ml.pause, lst, ml.Pause(entry_id=entry.entry_id, reason="  "), DOCTOR, NOW)
    assert refused(Conflict, ml.resume, lst, ml.Resume(entry_id=entry.entry_id), DOCTOR, NOW,
                   catalogue=CATALOGUE) == (
        "Paracet tab 500 mg is not paused, so there is nothing to resume.")
    [paused] = ml.pause(lst, ml.Pause(entry_id=entry.entry_id, reason="før operasjon"),
                        DOCTOR, NOW + timedelta(hours=1))
    lst = then(lst, [paused])
    e = lst.entry(entry.entry_id)
    assert (e.status, e.status_reason) == ("paused", "før operasjon")
    assert refused(Conflict, ml.pause, lst, ml.Pause(entry_id=entry.entry_id, reason="x"), DOCTOR,
                   NOW) == "Paracet tab 500 mg is already paused (since 14:00 on 29.11.2026)."
    # a new dose may be set while paused: it applies from resumption
    lst = then(lst, ml.change_dose(lst, ml.ChangeDose(
        entry_id=entry.entry_id, dose=dose(1, "tablett", "08:00")), DOCTOR,
        NOW + timedelta(hours=2), catalogue=CATALOGUE))
    [resumed] = ml.resume(lst, ml.Resume(entry_id=entry.entry_id, note="operert"), DOCTOR,
                          NOW + timedelta(days=1), catalogue=CATALOGUE)
    lst = then(lst, [resumed])
    e = lst.entry(entry.entry_id)
    assert (e.status, e.status_reason) == ("active", None)
    assert [p.status for p in e.periods] == ["active", "paused", "active"]
    assert reads.administration_chart(lst, TODAY + timedelta(days=1)).lines == ()  # resumed 13:00
    [line] = reads.administration_chart(lst, TODAY + timedelta(days=2)).lines
    assert line.planned_at.time() == time(8)


def test_discontinuation_needs_a_reason_recalls_the_chain_and_is_final():
    lst, entry = prescribed()
    lst = then(lst, ml.pause(lst, ml.Pause(entry_id=entry.entry_id, reason="kvalme"), DOCTOR,
                             NOW))
    assert refused(Invalid, ml.discontinue, lst, ml.Discontinue(entry_id=entry.entry_id), DOCTOR,
                   NOW) == "Discontinuing Paracet tab 500 mg needs a reason."
    refused(Invalid, ml.discontinue, lst, ml.Discontinue(entry_id=entry.entry_id, reason=" "),
            DOCTOR, NOW)
    stopped, recall = ml.discontinue(lst, ml.Discontinue(entry_id=entry.entry_id,
                                                         reason="bivirkninger"), DOCTOR, LATER)
    assert isinstance(stopped, ev.MedicationDiscontinued) and stopped.reason == "bivirkninger"
    assert (recall.reason, recall.prescription_id) == (
        "discontinuation", entry.prescription.prescription_id)
    lst = then(lst, [stopped, recall])
    e = lst.entry(entry.entry_id)
    assert (e.status, e.status_reason, e.prescription.recalled) == (
        "discontinued", "bivirkninger", "discontinuation")
    assert refused(Conflict, ml.discontinue, lst, ml.Discontinue(entry_id=entry.entry_id,
                                                            reason="igjen"), DOCTOR, LATER) == (
        "Paracet tab 500 mg is already discontinued (on 2026-11-29).")
    final = ("Paracet tab 500 mg was discontinued on 2026-11-29: a discontinued medication is "
             "not {}; prescribe it again instead.")
    assert refused(Conflict, ml.resume, lst, ml.Resume(entry_id=entry.entry_id), DOCTOR, LATER,
                   catalogue=CATALOGUE) == final.format("resumed")
    assert refused(Conflict, ml.renew, lst, ml.Renew(entry_id=entry.entry_id), DOCTOR, LATER,
                   catalogue=CATALOGUE) == final.format("renewed")
    assert refused(Conflict, ml.pause, lst, ml.Pause(entry_id=entry.entry_id, reason="x"), DOCTOR,
                   LATER) == final.format("paused")
    assert refused(Conflict, ml.change_dose, lst, ml.ChangeDose(entry_id=entry.entry_id,
                                                           dose=dose(3)), DOCTOR, LATER,
                   catalogue=CATALOGUE) == final.format("given a new dose")
    assert reads.current_list(lst, LATER) == ()


def test_a_change_needs_a_fetch_from_the_prescription_intermediary_less_than_4_hours_old():
    """Requirement 31, where it is switched on: orders and changes (not reading, giving or
    recording another source) need a fresh fetch from RF."""
    four = timedelta(hours=4)
    lst, entry = prescribed()
    never = refused(Conflict, ml.prescribe, lst, ml.Prescribe(product_id="ibux", dose=dose()), DOCTOR,
                    NOW, catalogue=CATALOGUE, fresh_within=four)
    assert never.startswith("The patient's prescriptions have not been fetched from the "
                            "prescription intermediary (RF)")
    refused(Forbidden, ml.record_fetch, lst, ml.RecordFetch(), PHARMACY, NOW)
    refused(Invalid, ml.record_fetch, lst, ml.RecordFetch(fetched_at=NOW + timedelta(minutes=1)),
            NURSE, NOW)
    fetched = ml.record_fetch(lst, ml.RecordFetch(
        fetched_at=NOW - timedelta(hours=3), sources=["rf", "kj"], prescriptions=[
            ev.NationalPrescription(prescription_id=uuid.uuid4(), status="active",
                                    drug=ev.Drug(name="Paracet tab 500 mg", atc="N02BE01"))]),
        NURSE, NOW)
    assert fetched[0].sources == ("rf", "kj")
    lst = then(lst, fetched)
    assert lst.fetched.fetched_at == NOW - timedelta(hours=3)
    assert lst.changes[-1].action == "fetched"
    stop = ml.Discontinue(entry_id=entry.entry_id, reason="ferdig")
    assert ml.discontinue(lst, stop, DOCTOR, NOW, fresh_within=four)
    late = NOW + timedelta(hours=1)
    stale = refused(Conflict, ml.discontinue, lst, stop, DOCTOR, late, fresh_within=four)
    assert stale == ("The patient's prescriptions were last fetched from the prescription "
                     "intermediary (RF) at 10:00 on 29.11.2026, more than 4 hours ago: fetch "
                     "them again before changing the list.")
    for decide, command, kw in (
            (ml.pause, ml.Pause(entry_id=entry.entry_id, reason="x"), {}),
            (ml.renew, ml.Renew(entry_id=entry.entry_id), {"catalogue": CATALOGUE}),
            (ml.change_dose, ml.ChangeDose(entry_id=entry.entry_id, dose=dose(3)),
             {"catalogue": CATALOGUE})):
        refused(Conflict, decide, lst, command, DOCTOR, late, fresh_within=four, **kw)
    # a late report of an older fetch does not replace the newer one
    lst = then(lst, ml.record_fetch(lst, ml.RecordFetch(fetched_at=NOW - timedelta(hours=5)),
                                    NURSE, NOW))
    assert lst.fetched.fetched_at == NOW - timedelta(hours=3)
    # giving a dose needs no fetch
    assert adm.record_administration(lst, adm.RecordAdministration(
        entry_id=entry.entry_id, outcome="given"), NURSE, late)


def test_discontinuing_after_renewals_recalls_only_what_is_still_active():
    lst, entry = prescribed()
    lst = then(lst, ml.renew(lst, ml.Renew(entry_id=entry.entry_id), DOCTOR, NOW,
                             catalogue=CATALOGUE))
    _, *recalls = ml.discontinue(lst, ml.Discontinue(entry_id=entry.entry_id, reason="ferdig"),
                                 DOCTOR, NOW)
    assert [r.prescription_id for r in recalls] == [
        lst.entry(entry.entry_id).prescription.prescription_id]


# --- records from other sources ------------------------------------------------------------------

def test_a_medicine_from_another_source_is_recorded_with_its_source():
    lst = empty()
    [hospital] = ml.record_from_other_source(lst, ml.RecordFromOtherSource(
        source="hospital_discharge", source_detail="Epikrise Ullevål 20.11.2026",
        product_id="old", prescription_id=uuid.UUID(int=7), dose=dose(10, "mg", "22:00"),
        start_on=TODAY - timedelta(days=9)), DOCTOR, NOW, catalogue=CATALOGUE)
    assert (hospital.source, hospital.drug.name, hospital.start_on) == (
        "hospital_discharge", "Gammel tab 10 mg", TODAY - timedelta(days=9))  # expired is fine
    [otc] = ml.record_from_other_source(lst, ml.RecordFromOtherSource(
        source="over_the_counter", name=" Nezeril ", atc="r01aa05", substances=["oksymetazolin"],
        dose=dose(1, "spray", as_needed=True, max_per_day=3, route="nasal")), DOCTOR, NOW,
        catalogue=CATALOGUE)
    assert (otc.drug.product_id, otc.drug.name, otc.drug.atc, otc.prescription_id) == (
        None, "Nezeril", "R01AA05", None)
    lst = then(lst, [hospital, otc])
    e = lst.entry(hospital.entry_id)
    assert (e.source, e.source_detail, e.prescription.prescription_id) == (
        "hospital_discharge", "Epikrise Ullevål 20.11.2026", uuid.UUID(int=7))
    assert e.status_at(NOW - timedelta(days=1)) is None  # planned from when we knew of it
    assert "Name the medicine" in refused(Invalid, ml.record_from_other_source, lst,
                                          ml.RecordFromOtherSource(source="supplement",
                                                                   dose=dose()), DOCTOR, NOW,
                                          catalogue=CATALOGUE)
    assert "ATC code" in refused(Invalid, ml.record_from_other_source, lst, ml.RecordFromOtherSource(
        source="supplement", name="Tran", atc="fish", dose=dose()), DOCTOR, NOW,
        catalogue=CATALOGUE)
    refused(Invalid, ml.record_from_other_source, lst, ml.RecordFromOtherSource(
        source="supplement", product_id="nope", dose=dose()), DOCTOR, NOW, catalogue=CATALOGUE)
