"""Issue 19, item 4, pure: every Observation (laboratory with LOINC and NLK, every vital sign,
social history), conditions with every coding (SNOMED CT, ICPC-2, ICD-10; the Norwegian codes
checked against the lists) and immunizations, from FHIR in, through the domain, to FHIR out (valid
R4 resources whose search columns hold their categories and codes)."""

from __future__ import annotations

import json
import uuid

import pytest
from fhir.resources.R4B.condition import Condition
from fhir.resources.R4B.diagnosticreport import DiagnosticReport
from fhir.resources.R4B.encounter import Encounter as FhirEncounter
from fhir.resources.R4B.immunization import Immunization
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.procedure import Procedure

from libs.kernel.errors import Conflict, Invalid
from libs.web.fhir.searchable import search_columns
from services.journal import contract as ev
from services.journal.contract import Coded, Quantity
from services.journal.domain import clinical, immunizations as im, results as rs
from services.journal.domain.base import Clinician
from services.journal.domain.clinical_state import fold_observations
from services.journal.fhir import to_fhir
from services.journal.fhir.deciders import decide
from services.journal.fhir.types import TYPES
from tests.journal.support import NOW, TEST_NUMBER, registered, then
from tests.journal.test_fhir_in import LOINC, PATIENT, one

NURSE = Clinician(hpr="9144889", unit="974600978")
SCT, NLK = "http://snomed.info/sct", "urn:oid:2.16.578.1.12.4.1.1.7280"
ICPC2 = "urn:oid:2.16.578.1.12.4.1.1.7170"
AT = "2024-03-01T10:00:00+01:00"


