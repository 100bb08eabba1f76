"""The medication list, pure (part 2): what actually happened apart from what was prescribed
(administration, requirement 38), dispensing, reconciliation and review (34), the reads (current
list, administration chart, history) and the fold, also as of a past instant. Part 1:
``test_domain_list.py``."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta

import pytest

from libs.kernel.time import OSLO
from libs.kernel.errors import Conflict, Forbidden, Invalid, NotFound
from services.medication.domain import administration as adm
from services.medication import contract as ev
from services.medication.domain import evolve as fl
from services.medication.domain import medication_list as ml
from services.medication.domain import reads
from services.medication.domain import reconciliation as rec
from services.medication.domain import state as st
from services.medication.manifest import MANIFEST
from tests.medication.domain_support import (
    CATALOGUE, DEVICE, DOCTOR, NOW, NURSE, OTHER_DOCTOR, P, PHARMACY, TODAY, dose, empty,
    prescribed, then,
)
from tests.medication.domain_support import EVENING, LATER, TOMORROW_8, given
from tests.support.refusals import refused


# --- administration (requirement 38) -----------------------------------------------------------

def test_a_planned_dose_is_given_missed_or_refused():
    lst, entry = prescribed(d=dose(2, "tablett", "08:00", "20:00"))
    [a] = given(lst, entry, note="tatt med mat")
    assert (a.outcome, a.scheduled_for, a.administered_at, a.amount, a.by.kind, a.by.id) == (
        "given", EVENING, LATER, 2, "nurse", NURSE.hpr)
    lst = then(lst, [a])
    assert refused(Conflict, given, lst, entry) == (
        "The 20:00 on 29.11.2026 dose of Paracet tab 500 mg is already recorded as given.")
    refused(Conflict, given, lst, entry, outcome="missed")
    [m] = given(lst, entry, at=TOMORROW_8, now=TOMORROW_8 + timedelta(hours=1),
                outcome="missed", note="ikke hjemme")
    lst = then(lst, [m])
    [late] = given(lst, entry, at=TOMORROW_8, now=TOMORROW_8 + timedelta(hours=3), amount=1)
    assert late.amount == 1
    lst = then(lst, [late])
    chart = reads.administration_chart(lst, TODAY + timedelta(days=1))
    assert [(x.planned_at.time(), x.outcome) for x in chart.lines] == [
        (time(8), "given"), (time(20), None)]
    assert refused(Invalid, given, lst, entry, at=EVENING + timedelta(minutes=30)) == (
        "20:30 is not a planned time for Paracet tab 500 mg that day (planned: 20:00).")
    assert "scheduled_for" in refused(Invalid, given, lst, entry, at=None, outcome="refused")
    assert refused(Invalid, given, lst, entry, at=TOMORROW_8 + timedelta(hours=12), now=LATER,
                   outcome="missed") == "A dose is not missed before its planned time."
    assert refused(Invalid, given, lst, entry, at=TOMORROW_8 + timedelta(hours=12),
                   outcome="refused", amount=2, now=TOMORROW_8 + timedelta(hours=13)) == (
        "A refused dose has no amount given.")
    refused(Invalid, given, lst, entry, at=TOMORROW_8 + timedelta(hours=12), amount=0,
            now=TOMORROW_8 + timedelta(hours=13))
    assert refused(Invalid, adm.record_administration, lst, adm.RecordAdministration(
        entry_id=entry.entry_id, outcome="given", administered_at=LATER + timedelta(hours=1)),
        NURSE, LATER) == "administered_at is in the future."
    [extra] = adm.record_administration(lst, adm.RecordAdministration(
        entry_id=entry.entry_id, outcome="given", note="ekstra dose"), NURSE, LATER)
    assert extra.scheduled_for is None and extra.amount == 2


def test_a_paused_discontinued_or_not_yet_started_medication_is_not_given():
    lst, entry = prescribed()
    assert refused(Conflict, given, lst, entry, at=NOW - timedelta(hours=5),
                   now=NOW) == "Paracet tab 500 mg had not started at 08:00 on 29.11.2026."
    lst = then(lst, ml.pause(lst, ml.Pause(entry_id=entry.entry_id, reason="lavt BT"), DOCTOR,
                             NOW + timedelta(hours=1)))
    assert refused(Conflict, given, lst, entry) == (
        "Paracet tab 500 mg is paused: a paused medication is not given.")
    # the evening dose of the day before the pause can still be recorded afterwards
    lst2, e2 = prescribed(at=NOW - timedelta(days=1))
    lst2 = then(lst2, ml.pause(lst2, ml.Pause(entry_id=e2.entry_id, reason="lavt BT"), DOCTOR,
                               NOW))
    assert given(lst2, e2, at=EVENING - timedelta(days=1), now=NOW)
    lst2 = then(lst2, ml.resume(lst2, ml.Resume(entry_id=e2.entry_id), DOCTOR,
                                NOW + timedelta(days=1), catalogue=CATALOGUE))
    assert refused(Conflict, given, lst2, e2, at=EVENING, now=NOW + timedelta(days=1)) == (
        "Paracet tab 500 mg was paused at 20:00 on 29.11.2026: a paused medication is not "
        "given.")
    lst = then(lst, ml.discontinue(lst, ml.Discontinue(entry_id=entry.entry_id, reason="x"),
                                   DOCTOR, NOW + timedelta(hours=2)))
    assert refused(Conflict, given, lst, entry) == (
        "Paracet tab 500 mg was discontinued on 2026-11-29: a discontinued medication is not "
        "given.")
    lst3, e3 = prescribed(end_on=TODAY)
    assert refused(Conflict, given, lst3, e3, at=TOMORROW_8, now=TOMORROW_8) == (
        "Paracet tab 500 mg ended on 2026-11-29: it is not given after that.")


def test_an_as_needed_medication_is_given_up_to_its_maximum_per_day():
    lst, entry = prescribed(d=dose(1, "tablett", as_needed=True, max_per_day=3))

    def prn(lst, at, **kw):
        return adm.record_administration(lst, adm.RecordAdministration(
            entry_id=entry.entry_id, administered_at=at, outcome=kw.pop("outcome", "given"),
            **kw), NURSE, max(at, LATER))

    lst = then(lst, prn(lst, NOW + timedelta(hours=1), amount=2))
    lst = then(lst, prn(lst, NOW + timedelta(hours=2), outcome="refused"))
    assert refused(Conflict, prn, lst, NOW + timedelta(hours=3), amount=2) == (
        "Giving 2 tablett of Paracet tab 500 mg would exceed its maximum of 3 tablett per day "
        "(2 tablett given that day).")
    lst = then(lst, prn(lst, NOW + timedelta(hours=3)))
    refused(Conflict, prn, lst, NOW + timedelta(hours=4))
    assert prn(lst, datetime(2026, 11, 29, 23, 30, tzinfo=UTC))  # 00:30 on the next Oslo day
    assert "no planned times" in refused(Invalid, given, lst, entry)
    assert "not missed" in refused(Invalid, prn, lst, NOW + timedelta(hours=4), outcome="missed")
    chart = reads.administration_chart(lst, TODAY)
    assert [(x.planned_at, x.outcome, x.amount) for x in chart.lines] == [
        (None, "given", 2), (None, "refused", None), (None, "given", 1)]


def test_a_medicine_dispenser_records_administration_idempotently():
    lst, entry = prescribed()
    assert "device_event_id" in refused(Invalid, given, lst, entry, by=DEVICE)
    [a] = given(lst, entry, by=DEVICE, device_event_id="evt-1", outcome="missed")
    assert (a.by.kind, a.by.id, a.by.unit, a.device_event_id) == (
        "device", "dispenser-42", None, "evt-1")
    lst = then(lst, [a])
    assert given(lst, entry, by=DEVICE, device_event_id="evt-1", outcome="missed") == []
    assert given(lst, entry, by=DEVICE, device_event_id="evt-2")
    assert refused(Forbidden, given, lst, entry, by=PHARMACY) == (
        "A pharmacy records dispensing, not administration.")


# --- dispensing ----------------------------------------------------------------------------------

def test_a_dispensing_is_recorded_on_a_prescription_of_the_entry():
    lst, entry = prescribed()
    first = entry.prescription.prescription_id
    [d] = adm.record_dispensing(lst, adm.RecordDispensing(entry_id=entry.entry_id, quantity=100,
                                                        package="123456"), PHARMACY, LATER)
    assert (d.prescription_id, d.pharmacy, d.by.kind, d.dispensed_at, d.quantity) == (
        first, PHARMACY.orgnr, "pharmacy", LATER, 100)
    lst = then(lst, [d])
    lst = then(lst, ml.renew(lst, ml.Renew(entry_id=entry.entry_id), DOCTOR, LATER,
                             catalogue=CATALOGUE))
    [old] = adm.record_dispensing(lst, adm.RecordDispensing(
        entry_id=entry.entry_id, prescription_id=first, pharmacy="974600978",
        dispensed_at=NOW), NURSE, LATER)  # a recalled one still reports what happened
    assert (old.prescription_id, old.pharmacy, old.by.kind) == (first, "974600978", "nurse")
    assert "No such prescription" in refused(NotFound, adm.record_dispensing, lst, adm.RecordDispensing(
        entry_id=entry.entry_id, prescription_id=uuid.uuid4()), PHARMACY, LATER)
    refused(Invalid, adm.record_dispensing, lst, adm.RecordDispensing(
        entry_id=entry.entry_id, dispensed_at=LATER + timedelta(hours=1)), PHARMACY, LATER)
    refused(Invalid, adm.record_dispensing, lst, adm.RecordDispensing(
        entry_id=entry.entry_id, quantity=0), PHARMACY, LATER)
    assert "pharmacy" in refused(Invalid, adm.record_dispensing, lst, adm.RecordDispensing(
        entry_id=entry.entry_id, pharmacy="123"), NURSE, LATER)
    assert refused(Forbidden, adm.record_dispensing, lst, adm.RecordDispensing(
        entry_id=entry.entry_id), DEVICE, LATER) == (
        "A medicine dispenser records administration, not dispensing.")
    [otc] = ml.record_from_other_source(lst, ml.RecordFromOtherSource(
        source="supplement", name="Tran", dose=dose(5, "ml")), DOCTOR, NOW, catalogue=CATALOGUE)
    lst = then(lst, [otc])
    assert refused(Conflict, adm.record_dispensing, lst, adm.RecordDispensing(
        entry_id=otc.entry_id), PHARMACY, LATER) == "Tran has no prescription to dispense on."


# --- reconciliation and review (requirement 34) ------------------------------------------------

def test_reconciliation_makes_versions_of_medicines_in_use_and_a_review_refers_to_one():
    lst, entry = prescribed()
    c = rec.Reconcile(lines=[
        rec.ReconcileLine(entry_id=entry.entry_id, source="patient", note="tar bare om kvelden",
                         dose=dose(1, "tablett", "20:00")),
        rec.ReconcileLine(product_id="ibux", source="next_of_kin", dose_text="av og til"),
        rec.ReconcileLine(name="Tran", source="patient"),
    ], note="hjemmebesøk")
    [r1] = rec.reconcile(lst, c, NURSE, NOW, catalogue=CATALOGUE)
    assert r1.version == 1 and r1.by.kind == "nurse"
    mine, ibux, tran = r1.lines
    assert (mine.drug.name, mine.entry_id, mine.dose.times_of_day, mine.source) == (
        "Paracet tab 500 mg", entry.entry_id, (time(20),), "patient")
    assert (ibux.drug.product_id, ibux.dose, ibux.dose_text) == ("ibux", None, "av og til")
    assert (tran.drug.name, tran.drug.product_id) == ("Tran", None)
    lst = then(lst, [r1])
    assert lst.entry(entry.entry_id).dose.times_of_day == (time(8), time(20))  # list unchanged
    [from_entry] = rec.reconcile(lst, rec.Reconcile(lines=[rec.ReconcileLine(
        entry_id=entry.entry_id, source="medication_list")]), DOCTOR, NOW, catalogue=CATALOGUE)
    assert from_entry.version == 2 and from_entry.lines[0].dose == entry.dose
    refused(NotFound, rec.reconcile, lst, rec.Reconcile(lines=[rec.ReconcileLine(
        entry_id=uuid.uuid4(), source="patient")]), NURSE, NOW, catalogue=CATALOGUE)
    assert "lines[0]: name the medicine" in refused(Invalid, rec.reconcile, lst, rec.Reconcile(
        lines=[rec.ReconcileLine(source="patient")]), NURSE, NOW, catalogue=CATALOGUE)
    refused(Invalid, rec.reconcile, lst, rec.Reconcile(lines=[rec.ReconcileLine(
        name="x", source="patient", dose=dose(0))]), NURSE, NOW, catalogue=CATALOGUE)
    refused(Forbidden, rec.reconcile, lst, rec.Reconcile(), DEVICE, NOW, catalogue=CATALOGUE)

    review = rec.ReviewMedication(reconciliation_version=1, summary="Seponerer ibux.",
                                 next_review_on=TODAY + timedelta(days=180))
    assert refused(Forbidden, rec.review, lst, review, NURSE, NOW) == (
        "Only a prescriber reviews the medication.")
    [rv] = rec.review(lst, review, DOCTOR, NOW)
    assert (rv.reconciliation_id, rv.reconciliation_version, rv.summary) == (
        r1.reconciliation_id, 1, "Seponerer ibux.")
    assert refused(NotFound, rec.review, lst, review.model_copy(update={"reconciliation_version": 5}),
                   DOCTOR, NOW) == "No reconciled list version 5 for this patient."
    assert "summary" in refused(Invalid, rec.review, lst, review.model_copy(
        update={"summary": " "}), DOCTOR, NOW)
    refused(Invalid, rec.review, lst, review.model_copy(
        update={"next_review_on": TODAY - timedelta(days=1)}), DOCTOR, NOW)
    lst = then(lst, [from_entry, rv])
    assert refused(Conflict, rec.review, lst, review, DOCTOR, NOW) == (
        "Reconciled list version 1 is superseded by version 2: review the newest.")
    assert [r.version for r in lst.reconciliations] == [1, 2]
    assert lst.reviews[0].reconciliation_version == 1


# --- reads ---------------------------------------------------------------------------------------

def test_the_current_list_is_what_the_patient_should_take_now():
    lst, paracet = prescribed()
    lst, ibux = prescribed(lst, "ibux", dose(1, "tablett", "08:00"), end_on=TODAY)
    lst, selozok = prescribed(lst, "selozok", dose(1, "tablett", "08:00"))
    lst, norvasc = prescribed(lst, "norvasc", dose(1, "tablett", "08:00"))
    lst = then(lst, ml.pause(lst, ml.Pause(entry_id=selozok.entry_id, reason="lavt BT"), DOCTOR,
                             NOW))
    lst = then(lst, ml.discontinue(lst, ml.Discontinue(entry_id=norvasc.entry_id,
                                                       reason="ødemer"), DOCTOR, NOW))
    assert [e.drug.name for e in reads.current_list(lst, NOW)] == [
        "Paracet tab 500 mg", "Ibux tab 400 mg", "Selo-Zok tab 50 mg"]
    tomorrow = [(e.drug.name, e.status) for e in reads.current_list(lst, TOMORROW_8)]
    assert tomorrow == [("Paracet tab 500 mg", "active"), ("Selo-Zok tab 50 mg", "paused")]


def test_the_chart_is_planned_against_given_missed_and_refused_for_an_oslo_day():
    lst, paracet = prescribed(d=dose(2, "tablett", "08:00", "20:00"),
                              at=NOW - timedelta(days=2))
    lst, selozok = prescribed(lst, "selozok", dose(1, "tablett", times_per_day=1),
                              at=NOW - timedelta(days=2))
    morning = datetime(2026, 11, 29, 7, tzinfo=UTC)
    lst = then(lst, given(lst, paracet, at=morning, now=NOW))
    lst = then(lst, given(lst, selozok, at=morning, now=NOW, outcome="refused",
                          note="kvalm"))
    lst = then(lst, given(lst, paracet, at=EVENING - timedelta(days=1), now=NOW,
                          outcome="missed"))
    chart = reads.administration_chart(lst, TODAY)
    assert chart.day == TODAY
    rows = [(x.drug, x.planned_at.astimezone(OSLO).strftime("%H:%M"), x.outcome, x.amount,
             x.note) for x in chart.lines]
    assert rows == [("Paracet tab 500 mg", "08:00", "given", 2, None),
                    ("Selo-Zok tab 50 mg", "08:00", "refused", None, "kvalm"),
                    ("Paracet tab 500 mg", "20:00", None, None, None)]
    assert chart.lines[0].by.id == NURSE.hpr and chart.lines[0].dose.amount == 2
    yesterday = reads.administration_chart(lst, TODAY - timedelta(days=1))
    assert [(x.planned_at.hour, x.outcome) for x in yesterday.lines] == [
        (8, None), (8, None), (20, "missed")]


def test_the_chart_keeps_two_planned_doses_on_a_daylight_saving_day():
    lst, entry = prescribed(d=dose(1, "tablett", "08:00", "20:00"),
                            at=datetime(2026, 3, 27, 12, tzinfo=UTC))
    chart = reads.administration_chart(lst, date(2026, 3, 29))  # clocks go forward at 02:00
    assert [x.planned_at.astimezone(UTC).hour for x in chart.lines] == [6, 18]


def test_what_was_actually_taken_is_kept_apart_from_what_was_prescribed():
    lst, entry = prescribed()
    taken = reads.actually_taken(lst)[entry.entry_id]
    assert (taken.last_given_at, taken.last_dispensed_at) == (None, None)
    lst = then(lst, given(lst, entry))
    lst = then(lst, adm.record_dispensing(lst, adm.RecordDispensing(entry_id=entry.entry_id,
                                                                  dispensed_at=NOW),
                                         PHARMACY, LATER))
    taken = reads.actually_taken(lst)[entry.entry_id]
    assert (taken.last_given_at, taken.last_dispensed_at) == (LATER, NOW)
    assert lst.entry(entry.entry_id).status == "active"


def test_the_history_says_who_changed_what_when_and_why():
    lst, entry = prescribed(indication="smerter")
    lst = then(lst, ml.change_dose(lst, ml.ChangeDose(
        entry_id=entry.entry_id, dose=dose(2, "tablett", "08:00"), reason="mer smerter"),
        OTHER_DOCTOR, NOW + timedelta(hours=1), catalogue=CATALOGUE))
    lst = then(lst, given(lst, entry, at=TOMORROW_8, now=TOMORROW_8))
    lst = then(lst, ml.discontinue(lst, ml.Discontinue(entry_id=entry.entry_id,
                                                       reason="smertefri"), DOCTOR, LATER))
    rows = [(c.action, c.by.id, c.at, c.reason, c.drug) for c in reads.history(lst)]
    name = "Paracet tab 500 mg"
    assert rows == [
        ("prescribed", DOCTOR.hpr, NOW, "smerter", name),
        ("dose_changed", OTHER_DOCTOR.hpr, NOW + timedelta(hours=1), "mer smerter", name),
        ("recalled", OTHER_DOCTOR.hpr, NOW + timedelta(hours=1), "renewal_with_change", name),
        ("discontinued", DOCTOR.hpr, LATER, "smertefri", name),
        ("recalled", DOCTOR.hpr, LATER, "discontinuation", name),
    ]  # an administration is not a change of the list
    assert reads.history(lst)[1].detail == "2 tablett kl. 08:00"
    assert reads.history(lst, uuid.uuid4()) == ()


# --- fold ----------------------------------------------------------------------------------------

def _story() -> list:
    """A GP prescribes, home care gives doses, the GP discontinues with a reason."""
    events, lst = [], empty()

    def do(decide, *args, **kw):
        nonlocal lst
        out = decide(lst, *args, **kw)
        events.extend(out)
        lst = then(lst, out)
        return out

    [p] = do(ml.prescribe, ml.Prescribe(product_id="marevan", dose=dose(1, "tablett", "18:00")),
             DOCTOR, NOW - timedelta(days=3), catalogue=CATALOGUE)
    do(ml.prescribe, ml.Prescribe(product_id="paracet", dose=dose(
        1, "tablett", as_needed=True, max_per_day=4)), DOCTOR, NOW - timedelta(days=3),
        catalogue=CATALOGUE)
    entry = lst.entry(p.entry_id)
    do(adm.record_administration, adm.RecordAdministration(
        entry_id=entry.entry_id, outcome="given",
        scheduled_for=datetime(2026, 11, 27, 17, tzinfo=UTC)), NURSE, NOW - timedelta(days=2))
    do(adm.record_dispensing, adm.RecordDispensing(entry_id=entry.entry_id), PHARMACY,
       NOW - timedelta(days=2))
    do(rec.reconcile, rec.Reconcile(lines=[rec.ReconcileLine(entry_id=entry.entry_id,
                                                          source="patient")]), NURSE,
       NOW - timedelta(days=1), catalogue=CATALOGUE)
    do(rec.review, rec.ReviewMedication(reconciliation_version=1, summary="OK"), DOCTOR,
       NOW - timedelta(days=1))
    do(ml.pause, ml.Pause(entry_id=entry.entry_id, reason="høy INR"), DOCTOR,
       NOW - timedelta(hours=5))
    do(ml.resume, ml.Resume(entry_id=entry.entry_id), DOCTOR, NOW - timedelta(hours=4),
       catalogue=CATALOGUE)
    do(ml.renew, ml.Renew(entry_id=entry.entry_id), DOCTOR, NOW - timedelta(hours=3),
       catalogue=CATALOGUE)
    do(ml.change_dose, ml.ChangeDose(entry_id=entry.entry_id, dose=dose(2, "tablett", "18:00")),
       DOCTOR, NOW - timedelta(hours=2), catalogue=CATALOGUE)
    do(ml.discontinue, ml.Discontinue(entry_id=entry.entry_id, reason="blødning"), DOCTOR, NOW)
    do(ml.record_from_other_source, ml.RecordFromOtherSource(
        source="over_the_counter", product_id="ibux", dose=dose(1, "tablett", as_needed=True,
                                                                 max_per_day=3)), DOCTOR, LATER,
       catalogue=CATALOGUE)
    return events


def test_fold_replays_the_stream_and_as_of_reads_the_list_at_a_past_instant():
    events = _story()
    assert {type(e) for e in events} >= {
        ev.MedicationPrescribed, ev.MedicationAdministered, ev.MedicationDispensed,
        ev.MedicationReconciled, ev.MedicationReviewed, ev.MedicationPaused,
        ev.MedicationResumed, ev.PrescriptionRenewed, ev.PrescriptionRecalled, ev.DoseChanged,
        ev.MedicationDiscontinued, ev.MedicationRecordedFromOtherSource, ev.WarningsRecorded}
    lst = fl.fold(P, events)
    assert lst.version == len(events)
    warfarin = lst.entries[0]
    assert warfarin.status == "discontinued" and len(warfarin.prescriptions) == 3
    before = fl.as_of(P, events, NOW - timedelta(minutes=1))
    assert before.entry(warfarin.entry_id).status == "active"
    assert before.entry(warfarin.entry_id).dose.amount == 2
    assert [e.drug.name for e in reads.current_list(before, NOW - timedelta(minutes=1))] == [
        "Marevan tab 2,5 mg", "Paracet tab 500 mg"]
    at_dose = fl.as_of(P, events, NOW - timedelta(days=2))
    assert at_dose.entry(warfarin.entry_id).dose.amount == 1
    assert fl.as_of(P, events, NOW - timedelta(days=4)) == st.MedicationList.empty(P)
    assert fl.as_of(P, events, LATER) == lst


def test_every_event_is_registered_on_medication_events_and_survives_the_wire():
    for e in _story():
        assert e.topic == "medication.events" and e.event_type.startswith("medication.")
        assert MANIFEST.registry().payload_type(e.event_type) is type(e)
        assert type(e).model_validate_json(e.model_dump_json()) == e
    assert ev.stream_of(P) == f"medication-{P}"


def test_a_refusal_is_a_kernel_kind_without_a_status():
    exc = Conflict("x")
    assert (exc.kind, exc.message, exc.details) == ("conflict", "x", ())
    assert not hasattr(exc, "status")
    with pytest.raises(Conflict):
        raise exc
