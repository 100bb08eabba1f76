"""The medication list's FHIR R4 view (services.medication.fhir), pure: every resource of a list
built from a realistic history (every ``medication.*`` event type, decided by the domain against
the sample catalogue) parses with the fhir.resources R4B models (R4B = R4 for these types) and
keeps the R4 rules those models do not check; only §6 identifier systems appear; the status
mappings (paused, discontinued, renewed, changed before the start, missed and refused doses);
and the time-bound statuses only when ``now`` is given (``touched``: test_fhir_touched.py; the
shared history: fhir_mapping_support.py)."""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from libs.kernel.identifiers import ALL_SYSTEMS, IdentifierSystem
from services.medication.domain import medication_list as ml
from services.medication.domain.state import MedicationList
from services.medication.fhir import elements, resources
from tests.medication.domain_support import DOCTOR, NURSE, P, dose
from tests.medication.fhir_mapping_support import (
    FULL, IDS, MODELS, OTHER_RESEPT_ID, PRODUCT, Q, RESOURCES, RXNORM, URI, Story, _found, at,
    entry, hpr, request_ids, the, valid,
)

@pytest.mark.parametrize("res", RESOURCES,
                         ids=[f"{r['resourceType']}-{n}" for n, r in enumerate(RESOURCES)])
def test_every_resource_is_valid_r4(res):
    valid(res)
    assert res["resourceType"] in elements.RESOURCE_TYPES and "meta" not in res
    assert res["subject"] == {"reference": f"Patient/{P}"}


def test_the_history_yields_every_resource_type():
    assert {r["resourceType"] for r in RESOURCES} == set(elements.RESOURCE_TYPES) == set(MODELS)
    # entries and the imported statement, prescriptions, administrations, the List
    assert len(RESOURCES) == 6 + 7 + 5 + 1


def test_resource_finds_each_resource_and_nothing_else():
    for res in RESOURCES:
        kind, id_ = res["resourceType"], res["id"]
        assert resources.resource(FULL, kind, id_) == res
        assert resources.resource(FULL, kind, uuid.UUID(id_)) == res
        for other in set(elements.RESOURCE_TYPES) - {kind}:
            assert resources.resource(FULL, other, id_) is None
    assert resources.resource(FULL, "MedicationStatement", "not-a-uuid") is None
    assert resources.resource(FULL, "Medication", IDS["marevan"]) is None
    assert resources.resource(FULL, "List", Q) is None
    assert resources.resources_of(MedicationList.empty(Q)) == []
    assert resources.resource(MedicationList.empty(Q), "List", Q) is None  # nothing on it yet



def test_only_section_6_identifier_systems_are_emitted():
    # an imported statement keeps its source's identifier (a URI); ours have none
    imported = the("MedicationStatement", IDS["imported"])
    ours = [r for r in RESOURCES if r != imported]
    systems = {i["system"] for i in _found(ours, "identifier")}
    assert systems <= ALL_SYSTEMS and systems == {IdentifierSystem.HPR}
    assert not any("identifier" in r for r in ours)  # no system for PLL-id or ReseptID
    assert imported["identifier"] == [{"system": URI, "value": f"urn:uuid:{OTHER_RESEPT_ID}"}]
    codes = {c["system"] for c in _found(ours, "coding")}
    assert codes == {elements.FEST_MERKEVARE, elements.ATC, elements.LOINC}
    assert {c["system"] for c in _found(imported, "coding")} == {RXNORM}


def test_the_medication_is_coded_by_fest_id_and_atc_when_known():
    marevan = the("MedicationStatement", IDS["marevan"])["medicationCodeableConcept"]
    assert marevan == {"coding": [
        {"system": "http://legemiddelverket.no/FEST/LegemiddelMerkevareID",
         "code": PRODUCT["Marevan tab 2,5 mg"], "display": "Marevan tab 2,5 mg"},
        {"system": "http://www.whocc.no/atc", "code": "B01AA03"}], "text": "Marevan tab 2,5 mg"}
    tran = the("MedicationStatement", IDS["tran"])["medicationCodeableConcept"]
    assert tran == {"coding": [{"system": elements.ATC, "code": "A11CB"}], "text": "Tran"}
    for res in RESOURCES:
        if res["resourceType"] != "List":
            assert res["medicationCodeableConcept"]["text"]


# --- MedicationStatement -----------------------------------------------------------------------

def test_statement_statuses_follow_the_entry():
    marevan, ibux, selozok, tran = (the("MedicationStatement", IDS[n])
                                    for n in ("marevan", "ibux", "selozok", "tran"))
    assert (marevan["status"], ibux["status"], selozok["status"], tran["status"]) == (
        "active", "stopped", "on-hold", "active")
    assert "statusReason" not in marevan  # paused, then resumed
    assert ibux["statusReason"] == [{"text": "magesmerter"}]
    assert selozok["statusReason"] == [{"text": "lavt blodtrykk"}]
    assert ibux["effectivePeriod"] == {"start": "2026-11-20",  # discontinued before end_on
                                       "end": "2026-11-24T10:00:00+00:00"}
    assert marevan["effectivePeriod"] == {"start": "2026-11-20"}


