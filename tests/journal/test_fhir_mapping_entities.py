"""The journal's FHIR R4 view entity by entity, pure: Patient and EpisodeOfCare, notes and
contacts, observations and conditions, critical information (CAVE) in each state, care plans
and tasks (the status mappings of ``services.journal.fhir.to_fhir``)."""

from __future__ import annotations

import base64
import hashlib
import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest

from libs.kernel.identifiers import IdentifierSystem
from services.journal.domain import clinical as c
from services.journal.domain.clinical_state import Note
from services.journal.domain.codes import ICD10, ICPC2
from services.journal.fhir import elements as vocab
from services.journal.fhir import to_fhir as fhir
from tests.journal.fhir_mapping_support import (
    DOCTOR,
    FULL,
    NURSE,
    OBS,
    RESOURCES,
    UNIT,
    P,
    Q,
    code,
    hpr,
    of_type,
    text_of,
    the,
)
from tests.journal.support import NOW, TODAY, registered, then

# --- Patient and EpisodeOfCare -------------------------------------------------------------------

def test_patient_details_address_and_regular_gp():
    res = the(FULL, "Patient", P)
    assert res["name"] == [{"use": "official", "text": "Kari Anne Nordmann",
                            "family": "Nordmann", "given": ["Kari", "Anne"]}]
    assert (res["gender"], res["birthDate"], res["deceasedDateTime"]) == (
        "female", "1985-05-15", TODAY.isoformat())  # the corrected date of death
    assert res["generalPractitioner"] == [hpr("2345678")]  # changed from 1234567
    [address] = res["address"]
    assert address["_district"] == {"extension": [{
        "url": "http://hl7.no/fhir/StructureDefinition/no-basis-municipalitycode",
        "valueCoding": {"system": IdentifierSystem.MUNICIPALITY, "code": "0301"}}]}
    assert address["extension"] == [{
        "url": "http://hl7.no/fhir/StructureDefinition/no-basis-urban-district",
        "valueCoding": {"system": "urn:oid:2.16.578.1.12.4.1.1.3403", "code": "030102"}}]
    assert (address["line"], address["postalCode"], address["city"], address["country"]) == (
        ["Storgata 1"], "0155", "Oslo", "NO")


def test_episodes_of_care_are_active_or_finished_at_their_unit():
    home, gp = (the(FULL, "EpisodeOfCare", e.episode_id) for e in FULL.episodes)
    assert (home["status"], gp["status"]) == ("finished", "active")
    assert home["period"] == {"start": "2026-10-30T12:00:00+00:00",
                              "end": "2026-11-29T12:00:00+00:00"}
    assert "end" not in gp["period"]
    assert home["type"] == [{"coding": [{"system": vocab.CS_EPISODE_KIND, "code": "home_care",
                                         "display": "hjemmetjenester"}]}]
    assert home["managingOrganization"] == {"type": "Organization", "identifier": {
        "system": IdentifierSystem.ENH, "value": UNIT}}


def test_service_decisions_and_assessments_are_not_resources():
    assert FULL.decisions and FULL.assessments
    ids = {i for _, i, _ in RESOURCES}
    assert not ids & {str(d.decision_id) for d in FULL.decisions}
    assert not ids & {str(a.assessment_id) for a in FULL.assessments}


# --- notes, contacts ---------------------------------------------------------------------------

def _notes(kind: str) -> list[Note]:
    return [n for n in FULL.notes if n.kind == kind]


def test_note_statuses_draft_signed_and_corrected():
    [visit, completed_task_note] = _notes("home_care_visit")
    [nursing] = _notes("nursing")
    draft, signed = _notes("legevakt_contact")
    cases = [(draft, "preliminary"), (signed, "final"), (nursing, "final"),
             (visit, "amended"), (completed_task_note, "final")]
    for note, status in cases:
        doc = the(FULL, "DocumentReference", note.note_id)
        comp = the(FULL, "Composition", note.note_id)
        assert (doc["status"], doc["docStatus"], comp["status"]) == ("current", status, status)
        assert text_of(doc) == note.text
        assert doc["type"] == comp["type"]
        assert doc["type"]["coding"][0] == {"system": vocab.CS_NOTE_KIND, "code": note.kind,
                                            "display": vocab.NOTE_KIND_NO[note.kind]}
    assert "authenticator" not in the(FULL, "DocumentReference", draft.note_id)
    assert "attester" not in the(FULL, "Composition", draft.note_id)


