"""The journal's FHIR R4 view (services.journal.fhir.to_fhir), pure: every resource parses with the
fhir.resources R4B models (R4B = R4 for every type here) and keeps the R4 rules those models do
not check; only §6 identifier systems appear and the national id only in Patient.identifier
(requirement 6); and ``touched`` names exactly the resources each event changes, for every
registered ``journal.*`` event type. The status mappings entity by entity are in
``test_fhir_mapping_entities.py``."""

from __future__ import annotations

import json
import uuid
from datetime import date, timedelta
from typing import ClassVar

import pytest

from libs.events.registry import EventPayload
from libs.kernel.identifiers import ALL_SYSTEMS, IdentifierSystem, check_digits
from services.journal import contract as ev
from services.journal.contract import Name
from services.journal.domain import clinical as c
from services.journal.domain import patients as pt
from services.journal.domain import process as pr
from services.journal.domain.clinical_state import fold_observation, fold_observations
from services.journal.fhir import clinical as fhir_clinical
from services.journal.fhir import elements as vocab
from services.journal.fhir import record as fhir_record
from services.journal.fhir import results_out
from services.journal.fhir import to_fhir as fhir
from tests.journal.fhir_mapping_support import (
    DOCTOR,
    FULL,
    HISTORY,
    JOURNAL_EVENTS,
    MODELS,
    NURSE,
    OBS,
    RESOURCES,
    UNIT,
    P,
    Q,
    _walk,
    of_type,
    text_of,
    valid,
)
from tests.journal.support import NOW, TEST_NUMBER, registered, then

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
    "Goal": lambda p: p.care_plans[-1].goals[0],
    "Task": lambda p: p.tasks[0],
    "Immunization": lambda p: p.immunizations[0],
    "Procedure": lambda p: p.procedures[0],
    "DiagnosticReport": lambda p: p.reports[0],
}
FUNCTIONS = {"Patient": fhir_record.patient, "EpisodeOfCare": fhir_record.episode_of_care,
             "Encounter": fhir_record.encounter, "DocumentReference": fhir_record.document_reference,
             "Composition": fhir_record.composition, "Observation": fhir_clinical.observation,
             "Condition": fhir_clinical.condition, "AllergyIntolerance": fhir_clinical.allergy_intolerance,
             "Flag": fhir_clinical.flag, "CarePlan": fhir_clinical.care_plan, "Task": fhir_clinical.task,
             "Goal": fhir_clinical.goal,
             "Immunization": results_out.immunization, "Procedure": results_out.procedure,
             "DiagnosticReport": results_out.diagnostic_report}


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