def test_statement_says_who_asserted_it_and_where_it_comes_from():
    marevan, selozok, tran = (the("MedicationStatement", IDS[n])
                              for n in ("marevan", "selozok", "tran"))
    assert marevan["dateAsserted"] == "2026-11-20T08:00:00+00:00"
    assert marevan["informationSource"] == hpr(DOCTOR.hpr)
    assert marevan["reasonCode"] == [{"text": "atrieflimmer"}] and "note" not in marevan
    head = request_ids("marevan")[-1]
    assert marevan["derivedFrom"] == [{"reference": f"MedicationRequest/{head}"}]
    assert selozok["note"] == [{"text": "Kilde: epikrise fra sykehus – Epikrise fra Haukeland "
                                        "18.11."}]
    assert selozok["effectivePeriod"] == {"start": "2026-11-18"}
    assert tran["note"] == [{"text": "Kilde: kosttilskudd"}] and "derivedFrom" not in tran


def test_statement_dosage_is_the_dose_in_force():
    marevan, ibux, selozok, tran = (the("MedicationStatement", IDS[n])["dosage"]
                                    for n in ("marevan", "ibux", "selozok", "tran"))
    assert marevan == [{"text": "1,5 tablett kl. 18:00", "timing": {"repeat": {
        "frequency": 1, "period": 1, "periodUnit": "d", "timeOfDay": ["18:00:00"]}},
        "asNeededBoolean": False, "route": {"text": "oral"},
        "doseAndRate": [{"doseQuantity": {"value": 1.5, "unit": "tablett"}}]}]
    assert ibux[0]["asNeededBoolean"] is True and "timing" not in ibux[0]
    assert ibux[0]["maxDosePerPeriod"] == {
        "numerator": {"value": 3.0, "unit": "tablett"},
        "denominator": {"value": 1, "unit": "d", "system": "http://unitsofmeasure.org",
                        "code": "d"}}
    assert ibux[0]["text"] == "1 tablett ved behov, maks 3 per døgn"
    assert selozok[0]["timing"] == {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}}
    assert selozok[0]["additionalInstruction"] == [{"text": "svelges hel"}]
    assert tran[0]["doseAndRate"] == [{"doseQuantity": {"value": 10.0, "unit": "ml"}}]


# --- MedicationRequest -------------------------------------------------------------------------

def test_a_dose_change_completes_the_old_prescription_and_points_back_at_it():
    old, new = (the("MedicationRequest", i) for i in request_ids("marevan"))
    assert (old["status"], new["status"]) == ("completed", "active")
    assert old["statusReason"] == {"text": "Tilbakekalt ved fornying med endring"}
    assert new["priorPrescription"] == {"reference": f"MedicationRequest/{old['id']}"}
    assert "priorPrescription" not in old and "statusReason" not in new
    assert [r["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"]
            for r in (old, new)] == [1, 1.5]
    assert old["intent"] == new["intent"] == "order"
    assert old["authoredOn"] == "2026-11-20T08:00:00+00:00"
    assert old["requester"] == new["requester"] == hpr(DOCTOR.hpr)
    assert old["reasonCode"] == [{"text": "atrieflimmer"}]


def test_a_renewed_prescription_is_completed_and_the_new_one_follows_a_pause():
    reported, renewed = (the("MedicationRequest", i) for i in request_ids("selozok"))
    assert reported["id"] == str(OTHER_RESEPT_ID)
    assert (reported["status"], reported["statusReason"]) == (
        "completed", {"text": "Tilbakekalt ved fornying"})
    assert renewed["priorPrescription"] == {"reference": f"MedicationRequest/{OTHER_RESEPT_ID}"}
    assert (renewed["status"], renewed["statusReason"]) == ("on-hold", {"text": "lavt blodtrykk"})
    # the other prescriber's prescription: reported, entered by our doctor, author unknown
    assert reported["reportedBoolean"] is True and reported["recorder"] == hpr(DOCTOR.hpr)
    assert "requester" not in reported and "authoredOn" not in reported
    assert "reportedBoolean" not in renewed and renewed["requester"] == hpr(DOCTOR.hpr)
    assert renewed["authoredOn"] == "2026-11-24T09:00:00+00:00"


def test_discontinuation_stops_the_prescription_with_the_reason():
    [ibux] = (the("MedicationRequest", i) for i in request_ids("ibux"))
    assert ibux["status"] == "stopped"
    assert ibux["statusReason"] == {"text": "Tilbakekalt ved seponering: magesmerter"}


def test_a_prescription_keeps_the_dose_it_was_issued_with_also_before_the_start():
    """Levaxin's dose was changed before it started: both steps take effect at the start, yet
    the first prescription still carries the first dose."""
    first, second = (the("MedicationRequest", i) for i in request_ids("levaxin"))
    assert [r["dosageInstruction"][0]["text"] for r in (first, second)] == [
        "1 tablett kl. 07:00", "2 tablett kl. 07:00"]
    assert (first["status"], second["status"]) == ("completed", "active")