def test_a_corrected_note_shows_the_current_text_signer_and_each_correction():
    [visit, _] = _notes("home_care_visit")
    doc = the(FULL, "DocumentReference", visit.note_id)
    attachment = doc["content"][0]["attachment"]
    data = "Sår stelt på venstre legg.".encode()
    assert base64.b64decode(attachment["data"]) == data
    assert attachment["size"] == len(data)
    assert attachment["hash"] == base64.b64encode(hashlib.sha1(data).digest()).decode()
    assert attachment["contentType"] == "text/plain; charset=utf-8"
    assert doc["authenticator"] == hpr("9144889") and doc["author"] == [hpr("9144889")]
    assert doc["context"]["encounter"] == [
        {"reference": f"Encounter/{visit.note_id}"},
        {"reference": f"EpisodeOfCare/{visit.episode_id}"}]
    comp = the(FULL, "Composition", visit.note_id)
    assert [a["party"] for a in comp["attester"]] == [hpr("9144889"), hpr("9144889")]
    assert {a["mode"] for a in comp["attester"]} == {"legal"}
    assert comp["encounter"] == {"reference": f"Encounter/{visit.note_id}"}
    assert comp["section"][0]["text"]["div"] == (
        '<div xmlns="http://www.w3.org/1999/xhtml"><p>Sår stelt på venstre legg.</p></div>')


def test_a_note_signed_by_a_physician_names_author_and_signer():
    [nursing] = _notes("nursing")
    doc = the(FULL, "DocumentReference", nursing.note_id)
    assert (doc["author"], doc["authenticator"]) == ([hpr("9144889")], hpr("7654321"))
    assert "context" not in doc and "encounter" not in the(FULL, "Composition",
                                                           nursing.note_id)


def test_the_composition_narrative_is_escaped_xhtml():
    text = 'Linje 1 <script>alert("x")</script> & co\r\nLinje 2\x07\n\nslutt'
    p = registered(Q)
    [d] = c.draft_note(p, c.DraftNote(kind="medical", text=text), DOCTOR, NOW)
    p = then(p, [d])
    comp = the(p, "Composition", d.note_id)
    div = comp["section"][0]["text"]["div"]
    assert "<script>" not in div and "&lt;script&gt;" in div and "&amp; co" in div
    root = ET.fromstring(div)
    assert [x.text or "" for x in root] == [
        'Linje 1 <script>alert("x")</script> & co', "Linje 2", "", "slutt"]
    assert text_of(the(p, "DocumentReference", d.note_id)) == text  # the attachment is verbatim


def test_only_signed_visit_and_legevakt_notes_and_recorded_contacts_are_encounters():
    encounters = {e["id"]: e for e in of_type("Encounter")}
    [recorded] = FULL.encounters   # a contact from elsewhere (issue 19): its own Encounter
    assert encounters.pop(str(recorded.encounter_id))["class"]["code"] == "AMB"
    contacts = [n for n in FULL.notes if n.status == "signed"
                and n.kind in ("home_care_visit", "legevakt_contact")]
    assert set(encounters) == {str(n.note_id) for n in contacts} and len(contacts) == 3
    for n in contacts:
        e = encounters[str(n.note_id)]
        assert e["status"] == "finished"
        assert e["class"]["code"] == {"home_care_visit": "HH", "legevakt_contact": "EMER"}[n.kind]
        assert e["class"]["system"] == "http://terminology.hl7.org/CodeSystem/v3-ActCode"
        at = n.signed_at.isoformat()  # type: ignore[union-attr]
        assert e["period"] == {"start": at, "end": at}
        assert e["serviceProvider"]["identifier"] == {"system": IdentifierSystem.ENH,
                                                      "value": UNIT}
        assert e["participant"][0]["individual"] == hpr(n.versions[0].by)
    [visit, _] = _notes("home_care_visit")
    assert encounters[str(visit.note_id)]["episodeOfCare"] == [
        {"reference": f"EpisodeOfCare/{visit.episode_id}"}]


# --- observations and conditions ---------------------------------------------------------------

def test_observation_statuses_values_and_reasons():
    by_code = {o.code: the(FULL, "Observation", o.observation_id) for o in OBS.values()}
    hr, temp, bp = by_code["8867-4"], by_code["8310-5"], by_code["8480-6"]
    assert (hr["status"], temp["status"], bp["status"]) == (
        "amended", "entered-in-error", "final")
    assert hr["valueQuantity"] == {"value": 76.0, "unit": "/min",
                                   "system": "http://unitsofmeasure.org", "code": "/min"}
    assert hr["note"][0]["text"] == "feil avlest" and hr["note"][0]["authorReference"] == hpr(
        "9144889")
    assert "valueQuantity" not in temp and code(temp["dataAbsentReason"]) == "error"
    assert bp["valueQuantity"]["code"] == "mm[Hg]" and "note" not in bp
    assert bp["code"]["coding"] == [{"system": "http://loinc.org", "code": "8480-6",
                                     "display": "Systolic blood pressure"}]
    assert bp["category"][0]["coding"][0]["code"] == "vital-signs"
    assert bp["performer"] == [hpr("9144889")]
    assert bp["effectiveDateTime"] == NOW.isoformat()