def observation(rid: str, codings: list[dict], category: str | None, **value) -> dict:
    return {"resourceType": "Observation", "id": rid, "status": "final",
            "subject": {"reference": "urn:uuid:p1"}, "effectiveDateTime": AT,
            "code": {"coding": codings, "text": rid}, **value} | ({"category": [{"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                "code": category}]}]} if category else {})


def quantity(value: float, unit: str) -> dict:
    return {"valueQuantity": {"value": value, "unit": unit, "code": unit}}


def recorded(*resources: dict):
    """The bundle's plan decided by the domain: (patient, observations by id, plan)."""
    plan = one(PATIENT, *resources)
    p, made = registered(plan.patient_id), []
    for entry in plan.entries:
        events = decide(p, entry, NOW, fold_observations(made))
        p, made = then(p, events), made + events
    return p, fold_observations(made), plan


def fhir_observations(p, observations) -> list[dict]:
    return [Observation.model_validate(r) and r for k, _, r in to_fhir.resources_of(
        p, observations.values()) if k == "Observation"]


# --- observations ------------------------------------------------------------------------------

def test_every_observation_is_kept_with_its_categories_codes_and_value():
    smoking = observation("smoking", [{"system": LOINC, "code": "72166-2"}], "social-history",
                          valueCodeableConcept={"coding": [{"system": SCT, "code": "8517006",
                                                            "display": "Ex-smoker"}]})
    lab = observation("hba1c", [{"system": LOINC, "code": "4548-4"},
                                {"system": NLK, "code": "NPU27300", "display": "HbA1c"}],
                      "laboratory", **quantity(48, "mmol/mol"))
    gcs = observation("gcs", [{"system": LOINC, "code": "9269-2"}], "survey", component=[
        {"code": {"coding": [{"system": LOINC, "code": "9267-6"}]}, **quantity(4, "{score}")},
        {"code": {"coding": [{"system": LOINC, "code": "9270-0"}]}, **quantity(6, "{score}")}])
    vitals = [observation(c, [{"system": LOINC, "code": c}], "vital-signs", **quantity(v, u))
              for c, v, u in (("8302-2", 172, "cm"), ("39156-5", 24.3, "kg/m2"),
                              ("72514-3", 3, "{score}"), ("9843-4", 35, "cm"))]
    p, observations, plan = recorded(smoking, lab, gcs, *vitals)
    assert not plan.skipped and len(observations) == 7
    out = {r["code"]["text"]: r for r in fhir_observations(p, observations)}
    assert out["smoking"]["valueCodeableConcept"]["coding"][0]["code"] == "8517006"
    assert out["smoking"]["category"][0]["coding"][0]["code"] == "social-history"
    assert [c["code"] for c in out["hba1c"]["code"]["coding"]] == ["4548-4", "NPU27300"]
    assert out["hba1c"]["valueQuantity"] == {"value": 48.0, "unit": "mmol/mol",
                                             "system": "http://unitsofmeasure.org",
                                             "code": "mmol/mol"}
    assert [c["valueQuantity"]["value"] for c in out["gcs"]["component"]] == [4.0, 6.0]
    assert "valueQuantity" not in out["gcs"]
    assert out["8302-2"]["valueQuantity"]["value"] == 172.0
    assert out["39156-5"]["category"][0]["coding"][0]["code"] == "vital-signs"
    _, codes, _ = search_columns(TYPES["Observation"], out["hba1c"])
    assert {"laboratory", f"{LOINC}|4548-4", f"{NLK}|NPU27300"} <= set(codes)


def test_the_journal_vital_signs_keep_their_rules_and_a_result_has_one_value():
    plan = one(PATIENT, observation("weight", [{"system": LOINC, "code": "29463-7"}],
                                    "vital-signs", **quantity(900, "kg")))
    assert plan.entries == [] and "plausible range" in next(iter(plan.skipped))
    p = registered(uuid.uuid4())
    code = (Coded(system=LOINC, code="8867-4"),)
    with pytest.raises(Invalid, match="is a vital sign"):
        rs.record_result(p, rs.RecordResult(code=code, quantity=Quantity(value=70),
                                            effective_at=NOW), NURSE, NOW)
    code = (Coded(system=LOINC, code="2093-3"),)
    with pytest.raises(Invalid, match="one value"):
        rs.record_result(p, rs.RecordResult(code=code, effective_at=NOW), NURSE, NOW)
    with pytest.raises(Invalid, match="not a FHIR observation category"):
        rs.record_result(p, rs.RecordResult(code=code, category=("vital-sign",),
                                            quantity=Quantity(value=5), effective_at=NOW),
                         NURSE, NOW)


def test_a_numeric_result_is_corrected_a_coded_one_is_not():
    smoking = observation("smoking", [{"system": LOINC, "code": "72166-2"}], "social-history",
                          valueCodeableConcept={"coding": [{"system": SCT, "code": "8517006"}]})
    ldl = observation("ldl", [{"system": LOINC, "code": "18262-6"}], "laboratory",
                      **quantity(3.1, "mmol/L"))
    p, observations, _ = recorded(smoking, ldl)
    by_code = {o.code: o for o in observations.values()}
    fixed = clinical.correct_observation(p, by_code["18262-6"], clinical.CorrectObservation(
        observation_id=by_code["18262-6"].observation_id, value=2.9, reason="feil analyse"),
        NURSE, NOW)
    assert fixed[0].value == 2.9
    with pytest.raises(Invalid, match="entered in error"):
        clinical.correct_observation(p, by_code["72166-2"], clinical.CorrectObservation(
            observation_id=by_code["72166-2"].observation_id, value=1, reason="x"), NURSE, NOW)


# --- conditions --------------------------------------------------------------------------------

def test_a_condition_keeps_every_coding_and_the_norwegian_ones_are_checked():
    p = registered(uuid.uuid4())
    snomed = Coded(system=SCT, code="44054006", display="Diabetes mellitus type 2")
    [only] = rs.record_coded_condition(p, rs.RecordCodedCondition(codings=(snomed,)), NURSE,
                                       NOW)
    assert isinstance(only, ev.ConditionCoded) and only.display == "Diabetes mellitus type 2"
    both = rs.record_coded_condition(p, rs.RecordCodedCondition(
        codings=(snomed, Coded(system=ICPC2, code="t90"))), NURSE, NOW)
    assert [type(e) for e in both] == [ev.ConditionRecorded, ev.ConditionCodings]
    assert (both[0].system, both[0].code, both[1].codings) == ("ICPC-2", "T90", (snomed,))
    p = then(p, [only, *both])
    conditions = [Condition.model_validate(r) and r for k, _, r in to_fhir.resources_of(p)
                  if k == "Condition"]
    assert [[c["code"] for c in r["code"]["coding"]] for r in conditions] == [
        ["44054006"], ["T90", "44054006"]]
    with pytest.raises(Conflict, match="T90 is already an active problem"):
        rs.record_coded_condition(p, rs.RecordCodedCondition(
            codings=(Coded(system=ICPC2, code="T90"),)), NURSE, NOW)
    with pytest.raises(Invalid, match="ICPC-2 code 'T00' does not exist"):
        rs.record_coded_condition(p, rs.RecordCodedCondition(
            codings=(snomed, Coded(system=ICPC2, code="T00"))), NURSE, NOW)
    with pytest.raises(Invalid, match="not a SNOMED CT identifier"):
        rs.record_coded_condition(p, rs.RecordCodedCondition(
            codings=(Coded(system=SCT, code="diabetes"),)), NURSE, NOW)


# --- immunizations -----------------------------------------------------------------------------

def test_an_immunization_is_a_journal_fact_a_sysvak_reporter_can_read():
    given = {"resourceType": "Immunization", "id": "flu", "status": "completed",
             "patient": {"reference": "urn:uuid:p1"}, "occurrenceDateTime": AT,
             "vaccineCode": {"coding": [
                 {"system": im.CVX, "code": "140", "display": "Influenza, seasonal"},
                 {"system": im.ATC, "code": "J07BB02", "display": "Influensa, inaktivert"}]},
             "lotNumber": "L123", "protocolApplied": [{"doseNumberPositiveInt": 2}],
             "site": {"text": "venstre overarm"}, "primarySource": True}
    missed = given | {"id": "mmr", "status": "not-done",
                      "statusReason": {"text": "pasienten takket nei"}}
    p, _, plan = recorded(given, missed, given | {"id": "bad", "status": "entered-in-error"})
    assert plan.skipped == {"Immunization: status 'entered-in-error' (entered in error or "
                            "unknown)": 1}
    flu = next(x for x in p.immunizations if x.status == "completed")
    assert [c.code for c in flu.vaccine] == ["J07BB02", "140"]   # ATC first: SYSVAK's code
    assert (flu.lot_number, flu.dose_number, flu.performer) == ("L123", 2, "1000001")
    [event] = im.record_immunization(p, im.RecordImmunization(
        vaccine=flu.vaccine, occurred_at=NOW, lot_number="L9"), NURSE, NOW)
    assert TEST_NUMBER not in json.dumps(event.model_dump(mode="json"))
    with pytest.raises(Invalid, match="names the reason"):
        im.record_immunization(p, im.RecordImmunization(vaccine=flu.vaccine, occurred_at=NOW,
                                                        status="not-done"), NURSE, NOW)
    out = [r for k, _, r in to_fhir.resources_of(p) if k == "Immunization"]
    for r in out:
        Immunization.model_validate(r)
    done = next(r for r in out if r["status"] == "completed")
    assert done["vaccineCode"]["coding"][0] == {"system": im.ATC, "code": "J07BB02",
                                                "display": "Influensa, inaktivert"}
    assert (done["lotNumber"], done["protocolApplied"]) == ("L123", [{"doseNumberPositiveInt": 2}])
    assert next(r for r in out if r["status"] == "not-done")["statusReason"] == {
        "text": "pasienten takket nei"}
    _, codes, _ = search_columns(TYPES["Immunization"], done)
    assert f"{im.CVX}|140" in codes


# --- encounters --------------------------------------------------------------------------------

def test_a_contact_of_every_class_is_an_encounter_and_an_emergency_a_legevakt_episode_too():
    def contact(rid: str, cls: str, **more) -> dict:
        return {"resourceType": "Encounter", "id": rid, "status": "finished",
                "class": {"code": cls}, "subject": {"reference": "urn:uuid:p1"},
                "period": {"start": AT, "end": "2024-03-01T10:30:00+01:00"}, **more}
    p, _, plan = recorded(
        contact("gp", "AMB", type=[{"coding": [{"system": SCT, "code": "185349003",
                                                 "display": "Encounter for check up"}]}],
                reasonCode=[{"coding": [{"system": SCT, "code": "444814009"}]}]),
        contact("home", "HH"), contact("ae", "EMER"), contact("bad", "amb"),
        contact("later", "AMB", status="planned"))
    assert plan.skipped == {"Encounter: class 'amb' is not an HL7 v3 ActCode": 1,
                            "Encounter: status 'planned' is not a contact that took place": 1}
    assert [e.kind for e in plan.entries] == ["encounter", "encounter", "episode_started",
                                              "encounter", "episode_ended"]
    [episode] = p.episodes
    out = {r["class"]["code"]: r for k, _, r in to_fhir.resources_of(p) if k == "Encounter"}
    assert set(out) == {"AMB", "HH", "EMER"}
    assert out["EMER"]["episodeOfCare"] == [{"reference": f"EpisodeOfCare/{episode.episode_id}"}]
    assert out["AMB"]["type"][0]["coding"][0]["code"] == "185349003"
    assert out["AMB"]["reasonCode"][0]["coding"][0]["code"] == "444814009"
    assert out["AMB"]["period"]["end"] == "2024-03-01T09:30:00+00:00"
    assert out["HH"]["serviceProvider"]["identifier"]["value"] == "974600978"
    assert out["EMER"]["serviceProvider"]["identifier"]["value"] == "987654325"  # legevakt
    for r in out.values():
        FhirEncounter.model_validate(r)


# --- procedures and diagnostic reports ---------------------------------------------------------

def test_a_report_names_its_results_and_a_procedure_keeps_its_codes():
    ldl = observation("ldl", [{"system": LOINC, "code": "18262-6"}], "laboratory",
                      **quantity(3.1, "mmol/L"))
    bp = observation("bp", [{"system": LOINC, "code": "85354-9"}], "vital-signs", component=[
        {"code": {"coding": [{"system": LOINC, "code": c}]}, **quantity(v, "mm[Hg]")}
        for c, v in (("8480-6", 130), ("8462-4", 80))])
    panel = {"resourceType": "DiagnosticReport", "id": "panel", "status": "final",
             "subject": {"reference": "urn:uuid:p1"}, "effectiveDateTime": AT,
             "code": {"coding": [{"system": LOINC, "code": "57698-3"}]},
             "result": [{"reference": r} for r in ("urn:uuid:ldl", "urn:uuid:bp",
                                                   "urn:uuid:missing")]}
    done = {"resourceType": "Procedure", "id": "proc", "status": "completed",
            "subject": {"reference": "urn:uuid:p1"},
            "code": {"coding": [{"system": SCT, "code": "173160006", "display": "Diagnostic "
                                 "fiberoptic bronchoscopy"}]},
            "performedPeriod": {"start": AT, "end": "2024-03-01T11:00:00+01:00"}}
    p, observations, plan = recorded(ldl, bp, panel, done, done | {"id": "x", "status": "?"})
    assert plan.replaced["DiagnosticReport.result: an Observation not imported, left out"] == 1
    assert plan.skipped == {"Procedure: status '?' is not a procedure that took place": 1}
    out = {k: r for k, _, r in to_fhir.resources_of(p, observations.values())
           if k in ("DiagnosticReport", "Procedure")}
    assert sorted(r["reference"] for r in out["DiagnosticReport"]["result"]) == sorted(
        f"Observation/{o}" for o in observations)   # the panel is its two vital signs
    assert len(observations) == 3
    assert out["Procedure"]["code"]["coding"][0]["code"] == "173160006"
    assert out["Procedure"]["performedPeriod"]["end"] == "2024-03-01T10:00:00+00:00"
    for kind, model in (("DiagnosticReport", DiagnosticReport), ("Procedure", Procedure)):
        model.model_validate(out[kind])
