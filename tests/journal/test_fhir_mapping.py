"""The journal's FHIR R4 view (services.journal.fhir.to_fhir), pure: every resource parses with the
fhir.resources R4B models (R4B = R4 for every type here) and keeps the R4 rules those models do
not check; only §6 identifier systems appear and the national id only in Patient.identifier
(requirement 6); the status mappings (corrected notes, observations in error, CAVE states, care
plans, tasks); and ``touched`` names exactly the resources each event changes, for every
registered ``journal.*`` event type."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
import xml.etree.ElementTree as ET
from datetime import date, timedelta
from typing import Any, ClassVar

import pytest
from fhir.resources.R4B.allergyintolerance import AllergyIntolerance
from fhir.resources.R4B.careplan import CarePlan
from fhir.resources.R4B.composition import Composition
from fhir.resources.R4B.condition import Condition
from fhir.resources.R4B.documentreference import DocumentReference
from fhir.resources.R4B.encounter import Encounter
from fhir.resources.R4B.episodeofcare import EpisodeOfCare
from fhir.resources.R4B.flag import Flag
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.task import Task


from libs.kernel.identifiers import ALL_SYSTEMS, IdentifierSystem, check_digits
from libs.events.registry import EventPayload
from services.journal.manifest import MANIFEST
from services.journal.fhir import clinical as fhir_clinical
from services.journal.fhir import elements as vocab
from services.journal.fhir import record as fhir_record
from services.journal.fhir import to_fhir as fhir
from services.journal.domain.codes import ICD10, ICPC2
from services.journal.domain import clinical as c
from services.journal.domain.clinical_state import Note
from services.journal import contract as ev
from services.journal.domain import patients as pt
from services.journal.domain import process as pr
from services.journal.contract import Name
from services.journal.domain.clinical_state import fold_observation, fold_observations
from tests.journal.support import NOW, TEST_NUMBER, TODAY, every_event, registered, then

P = uuid.UUID("0190f0a0-0000-7000-8000-00000000f001")
Q = uuid.UUID("0190f0a0-0000-7000-8000-00000000f002")
UNIT = "974600978"
NURSE = c.Clinician(hpr="9144889", unit=UNIT)
DOCTOR = c.Clinician(hpr="7654321", unit=UNIT, physician=True)
HISTORY = every_event(P)
FULL = pt.fold(P, HISTORY)
OBS = fold_observations(HISTORY)   # folded on their own: not part of the patient's state
RESOURCES = fhir.resources_of(FULL, OBS.values())
MODELS: dict[str, Any] = {m.__name__: m for m in (
    Patient, EpisodeOfCare, Encounter, DocumentReference, Composition, Observation, Condition,
    AllergyIntolerance, Flag, CarePlan, Task)}
JOURNAL_EVENTS = {t for t in MANIFEST.registry().payloads if t.startswith("journal.")}
STATUS = {  # R4 required bindings the models do not check
    "EpisodeOfCare": {"planned", "waitlist", "active", "onhold", "finished", "cancelled",
                      "entered-in-error"},
    "Encounter": {"planned", "arrived", "triaged", "in-progress", "onleave", "finished",
                  "cancelled", "entered-in-error", "unknown"},
    "DocumentReference": {"current", "superseded", "entered-in-error"},
    "Composition": {"preliminary", "final", "amended", "entered-in-error"},
    "Observation": {"registered", "preliminary", "final", "amended", "corrected", "cancelled",
                    "entered-in-error", "unknown"},
    "Flag": {"active", "inactive", "entered-in-error"},
    "CarePlan": {"draft", "active", "on-hold", "revoked", "completed", "entered-in-error",
                 "unknown"},
    "Task": {"draft", "requested", "received", "accepted", "rejected", "ready", "cancelled",
             "in-progress", "on-hold", "failed", "completed", "entered-in-error"},
}


def _walk(node, visit) -> None:
    if isinstance(node, dict):
        visit(node)
        for v in node.values():
            _walk(v, visit)
    elif isinstance(node, list):
        for v in node:
            _walk(v, visit)


def r4_rules(res: dict) -> None:
    """Required code sets and invariants that fhir.resources does not check: ext-1, dom-2/3,
    obs-6, con-4, ait-1/2, cpl-3, well-formed XHTML narrative, references that point somewhere."""
    kind = res["resourceType"]
    if kind in STATUS:
        assert res["status"] in STATUS[kind], res["status"]
    if kind == "DocumentReference":
        assert res.get("docStatus") in {"preliminary", "final", "amended", "entered-in-error"}
    if kind == "Observation":
        assert ("dataAbsentReason" in res) != any(k.startswith("value") for k in res)  # obs-6
    if kind == "Condition" and "abatementDateTime" in res:  # con-4
        assert res["clinicalStatus"]["coding"][0]["code"] in {"inactive", "resolved", "remission"}
    if kind == "AllergyIntolerance":  # ait-1, ait-2
        in_error = res["verificationStatus"]["coding"][0]["code"] == "entered-in-error"
        assert ("clinicalStatus" in res) != in_error
        assert res.get("criticality", "low") in {"low", "high", "unable-to-assess"}
    if kind == "CarePlan":
        assert res["intent"] in {"proposal", "plan", "order", "option"}
        for a in res.get("activity", ()):  # cpl-3
            assert ("reference" in a) != ("detail" in a)
    if kind == "Task":
        assert res["intent"] in {"unknown", "proposal", "plan", "order", "original-order",
                                 "reflex-order", "filler-order", "instance-order", "option"}
    text = json.dumps(res)
    for cont in res.get("contained", ()):  # dom-2, dom-3
        assert "contained" not in cont and f'"#{cont["id"]}"' in text

    def visit(node: dict) -> None:
        for ext in node.get("extension", ()):  # ext-1
            values = [k for k in ext if k.startswith("value")]
            assert ext["url"] and (len(values) == 1) != ("extension" in ext), ext
        for key in ("subject", "patient", "for", "author", "recorder", "party", "individual"):
            refs = node.get(key)
            for r in refs if isinstance(refs, list) else [refs] if isinstance(refs, dict) else []:
                assert {"reference", "identifier", "display"} & set(r), r
        if "coding" in node:
            assert all(cd["system"] and cd["code"] for cd in node["coding"]), node
        if "div" in node:
            root = ET.fromstring(node["div"])
            assert root.tag == "{http://www.w3.org/1999/xhtml}div" and "".join(root.itertext())
    _walk(res, visit)


def valid(res: dict) -> dict:
    MODELS[res["resourceType"]].model_validate(res)
    r4_rules(res)
    json.dumps(res)  # JSON-ready: no datetimes, UUIDs or tuples left
    return res


def the(p: pt.Patient, kind: str, entity_id) -> dict:
    res = (fhir.observation(p, OBS[entity_id]) if kind == "Observation"
           else fhir.resource(p, kind, entity_id))
    assert res is not None, (kind, entity_id)
    return valid(res)


def of_type(kind: str, p: pt.Patient = FULL, observations=OBS.values()) -> list[dict]:
    return [valid(r) for k, _, r in fhir.resources_of(p, observations) if k == kind]


def code(concept: dict) -> str:
    return concept["coding"][0]["code"]


def text_of(doc: dict) -> str:
    return base64.b64decode(doc["content"][0]["attachment"]["data"]).decode("utf-8")


def hpr(value: str) -> dict:
    return {"type": "Practitioner", "identifier": {"system": IdentifierSystem.HPR,
                                                   "value": value}}


# --- every resource is valid R4 ------------------------------------------------------------------

@pytest.mark.parametrize("kind,id_,res", RESOURCES,
                         ids=[f"{k}-{n}" for n, (k, _, _) in enumerate(RESOURCES)])
def test_every_resource_is_valid_r4(kind, id_, res):
    valid(res)
    assert (res["resourceType"], res["id"]) == (kind, id_) and "meta" not in res
    subject = res.get("subject") or res.get("patient") or res.get("for")
    assert kind == "Patient" or subject == {"reference": f"Patient/{P}"}


def test_the_history_yields_every_resource_type():
    assert {k for k, _, _ in RESOURCES} == set(MODELS)


ENTITY = {  # one entity of each kind in the history, for the mappers that take one
    "EpisodeOfCare": lambda p: p.episodes[0],
    "Encounter": lambda p: next(n for n in p.notes if vocab.is_contact(n)),
    "DocumentReference": lambda p: p.notes[0],
    "Composition": lambda p: p.notes[0],
    "Observation": lambda p: next(iter(OBS.values())),
    "Condition": lambda p: p.conditions[0],
    "AllergyIntolerance": lambda p: p.critical_info[0],
    "Flag": lambda p: p.critical_info[-1],
    "CarePlan": lambda p: p.care_plans[0],
    "Task": lambda p: p.tasks[0],
}
FUNCTIONS = {"Patient": fhir_record.patient, "EpisodeOfCare": fhir_record.episode_of_care,
             "Encounter": fhir_record.encounter, "DocumentReference": fhir_record.document_reference,
             "Composition": fhir_record.composition, "Observation": fhir_clinical.observation,
             "Condition": fhir_clinical.condition, "AllergyIntolerance": fhir_clinical.allergy_intolerance,
             "Flag": fhir_clinical.flag, "CarePlan": fhir_clinical.care_plan, "Task": fhir_clinical.task}


@pytest.mark.parametrize("kind", FUNCTIONS)
def test_every_mapper_puts_meta(kind):
    fn, meta = FUNCTIONS[kind], {"versionId": 3, "lastUpdated": NOW}
    args = (FULL,) if kind == "Patient" else (FULL, ENTITY[kind](FULL))
    res = valid(fn(*args, meta=meta))
    assert res["resourceType"] == kind
    assert res["meta"] == {"versionId": "3", "lastUpdated": "2026-11-29T12:00:00+00:00"}
    assert list(res)[:3] == ["resourceType", "id", "meta"]
    assert "meta" not in fn(*args)
    assert fn(*args, meta={"versionId": "7", "lastUpdated": "2026-01-01T00:00:00Z"})[
        "meta"] == {"versionId": "7", "lastUpdated": "2026-01-01T00:00:00Z"}


def test_mappers_refuse_entities_of_the_other_kind():
    draft = next(n for n in FULL.notes if n.status == "draft")
    allergy, other = FULL.critical_info[0], FULL.critical_info[-1]
    with pytest.raises(ValueError):
        fhir_record.encounter(FULL, draft)
    with pytest.raises(ValueError):
        fhir_clinical.flag(FULL, allergy)
    with pytest.raises(ValueError):
        fhir_clinical.allergy_intolerance(FULL, other)
    with pytest.raises(ValueError):
        fhir_record.patient(pt.Patient.unknown(Q))
    assert fhir_clinical.critical_info(FULL, allergy)["resourceType"] == "AllergyIntolerance"
    assert fhir_clinical.critical_info(FULL, other)["resourceType"] == "Flag"


def test_resource_finds_each_current_resource_and_nothing_else():
    for kind, id_, res in RESOURCES:
        if kind == "Observation":   # not in the patient's state: built from its own fold
            assert fhir.resource(FULL, kind, id_) is None
            assert fhir.observation(FULL, OBS[uuid.UUID(id_)]) == res
            continue
        assert fhir.resource(FULL, kind, id_) == res
        assert fhir.resource(FULL, kind, uuid.UUID(id_)) == res
    note_id = next(n.note_id for n in FULL.notes if n.status == "draft")
    assert fhir.resource(FULL, "Encounter", note_id) is None  # a draft is no contact
    assert fhir.resource(FULL, "Observation", note_id) is None
    assert fhir.resource(FULL, "Patient", Q) is None
    assert fhir.resources_of(pt.Patient.unknown(Q)) == []
    assert fhir.resource(pt.Patient.unknown(Q), "Patient", Q) is None


# --- identifiers (requirement 6) -----------------------------------------------------------------

def _identifier_systems(node) -> list[str]:
    found: list[str] = []

    def visit(n: dict) -> None:
        ident = n.get("identifier")
        for i in ident if isinstance(ident, list) else [ident] if isinstance(ident, dict) else []:
            found.append(i["system"])
    _walk(node, visit)
    return found


def test_only_section_6_identifier_systems_are_emitted():
    found = set(_identifier_systems([r for _, _, r in RESOURCES]))
    assert found <= ALL_SYSTEMS
    assert found == {IdentifierSystem.FNR, IdentifierSystem.HPR, IdentifierSystem.ENH}
    # the same HPR and ENH systems as the consent export
    assert {IdentifierSystem.HPR, IdentifierSystem.ENH} <= found


def _number(ddmmyy: str) -> str:
    """The first valid 11-digit number with these six digits (individnummer 120 and up)."""
    for individual in range(120, 500):
        if (ks := check_digits(f"{ddmmyy}{individual:03d}")) is not None:
            return f"{ddmmyy}{individual:03d}{ks[0]}{ks[1]}"
    raise AssertionError(ddmmyy)


SYNTHETIC_DNR = _number("558585")  # day 15 + 40, month 5 + 80: a Tenor D-number
H_NUMBER = _number("154585")  # month 5 + 40: a local H-number
PEOPLE = {  # number, id_type, assigner -> system
    "tenor_test_number": (TEST_NUMBER, "synthetic", None, IdentifierSystem.FNR),
    "fnr": ("31129956715", "fnr", None, IdentifierSystem.FNR),
    "tenor_d_number": (SYNTHETIC_DNR, "synthetic", None, IdentifierSystem.DNR),
    "d_number": (_number("711299"), "dnr", None, IdentifierSystem.DNR),
    "h_number": (H_NUMBER, "hnr", "Oslo legevakt", IdentifierSystem.HNR),
}


@pytest.mark.parametrize("name", PEOPLE)
def test_the_person_id_gets_its_no_basis_system(name):
    number, id_type, assigner, system = PEOPLE[name]
    p = pt.fold(Q, [ev.PatientRegistered(
        national_id=number, id_type=id_type, assigner=assigner,
        name=Name(given="Test", family="Testesen"), birth_date=date(1985, 5, 15), sex="unknown",
        address=ev.Address(municipality="4601"), registered_at=NOW)])
    res = valid(fhir_record.patient(p))
    [ident] = res["identifier"]
    assert (ident["system"], ident["value"]) == (system, number)
    assert set(_identifier_systems(res)) <= ALL_SYSTEMS
    if id_type == "hnr":
        assert ident["type"] == {"coding": [{"system": IdentifierSystem.HNR_TYPE,
                                             "code": "HNR"}]}
        assert ident["assigner"] == {"display": "Oslo legevakt"}
    else:
        assert set(ident) == {"system", "value"}
    assert "generalPractitioner" not in res and "deceasedDateTime" not in res
    assert [e["url"] for e in res["address"][0].get("extension", ())] == []  # no bydel


LEAKY_OBSERVATIONS: list = []   # the leaky patient's observations (not in its state)


def _leaky_patient() -> pt.Patient:
    """A living patient whose every free-text field holds the national id number."""
    n = TEST_NUMBER
    p = registered(Q)
    [d] = c.draft_note(p, c.DraftNote(kind="home_care_visit", text=f"fnr {n} oppgitt"), NURSE,
                       NOW)
    p = then(p, [d])
    p = then(p, c.sign_note(p, c.SignNote(note_id=d.note_id), NURSE, NOW))
    p = then(p, c.correct_note(p, c.CorrectNote(note_id=d.note_id, text=f"ny tekst {n}.",
                                                reason=f"feil {n}"), NURSE, NOW))
    [o] = c.record_observation(p, c.RecordObservation(code="8867-4", value=70), NURSE, NOW)
    [fix] = c.correct_observation(p, fold_observation(None, o), c.CorrectObservation(
        observation_id=o.observation_id, value=71, reason=f"gjaldt {n}"), NURSE, NOW)
    LEAKY_OBSERVATIONS[:] = fold_observations([o, fix]).values()
    for category in ("drug_reaction", "infection"):
        [x] = c.register_critical_info(p, c.RegisterCriticalInfo(
            category=category, substance=f"stoff {n}", text=f"tekst {n}",
            reaction=f"reaksjon {n}"), NURSE, NOW)
        p = then(p, [x])
        p = then(p, c.change_critical_info(p, c.ChangeCriticalInfo(
            critical_id=x.critical_id, to="refuted", reason=f"grunn {n}"), DOCTOR, NOW))
    [plan] = pr.create_care_plan(p, pr.CreateCarePlan(title=f"plan {n}"), NURSE, NOW)
    p = then(p, [plan])
    [g] = pr.add_goal(p, pr.AddGoal(care_plan_id=plan.care_plan_id, description=f"mål {n}"),
                      NURSE, NOW)
    p = then(p, [g])
    p = then(p, pr.change_goal_status(p, pr.ChangeGoalStatus(
        care_plan_id=plan.care_plan_id, goal_id=g.goal_id, status="cancelled",
        note=f"notat {n}"), NURSE, NOW))
    [i] = pr.add_intervention(p, pr.AddIntervention(
        care_plan_id=plan.care_plan_id, description=f"tiltak {n}", frequency=f"hver {n}"),
        NURSE, NOW)
    p = then(p, [i])
    p = then(p, pr.stop_intervention(p, pr.StopIntervention(
        care_plan_id=plan.care_plan_id, intervention_id=i.intervention_id, reason=f"slutt {n}"),
        NURSE, NOW))
    [t] = pr.create_task(p, pr.CreateTask(kind="other", title=f"oppgave {n}",
                                          description=f"beskrivelse {n}", unit=UNIT,
                                          due_at=NOW + timedelta(days=1)), NURSE, NOW)
    p = then(p, [t])
    p = then(p, pr.cancel_task(p, pr.CancelTask(task_id=t.task_id, reason=f"avlyst {n}"),
                               NURSE, NOW))
    return then(p, pr.revoke_care_plan(p, pr.RevokeCarePlan(
        care_plan_id=plan.care_plan_id, reason=f"feil {n}"), NURSE, NOW))


@pytest.mark.parametrize("p, observations", [(FULL, OBS.values()),
                                              (_leaky_patient(), LEAKY_OBSERVATIONS)],
                         ids=["history", "id_in_free_text"])
def test_the_national_id_appears_only_in_patient_identifier(p, observations):
    number = p.national_id
    assert number
    kinds = set()
    for kind, _, res in fhir.resources_of(p, observations):
        kinds.add(kind)
        valid(res)
        text = json.dumps(res, ensure_ascii=False)
        if kind == "DocumentReference":
            text += text_of(res)
        if kind == "Patient":
            assert text.count(number) == 1 and res["identifier"][0]["value"] == number
            text = json.dumps({k: v for k, v in res.items() if k != "identifier"})
        assert number not in text, kind
    assert "Observation" in kinds


def test_a_national_id_in_free_text_is_masked_and_the_rest_kept():
    p = _leaky_patient()
    [doc] = of_type("DocumentReference", p)
    assert text_of(doc) == "ny tekst ***********."
    [allergy] = of_type("AllergyIntolerance", p)
    assert allergy["code"]["text"] == "stoff ***********"
    assert allergy["reaction"][0]["manifestation"][0]["text"] == "reaksjon ***********"
    [task] = of_type("Task", p)
    assert task["code"]["text"] == "oppgave ***********"


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


def test_only_signed_visit_and_legevakt_notes_are_encounters():
    encounters = {e["id"]: e for e in of_type("Encounter")}
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
    dm, htn = (the(FULL, "Condition", x.condition_id) for x in FULL.conditions)
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
                                  for x in FULL.care_plans)
    assert [x["status"] for x in (active, revoked, completed)] == [
        "active", "entered-in-error", "completed"]
    assert revoked["note"][0]["text"] == "feil pasient"
    assert completed["note"][0]["text"] == "Rullator levert"
    assert active["supportingInfo"] == [
        {"reference": f"EpisodeOfCare/{FULL.care_plans[0].episode_id}"}]
    assert active["period"] == {"start": TODAY.isoformat(),
                                "end": (TODAY + timedelta(days=60)).isoformat()}
    goals = {g["description"]["text"]: g for g in active["contained"]}
    assert [r["reference"] for r in active["goal"]] == [f"#{g['id']}" for g in
                                                         active["contained"]]
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
    done, cancelled, open_ = (the(FULL, "Task", t.task_id) for t in FULL.tasks)
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


# --- touched: which resources each event changes -----------------------------------------------

def test_every_registered_journal_event_type_has_a_mapping():
    """A new journal event type fails here until ``fhir._TOUCHES`` names what it changes."""
    assert {t.event_type for t in fhir.MAPPED_EVENTS} == JOURNAL_EVENTS


def test_the_history_has_every_journal_event_type():
    """... and here until ``support.every_event`` makes one, so the next test covers it."""
    assert {e.event_type for e in HISTORY} == JOURNAL_EVENTS


def test_touched_is_exactly_what_each_event_changed():
    p, seen = pt.Patient.unknown(P), []
    for e in HISTORY:
        before = {(k, i): r for k, i, r in fhir.resources_of(
            p, fold_observations(seen).values())}
        p = pt.evolve(p, e)
        seen.append(e)
        after = {(k, i): r for k, i, r in fhir.resources_of(
            p, fold_observations(seen).values() if p.registered else ())}
        changed = {key for key, r in after.items() if before.get(key) != r} | (
            before.keys() - after.keys())
        got = fhir.touched(p, e)
        assert len(got) == len(set(got)), e.event_type
        assert {(k, str(i)) for k, i in got} == changed, e.event_type
        assert all(isinstance(i, uuid.UUID) for _, i in got)
    assert after.keys() == {(k, i) for k, i, _ in RESOURCES}


def test_an_unmapped_event_type_is_refused_not_skipped():
    class Unknown(EventPayload):
        event_type: ClassVar[str] = "journal.Unknown"
    with pytest.raises(fhir.UnmappedEvent, match="journal.Unknown"):
        fhir.touched(FULL, Unknown())


def test_resource_finds_exactly_what_resources_of_lists():
    """``resource`` looks in one collection per type; it must agree with the full listing, and
    find nothing under another type or id."""
    assert len({kind for kind, _, _ in RESOURCES}) == len(MODELS)
    for kind, id_, res in RESOURCES:
        if kind == "Observation":
            continue   # see the test above
        assert fhir.resource(FULL, kind, id_) == res, (kind, id_)
        assert fhir.resource(FULL, kind, uuid.UUID(id_)) == res
        other = "Flag" if kind == "AllergyIntolerance" else "AllergyIntolerance"
        assert fhir.resource(FULL, other, id_) is None or other in {
            k for k, i, _ in RESOURCES if i == id_}
    assert fhir.resource(FULL, "Observation", "not-a-uuid") is None
    assert fhir.resource(FULL, "Medication", str(P)) is None