def test_conditions_in_icpc2_and_icd10_active_or_resolved():
    dm, htn = (the(FULL, "Condition", x.condition_id) for x in FULL.conditions[:2])
    assert dm["code"]["coding"] == [{"system": ICPC2.uri, "code": "T90",
                                     "display": "Diabetes type 2"}]
    assert ICPC2.uri == "urn:oid:2.16.578.1.12.4.1.1.7170"
    assert htn["code"]["coding"][0]["system"] == ICD10.uri == "urn:oid:2.16.578.1.12.4.1.1.7110"
    assert (code(dm["clinicalStatus"]), code(htn["clinicalStatus"])) == ("resolved", "active")
    assert (dm["onsetDateTime"], dm["abatementDateTime"]) == ("2020-01-01", TODAY.isoformat())
    assert "abatementDateTime" not in htn and "onsetDateTime" not in htn
    assert dm["recorder"] == hpr("7654321")
    assert code(dm["category"][0]) == "problem-list-item"


# --- critical information (CAVE) ---------------------------------------------------------------

CAVE = {  # category, changes after registration -> type, verification or flag status, clinical
    "drug_registered": ("drug_reaction", [], "AllergyIntolerance", "unconfirmed", "active"),
    "drug_verified": ("drug_reaction", ["verified"], "AllergyIntolerance", "confirmed", "active"),
    "drug_refuted": ("drug_reaction", ["refuted"], "AllergyIntolerance", "refuted", "inactive"),
    "allergy_verified_refuted": ("other_allergy", ["verified", "refuted"], "AllergyIntolerance",
                                 "refuted", "inactive"),
    "allergy_removed": ("other_allergy", ["verified", "removed"], "AllergyIntolerance",
                        "entered-in-error", None),
    "infection": ("infection", [], "Flag", "active", None),
    "critical_condition_verified": ("critical_condition", ["verified"], "Flag", "active", None),
    "treatment_limitation_refuted": ("treatment_limitation", ["refuted"], "Flag", "inactive",
                                     None),
    "anaesthesia_removed": ("anaesthesia_complication", ["removed"], "Flag",
                            "entered-in-error", None),
    "implant_verified_refuted": ("ongoing_treatment_or_implant", ["verified", "refuted"],
                                 "Flag", "inactive", None),
}


@pytest.mark.parametrize("name", CAVE)
def test_critical_information_states(name):
    category, changes, kind, status, clinical = CAVE[name]
    p = registered(Q)
    [x] = c.register_critical_info(p, c.RegisterCriticalInfo(
        category=category, substance="Penicillin", text="Se epikrise", reaction="Utslett",
        severity="mild"), NURSE, NOW)
    p = then(p, [x])
    for to in changes:
        p = then(p, c.change_critical_info(p, c.ChangeCriticalInfo(
            critical_id=x.critical_id, to=to, reason="begrunnelse"), DOCTOR, NOW))
    assert fhir.touched(p, x) == [(kind, x.critical_id)]
    res = the(p, kind, x.critical_id)
    state = p.critical_info[0].status
    if kind == "AllergyIntolerance":
        assert code(res["verificationStatus"]) == status
        assert (code(res["clinicalStatus"]) if "clinicalStatus" in res else None) == clinical
        assert res["code"] == {"text": "Penicillin"} and res["criticality"] == "low"
        assert res["reaction"] == [{"manifestation": [{"text": "Utslett"}], "severity": "mild"}]
        assert res["note"][0] == {"text": "Se epikrise"}
        assert len(res["note"]) == 1 + sum(t != "verified" for t in changes)
        assert res.get("category") == (["medication"] if category == "drug_reaction" else None)
        assert res.get("type") == ("allergy" if category == "other_allergy" else None)
        assert res["recorder"] == hpr(NURSE.hpr)
    else:
        assert res["status"] == status
        assert res["extension"] == [{"url": vocab.EXT_CRITICAL_STATUS, "valueCoding": {
            "system": vocab.CS_CRITICAL_STATUS, "code": state,
            "display": vocab.CRITICAL_STATUS_NO[state]}}]
        assert res["code"]["coding"] == [{"system": vocab.CS_CRITICAL_CATEGORY,
                                          "code": category, "display": c.CATEGORY_NO[category]}]
        assert res["code"]["text"] == "Penicillin – Se epikrise"
        assert ("end" in res["period"]) == (state in ("refuted", "removed"))
        assert res["author"] == hpr(NURSE.hpr)


