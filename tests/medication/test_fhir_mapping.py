"""The medication list's FHIR R4 view (services.medication.fhir), pure: every resource of a list
built from a realistic history (every ``medication.*`` event type, decided by the domain against
the sample catalogue) parses with the fhir.resources R4B models (R4B = R4 for these types) and
keeps the R4 rules those models do not check; only §6 identifier systems appear; the status
mappings (paused, discontinued, renewed, changed before the start, missed and refused doses);
the time-bound statuses only when ``now`` is given; and ``touched`` names exactly the resources
each event changes, for every registered ``medication.*`` event type."""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime
from typing import Any, ClassVar

import pytest
from fhir.resources.R4B.list import List as ListResource
from fhir.resources.R4B.medicationadministration import MedicationAdministration
from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.medicationstatement import MedicationStatement

from libs.kernel.identifiers import ALL_SYSTEMS, IdentifierSystem
from libs.kernel.time import OSLO
from libs.events.registry import EventPayload
from services.medication.fhir import elements, resources
from services.medication.fhir import touched as touches
from services.medication.catalogue import sample_catalogue
from services.medication.domain import administration as adm
from services.medication import contract as ev
from services.medication.domain import evolve as fl
from services.medication.domain import medication_list as ml
from services.medication.domain import reconciliation as rec
from services.medication.catalogue.adapter import FestCatalogue
from services.medication.domain.state import MedicationList
from services.medication.manifest import MANIFEST
from tests.medication.domain_support import DEVICE, DOCTOR, NURSE, P, PHARMACY, dose

CATALOGUE = FestCatalogue(sample_catalogue())
PRODUCT = {p.name_form_strength: p.id for p in CATALOGUE.catalogue.products.values()}
Q = uuid.UUID("0190f0a0-0000-7000-8000-00000000f0b2")
OTHER_RESEPT_ID = uuid.UUID("0190f0a0-0000-7000-8000-00000000f0c3")
MODELS: dict[str, Any] = {"MedicationStatement": MedicationStatement,
                          "MedicationRequest": MedicationRequest,
                          "MedicationAdministration": MedicationAdministration,
                          "List": ListResource}
STATUS = {  # R4 required bindings the models do not check
    "MedicationStatement": {"active", "completed", "entered-in-error", "intended", "stopped",
                            "on-hold", "unknown", "not-taken"},
    "MedicationRequest": {"active", "on-hold", "cancelled", "completed", "entered-in-error",
                          "stopped", "draft", "unknown"},
    "MedicationAdministration": {"in-progress", "not-done", "on-hold", "completed",
                                 "entered-in-error", "stopped", "unknown"},
    "List": {"current", "retired", "entered-in-error"},
}
REQUEST_INTENT = {"proposal", "plan", "order", "original-order", "reflex-order", "filler-order",
                  "instance-order", "option"}
MEDICATION_EVENTS = {t for t in MANIFEST.registry().payloads if t.startswith("medication.")}


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """An Oslo wall-clock time in November 2026."""
    return datetime(2026, 11, day, hour, minute, tzinfo=OSLO)


# --- a realistic history with every event type ---------------------------------------------------

class Story:
    """Decides commands against the list so far and folds what they return."""

    def __init__(self, patient_id: uuid.UUID = P):
        self.lst = MedicationList.empty(patient_id)
        self.events: list[EventPayload] = []

    def do(self, decide, command, by, now: datetime, **kw) -> list[EventPayload]:
        events = decide(self.lst, command, by, now, **kw)
        assert events, command
        for e in events:
            self.lst = fl.evolve(self.lst, e)
        self.events += events
        return events

    def prescribe(self, name: str, d, now: datetime, **kw) -> uuid.UUID:
        [e, *_] = self.do(ml.prescribe, ml.Prescribe(product_id=PRODUCT[name], dose=d, **kw),
                          DOCTOR, now, catalogue=CATALOGUE)
        return e.entry_id

    def give(self, entry_id, by, now: datetime, outcome: str = "given", **kw) -> uuid.UUID:
        [e] = self.do(adm.record_administration, adm.RecordAdministration(
            entry_id=entry_id, outcome=outcome, **kw), by, now)
        return e.administration_id