def test_an_entry_without_prescription_has_no_request():
    assert entry("tran").prescriptions == ()
    assert not [r for r in RESOURCES if r["resourceType"] == "MedicationRequest"
                and r["medicationCodeableConcept"]["text"] == "Tran"]


# --- MedicationAdministration ------------------------------------------------------------------

def test_administration_outcomes():
    given, device, refused, missed, as_needed = (
        the("MedicationAdministration", IDS[n])
        for n in ("given", "device", "refused", "missed", "as_needed"))
    assert [a["status"] for a in (given, device, refused, missed, as_needed)] == [
        "completed", "completed", "not-done", "not-done", "completed"]
    assert refused["statusReason"] == [{"text": "Pasienten nektet"}]
    assert missed["statusReason"] == [{"text": "Ikke gitt"}]
    assert "statusReason" not in given and "dosage" not in missed
    assert given["dosage"] == {"route": {"text": "oral"}, "dose": {"value": 1.0,
                                                                   "unit": "tablett"}}
    assert given["effectiveDateTime"] == "2026-11-20T17:30:00+00:00"
    assert given["performer"] == [{"actor": hpr(NURSE.hpr)}]
    assert device["performer"] == [{"actor": {"type": "Device",
                                              "display": "Medisindispenser dispenser-42"}}]
    assert given["note"] == [{"text": "tatt med vann"}, {"text": "Planlagt 20.11.2026 kl. 18:00"}]
    assert "note" not in as_needed


def test_administration_names_the_prescription_in_force_then():
    old, new = request_ids("marevan")
    given, refused = (the("MedicationAdministration", IDS[n]) for n in ("given", "refused"))
    assert given["request"] == {"reference": f"MedicationRequest/{old}"}
    assert refused["request"] == {"reference": f"MedicationRequest/{new}"}
    assert the("MedicationAdministration", IDS["device"])["request"] == {
        "reference": f"MedicationRequest/{OTHER_RESEPT_ID}"}


# --- List --------------------------------------------------------------------------------------

def test_the_list_holds_every_entry_not_discontinued():
    pll = the("List", P)
    assert pll["id"] == str(P)
    assert (pll["status"], pll["mode"], pll["title"]) == (
        "current", "working", "Pasientens legemiddelliste")
    assert pll["code"] == {"coding": [{"system": "http://loinc.org", "code": "10160-0",
                                       "display": "History of Medication use Narrative"}]}
    assert [x["item"]["reference"] for x in pll["entry"]] == [
        f"MedicationStatement/{IDS[n]}" for n in ("marevan", "selozok", "tran", "levaxin")]
    assert pll["entry"][0]["item"]["display"] == "Marevan tab 2,5 mg"
    assert pll["entry"][0]["date"] == "2026-11-20T08:00:00+00:00"
    assert pll["date"] == "2026-11-24T15:05:00+00:00"  # the Levaxin dose change


# --- time-bound statuses only with now -----------------------------------------------------------

def test_now_decides_intended_and_completed_and_what_is_on_the_list():
    s = Story(Q)
    later = s.prescribe("Paracet tab 500 mg", dose(1, "tablett", "08:00"), at(20, 9),
                        start_on=date(2026, 11, 22), end_on=date(2026, 11, 25))
    pll_id = str(Q)
    assert the("MedicationStatement", later, s.lst)["status"] == "active"
    cases = [(at(21, 12), "intended", True), (at(22, 0), "active", True),
             (at(25, 23, 59), "active", True), (at(26, 0), "completed", False)]
    for now, status, listed in cases:
        assert the("MedicationStatement", later, s.lst, now)["status"] == status, now
        pll = the("List", pll_id, s.lst, now)
        assert bool(pll.get("entry")) is listed, now
    assert the("MedicationStatement", later, s.lst)["effectivePeriod"] == {
        "start": "2026-11-22", "end": "2026-11-25"}
    assert the("List", pll_id, s.lst)["entry"]  # without now: decided from the state only
    s.do(ml.pause, ml.Pause(entry_id=later, reason="pause"), DOCTOR, at(21, 9))
    assert the("MedicationStatement", later, s.lst, at(21, 12))["status"] == "on-hold"
    assert the("MedicationStatement", later, s.lst, at(26, 1))["status"] == "completed"
    s.do(ml.discontinue, ml.Discontinue(entry_id=later, reason="ikke aktuelt"), DOCTOR,
         at(21, 10))
    stopped = the("MedicationStatement", later, s.lst, at(26, 1))
    assert stopped["status"] == "stopped"
    assert stopped["effectivePeriod"] == {"start": "2026-11-22",
                                          "end": "2026-11-21T23:00:00+00:00"}  # from its start
    assert "entry" not in the("List", pll_id, s.lst)
    assert [r["resourceType"] for r in resources.resources_of(s.lst, at(26, 1))] == [
        "MedicationStatement", "MedicationRequest", "List"]