@pytest.mark.parametrize("severity,criticality", [
    ("mild", "low"), ("moderate", "low"), ("severe", "high"), (None, None)])
def test_allergy_criticality_from_severity(severity, criticality):
    p = registered(Q)
    [x] = c.register_critical_info(p, c.RegisterCriticalInfo(
        category="drug_reaction", substance="Ibuprofen", severity=severity), NURSE, NOW)
    res = the(then(p, [x]), "AllergyIntolerance", x.critical_id)
    assert res.get("criticality") == criticality
    assert "reaction" not in res  # no reaction described: the severity is in criticality only


# --- care plans and tasks ----------------------------------------------------------------------

def test_care_plan_statuses_goals_and_interventions():
    active, revoked, completed = (the(FULL, "CarePlan", x.care_plan_id)
                                  for x in FULL.care_plans[:3])
    assert [x["status"] for x in (active, revoked, completed)] == [
        "active", "entered-in-error", "completed"]
    assert revoked["note"][0]["text"] == "feil pasient"
    assert completed["note"][0]["text"] == "Rullator levert"
    assert active["supportingInfo"] == [
        {"reference": f"EpisodeOfCare/{FULL.care_plans[0].episode_id}"}]
    assert active["period"] == {"start": TODAY.isoformat(),
                                "end": (TODAY + timedelta(days=60)).isoformat()}
    assert "contained" not in active   # each goal is a Goal of its own
    goals = {g["description"]["text"]: g for g in (
        the(FULL, "Goal", r["reference"].removeprefix("Goal/")) for r in active["goal"])}
    healed, walks, sleeps = (goals[k] for k in ("Såret er grodd", "Går ute daglig",
                                                "Sover uten smerter"))
    assert (healed["lifecycleStatus"], code(healed["achievementStatus"])) == (
        "completed", "achieved")
    assert (walks["lifecycleStatus"], code(walks["achievementStatus"])) == (
        "completed", "not-achieved")
    assert walks["statusReason"] == "for glatt ute"
    assert sleeps["lifecycleStatus"] == "active" and "achievementStatus" not in sleeps
    assert healed["target"] == [{"dueDate": (TODAY + timedelta(days=30)).isoformat()}]
    dressing, bath = (a["detail"] for a in active["activity"])
    assert (dressing["status"], bath["status"]) == ("in-progress", "stopped")
    assert dressing["code"]["coding"][0]["system"] == "urn:oid:2.16.578.1.12.4.1.1.9151"
    assert dressing["code"]["coding"][0]["code"] == "15"
    assert dressing["scheduledString"] == "daglig 08:00"
    assert bath["statusReason"] == {"text": "klarer selv"}
    assert [a["id"] for a in active["activity"]] == [
        str(i.intervention_id) for i in FULL.care_plans[0].interventions]


def test_task_statuses_owner_due_time_and_documenting_note():
    done, cancelled, open_ = (the(FULL, "Task", t.task_id) for t in FULL.tasks
                              if t.kind != "message_reply")   # the care-team reply task aside
    assert [t["status"] for t in (done, cancelled, open_)] == [
        "completed", "cancelled", "requested"]
    plan, intervention = FULL.care_plans[0], FULL.care_plans[0].interventions[0]
    assert done["basedOn"] == [{"reference": f"CarePlan/{plan.care_plan_id}"}]
    assert done["extension"] == [{"url": vocab.EXT_CARE_PLAN_ACTIVITY,
                                  "valueString": str(intervention.intervention_id)}]
    note_id = FULL.tasks[0].note_id
    assert done["output"][0]["valueReference"] == {"reference": f"DocumentReference/{note_id}"}
    assert fhir.resource(FULL, "DocumentReference", note_id)["docStatus"] == "final"
    assert done["owner"] == {"reference": "#owner", "type": "PractitionerRole"}
    assert done["contained"][0]["practitioner"] == hpr("9144889")  # reassigned to the nurse
    assert done["restriction"] == {"period": {"end": FULL.tasks[0].due_at.isoformat()}}
    assert done["code"]["coding"][0] == {"system": vocab.CS_TASK_KIND, "code": "home_care_visit",
                                         "display": "Hjemmebesøk"}
    assert cancelled["statusReason"] == {"text": "ikke lenger aktuelt"}
    assert cancelled["description"] == "om smertestillende"
    assert open_["owner"] == {"type": "Organization", "identifier": {
        "system": IdentifierSystem.ENH, "value": UNIT}}
    assert "contained" not in open_ and "executionPeriod" not in open_ and "output" not in open_