def _history() -> tuple[Story, dict[str, uuid.UUID]]:
    s, ids = Story(), {}
    ids["marevan"] = s.prescribe("Marevan tab 2,5 mg", dose(1, "tablett", "18:00"), at(20, 9),
                                 indication="atrieflimmer")
    ids["ibux"] = s.prescribe(  # interacts with warfarin: WarningsRecorded with the override
        "Ibux tab 400 mg", dose(1, "tablett", as_needed=True, max_per_day=3), at(20, 9, 5),
        end_on=date(2026, 11, 27), indication="ryggsmerter",
        override_reason="kortvarig bruk, INR følges")
    [e, *_] = s.do(ml.record_from_other_source, ml.RecordFromOtherSource(
        source="hospital_discharge", source_detail="Epikrise fra Haukeland 18.11.",
        product_id=PRODUCT["Selo-Zok depottab 50 mg"], prescription_id=OTHER_RESEPT_ID,
        dose=dose(1, "tablett", times_per_day=1, instructions="svelges hel"),
        indication="hypertensjon", start_on=date(2026, 11, 18)), DOCTOR, at(20, 9, 10),
        catalogue=CATALOGUE)
    ids["selozok"] = e.entry_id
    [e, *_] = s.do(ml.record_from_other_source, ml.RecordFromOtherSource(
        source="supplement", name="Tran", atc="A11CB", dose=dose(5, "ml", times_per_day=1)),
        DOCTOR, at(20, 9, 15), catalogue=CATALOGUE)
    ids["tran"] = e.entry_id
    ids["given"] = s.give(ids["marevan"], NURSE, at(20, 18, 30), scheduled_for=at(20, 18),
                          note="tatt med vann")
    ids["device"] = s.give(ids["selozok"], DEVICE, at(21, 8, 5), scheduled_for=at(21, 8),
                           device_event_id="evt-1")
    s.do(adm.record_dispensing, adm.RecordDispensing(entry_id=ids["marevan"], quantity=100),
         PHARMACY, at(21, 8, 30))
    s.do(ml.change_dose, ml.ChangeDose(  # warfarin with ibuprofen on the list: an override
        entry_id=ids["marevan"], dose=dose(1.5, "tablett", "18:00"), reason="INR høy",
        override_reason="kortvarig"), DOCTOR, at(21, 10), catalogue=CATALOGUE)
    ids["refused"] = s.give(ids["marevan"], NURSE, at(21, 18, 30), "refused",
                            scheduled_for=at(21, 18))
    ids["missed"] = s.give(ids["selozok"], NURSE, at(22, 8, 30), "missed",
                           scheduled_for=at(22, 8))
    ids["as_needed"] = s.give(ids["ibux"], NURSE, at(22, 12))
    s.do(ml.pause, ml.Pause(entry_id=ids["marevan"], reason="operasjon"), DOCTOR, at(22, 13))
    s.do(ml.resume, ml.Resume(entry_id=ids["marevan"], note="etter operasjon",
                              override_reason="kortvarig"), DOCTOR, at(24, 9),
         catalogue=CATALOGUE)
    s.do(ml.renew, ml.Renew(entry_id=ids["selozok"]), DOCTOR, at(24, 10), catalogue=CATALOGUE)
    s.do(ml.discontinue, ml.Discontinue(entry_id=ids["ibux"], reason="magesmerter"), DOCTOR,
         at(24, 11))
    s.do(rec.reconcile, rec.Reconcile(lines=[
        rec.ReconcileLine(source="medication_list", entry_id=ids["marevan"]),
        rec.ReconcileLine(source="patient", name="Tran", dose_text="en skje daglig")]),
        NURSE, at(24, 12), catalogue=CATALOGUE)
    s.do(rec.review, rec.ReviewMedication(reconciliation_version=1, summary="Ingen endring."),
         DOCTOR, at(24, 13))
    s.do(ml.change_dose, ml.ChangeDose(  # no prescription: none issued
        entry_id=ids["tran"], dose=dose(10, "ml", times_per_day=1)), DOCTOR, at(24, 14),
        catalogue=CATALOGUE)
    s.do(ml.pause, ml.Pause(entry_id=ids["selozok"], reason="lavt blodtrykk"), DOCTOR,
         at(24, 15))
    ids["levaxin"] = s.prescribe("Levaxin tab 50 µg", dose(1, "tablett", "07:00"), at(24, 16),
                                 start_on=date(2026, 11, 26))
    s.do(ml.change_dose, ml.ChangeDose(  # before it starts
        entry_id=ids["levaxin"], dose=dose(2, "tablett", "07:00"), reason="feil styrke"),
        DOCTOR, at(24, 16, 5), catalogue=CATALOGUE)
    s.do(ml.record_fetch, ml.RecordFetch(sources=["rf", "kj"]), DOCTOR, at(24, 17))
    return s, ids


STORY, IDS = _history()
HISTORY, FULL = STORY.events, STORY.lst
RESOURCES = resources.resources_of(FULL)


# --- R4 rules the models do not check ------------------------------------------------------------

def _walk(node, visit) -> None:
    if isinstance(node, dict):
        visit(node)
        for v in node.values():
            _walk(v, visit)
    elif isinstance(node, list):
        for v in node:
            _walk(v, visit)


def r4_rules(res: dict) -> None:
    """Required code sets and invariants fhir.resources does not check: lst-1, lst-2, mad-1,
    tim-10, qty-3, codings with system and code, references that point somewhere."""
    kind = res["resourceType"]
    assert res["status"] in STATUS[kind], res["status"]
    if kind == "MedicationRequest":
        assert res["intent"] in REQUEST_INTENT
    if kind == "List":
        assert res["mode"] in {"working", "snapshot", "changes"}
        assert "emptyReason" not in res or not res.get("entry")  # lst-1
        assert res["mode"] == "changes" or not any(  # lst-2
            "deleted" in x for x in res.get("entry", ()))
    if kind == "MedicationAdministration" and "dosage" in res:  # mad-1
        assert {"dose", "rateRatio", "rateQuantity"} & set(res["dosage"])

    def visit(node: dict) -> None:
        if "repeat" in node:  # tim-10
            assert not ("timeOfDay" in node["repeat"] and "when" in node["repeat"])
        for q in (node.get("doseQuantity"), node.get("numerator"), node.get("denominator")):
            assert q is None or "code" not in q or "system" in q  # qty-3
        for key in ("subject", "informationSource", "requester", "recorder", "actor", "item",
                    "request", "priorPrescription"):
            if isinstance(ref := node.get(key), dict):
                assert {"reference", "identifier", "display"} & set(ref), ref
        if "coding" in node:
            assert all(cd["system"] and cd["code"] for cd in node["coding"]), node
    _walk(res, visit)


def valid(res: dict | None) -> dict:
    assert res is not None
    MODELS[res["resourceType"]].model_validate(res)
    r4_rules(res)
    json.dumps(res)  # JSON-ready: no datetimes, UUIDs or tuples left
    return res


def the(kind: str, id_, lst: MedicationList = FULL, now: datetime | None = None) -> dict:
    return valid(resources.resource(lst, kind, id_, now))


def hpr(value: str) -> dict:
    return {"type": "Practitioner", "identifier": {"system": IdentifierSystem.HPR,
                                                   "value": value}}


def entry(name: str):
    return FULL.entry(IDS[name])


def request_ids(name: str) -> list[uuid.UUID]:
    return [p.prescription_id for p in entry(name).prescriptions]


# --- every resource is valid R4 ------------------------------------------------------------------

@pytest.mark.parametrize("res", RESOURCES,
                         ids=[f"{r['resourceType']}-{n}" for n, r in enumerate(RESOURCES)])
def test_every_resource_is_valid_r4(res):
    valid(res)
    assert res["resourceType"] in elements.RESOURCE_TYPES and "meta" not in res
    assert res["subject"] == {"reference": f"Patient/{P}"}


def test_the_history_yields_every_resource_type():
    assert {r["resourceType"] for r in RESOURCES} == set(elements.RESOURCE_TYPES) == set(MODELS)
    assert len(RESOURCES) == 5 + 7 + 5 + 1  # entries, prescriptions, administrations, the List


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


# --- identifiers and codes (requirement 6) -------------------------------------------------------

def _found(node, key: str) -> list[dict]:
    out: list[dict] = []

    def visit(n: dict) -> None:
        got = n.get(key)
        out.extend(got if isinstance(got, list) else [got] if isinstance(got, dict) else [])
    _walk(node, visit)
    return out


def test_only_section_6_identifier_systems_are_emitted():
    systems = {i["system"] for i in _found(RESOURCES, "identifier")}
    assert systems <= ALL_SYSTEMS and systems == {IdentifierSystem.HPR}
    assert not any("identifier" in r for r in RESOURCES)  # no system for PLL-id or ReseptID
    codes = {c["system"] for c in _found(RESOURCES, "coding")}
    assert codes == {elements.FEST_MERKEVARE, elements.ATC, elements.LOINC}


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
