"""FHIR R4 resources -> journal commands, pure: the five Synthea bundles of tests/data/synthea
(counts, skip reasons, deterministic ids, no US identifier anywhere) and small hand-made
resources for the rules the bundles do not exercise (units, ranges, future dates, ICPC-2/ICD-10,
medication allergies, Norwegian identifiers)."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from libs.kernel.identifiers import PersonIdType, parse_person_id
from libs.kernel.errors import Conflict
from services.journal.domain import patients as pt
from services.journal.domain.clinical_state import fold_observations
from services.journal.domain.clinical import Clinician
from services.journal.fhir.deciders import decide, exists, register_decider, validate_bundle
from services.journal.fhir.from_fhir import map_bundle
from services.journal.fhir.plan import BundleError, IdPolicy
from services.journal.fhir.synthea import (
    DEMO_ADDRESSES, IMPORTER, LEGEVAKT_UNIT, REPLACED_ADDRESS, REPLACED_ID, SyntheaPolicy,
)
from tests.journal.support import TEST_NUMBER

DATA = Path(__file__).resolve().parent.parent / "data" / "synthea"
NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)
DEAD = "0f49d2d0-59be-4f72-a22b-0a582367b44b"
ALLERGIC = "1f456f0a-acb1-4728-82af-01ca57083c7b"
EMERGENCIES = "4e122e91-c63f-4112-a778-6ccf5abfd6f2"
# per bundle: entries written by kind, and resources skipped
TYPES_KEPT = ("Condition", "Immunization", "Observation", "Encounter", "Procedure",
              "DiagnosticReport", "CarePlan", "Goal")
K = ("observation", "result", "coded_condition", "condition_resolved", "immunization",
     "encounter", "procedure", "report")
EXPECTED = {
    DEAD: (dict(zip(K, (30, 109, 3, 1, 12, 16, 11, 9))) | {
        "episode_started": 1, "episode_ended": 1, "care_plan": 3, "goal": 3, "death": 1}, 46),
    "1ae0605d-e5b8-4d6d-a96d-c93dcbd57e06": (dict(zip(K[:2] + K[4:], (12, 23, 12, 4, 2, 1))),
                                             10),
    ALLERGIC: (dict(zip(K, (15, 34, 6, 5, 8, 12, 2, 1))) | {"critical_info": 3,
                                                            "care_plan": 2}, 38),
    EMERGENCIES: (dict(zip(K, (10, 42, 4, 3, 5, 10, 5, 4))) | {
        "episode_started": 2, "episode_ended": 2, "care_plan": 5}, 32),
    "e4531916-b162-4f4b-90c2-ce37e132b8d4": (dict(zip(K, (9, 27, 3, 2, 4, 6, 1, 2))), 16),
}


def bundle(name: str) -> dict:
    return json.loads((DATA / f"{name}.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def bundles() -> dict[str, dict]:
    return {name: bundle(name) for name in EXPECTED}


@pytest.fixture(scope="module")
def plans(bundles):
    return {name: map_bundle(b, SyntheaPolicy(NOW)) for name, b in bundles.items()}


# --- the five Synthea bundles ----------------------------------------------------------------

def test_the_bundles_are_valid_fhir(bundles):
    for b in bundles.values():
        validate_bundle(b)


def test_counts_per_bundle(plans, bundles):
    for name, (kinds, skipped) in EXPECTED.items():
        plan = plans[name]
        assert dict(plan.counts()) == kinds, name
        assert sum(plan.skipped.values()) == skipped, name
        # every resource is accounted for: the patient, a skipped one or a mapped one
        mapped = {e.source for e in plan.entries if not e.source.startswith("Patient/")}
        assert 1 + skipped + len(mapped) == len(bundles[name]["entry"]), name


def test_skipped_reasons_over_all_bundles(plans, bundles):
    total = Counter()
    for plan in plans.values():
        total.update(plan.skipped)
    resources = Counter(e["resource"]["resourceType"] for b in bundles.values()
                        for e in b["entry"])
    assert sum(total.values()) == 142
    assert not [r for r in total if r.split(":")[0].split()[0] in TYPES_KEPT]
    assert total["MedicationRequest: belongs to the medication service"] == 15
    assert total["Claim: not part of the journal"] == resources["Claim"] == 63
    assert total["ExplanationOfBenefit: not part of the journal"] == 48
    assert total["Organization: not imported (entries are attributed to the importing "
                 "unit)"] == 5 + 1  # one bundle holds two
    assert total["ImagingStudy: not the municipal record's (images stay in the hospital's "
                 "PACS; the record keeps the report, a DiagnosticReport)"] == 4


def test_replaced_fields_are_counted_not_skipped(plans):
    typo = "Observation.category: 'vital-sign' is no FHIR observation category; left out"
    for name, plan in plans.items():
        assert plan.replaced == Counter({REPLACED_ID: 1, REPLACED_ADDRESS: 1} | (
            {typo: 1} if name == DEAD else {}))
        a = plan.registration.address
        assert (a.municipality, a.postal_code, a.city) in DEMO_ADDRESSES
        assert a.lines[0].startswith("Demoveien ")


def test_registration_uses_a_synthetic_number_of_the_birth_date(plans, bundles):
    for name, plan in plans.items():
        patient = bundles[name]["entry"][0]["resource"]
        reg = plan.registration
        pid = parse_person_id(reg.national_id, allow_real=False)
        assert pid.type is PersonIdType.synthetic
        assert pid.birth_date == reg.birth_date == date.fromisoformat(patient["birthDate"])
        assert reg.name.family == patient["name"][0]["family"]
        assert reg.sex == patient["gender"]
        assert len(set(plan.alternatives) | {reg.national_id}) == len(plan.alternatives) + 1
        assert all(parse_person_id(n, allow_real=False).birth_date == pid.birth_date
                   for n in plan.alternatives)


def test_no_us_identifier_anywhere_in_the_commands(plans, bundles):
    us = {i["value"] for b in bundles.values() for i in b["entry"][0]["resource"]["identifier"]
          if i.get("type")}  # SSN, driver's licence, passport, MRN
    assert any(v.startswith("999-") for v in us)
    for plan in plans.values():
        dumped = plan.registration.model_dump_json() + "".join(
            e.command.model_dump_json() for e in plan.entries)
        for value in us:
            assert value not in dumped
            assert value.replace("-", "") not in dumped


def test_the_plan_never_prints_the_national_id(plans):
    for plan in plans.values():
        assert plan.registration.national_id not in repr(plan)
        assert plan.registration.national_id not in str(plan)


def test_ids_are_deterministic(bundles, plans):
    later = {n: map_bundle(b, SyntheaPolicy(NOW + timedelta(days=30)))
             for n, b in bundles.items()}
    for name, plan in plans.items():
        again = later[name]
        assert again.patient_id == plan.patient_id
        assert again.patient_id == uuid.uuid5(SyntheaPolicy(NOW).namespace, f"Patient/{name}")
        assert again.registration.national_id == plan.registration.national_id
        assert [(e.kind, e.entity_id) for e in again.entries] == [
            (e.kind, e.entity_id) for e in plan.entries]
    ids = [e.entity_id for p in plans.values() for e in p.entries
           if e.kind not in ("episode_ended", "death", "condition_resolved")]
    assert len(ids) == len(set(ids))


def test_vital_signs_and_the_blood_pressure_panel(plans):
    obs = [e.command for p in plans.values() for e in p.entries if e.kind == "observation"]
    codes = Counter(o.code for o in obs)
    assert codes == {"29463-7": 25, "8480-6": 25, "8462-4": 25, "8310-5": 1}
    temp = next(o for o in obs if o.code == "8310-5")  # LOINC 8331-1, oral temperature
    assert temp.ucum == "Cel" and 35 < temp.value < 42
    assert all(o.effective_at.tzinfo is not None and o.effective_at < NOW for o in obs)


def test_allergies_become_critical_information(plans):
    infos = [e for e in plans[ALLERGIC].entries if e.kind == "critical_info"]
    assert sorted(e.command.substance for e in infos) == [
        "Allergy to bee venom", "Allergy to peanuts", "Shellfish allergy"]
    assert {e.command.category for e in infos} == {"other_allergy"}  # Synthea: category food
    assert {e.by for e in infos} == {IMPORTER}


def test_emergency_encounters_become_legevakt_episodes(plans):
    plan = plans[EMERGENCIES]
    starts = [e for e in plan.entries if e.kind == "episode_started"]
    ends = [e for e in plan.entries if e.kind == "episode_ended"]
    assert [s.entity_id for s in starts] == [e.command.episode_id for e in ends]
    for s, e in zip(starts, ends):
        assert s.command.kind == "legevakt" and s.command.unit == LEGEVAKT_UNIT
        assert s.command.started_at <= e.command.ended_at
        assert plan.entries.index(s) < plan.entries.index(e)


def test_death_comes_last(plans):
    plan = plans[DEAD]
    assert plan.entries[-1].kind == "death"
    assert plan.entries[-1].command.deceased_on == date(2016, 4, 5)
    assert [e.at for e in plan.entries[:-1]] == sorted(e.at for e in plan.entries[:-1])


def test_the_whole_plan_is_accepted_by_the_domain_and_is_idempotent(plans):
    """Every mapped command passes the journal's own decisions; deciding again adds nothing."""
    for plan in plans.values():
        p = pt.Patient.unknown(plan.patient_id)
        events = register_decider(plan.registration, NOW, production=False)(p)
        for e in events:
            p = pt.evolve(p, e)
        made: list = []
        for entry in plan.entries:
            new = decide(p, entry, NOW, fold_observations(made))
            assert new, entry
            for e in new:
                p = pt.evolve(p, e)
            made += new
            assert exists(p, entry, fold_observations(made))
        held = fold_observations(made)
        assert all(decide(p, entry, NOW, held) == [] for entry in plan.entries)
        assert set(held) == {e.entity_id for e in plan.entries if e.kind in ("observation",
                                                                          "result")}


# --- single resources ------------------------------------------------------------------------

PATIENT = {"resourceType": "Patient", "id": "p1", "birthDate": "1985-05-15", "gender": "female",
           "name": [{"use": "official", "family": "Nordmann", "given": ["Kari", "Anne"]}]}
LOINC = "http://loinc.org"


def one(*resources: dict, ids: IdPolicy | None = None, **kw):
    entries = [{"fullUrl": f"urn:uuid:{r.get('id', n)}", "resource": r}
               for n, r in enumerate(resources)]
    return map_bundle({"resourceType": "Bundle", "type": "transaction", "entry": entries},
                      ids or SyntheaPolicy(NOW), **kw)


def obs(code: str, value: float, unit: str, at: str = "2020-01-01T10:00:00+01:00",
        **more) -> dict:
    return {"resourceType": "Observation", "id": f"o-{code}-{value}", "status": "final",
            "subject": {"reference": "urn:uuid:p1"},
            "code": {"coding": [{"system": LOINC, "code": code}]},
            "effectiveDateTime": at, "valueQuantity": {"value": value, "code": unit}, **more}


def test_units_are_converted():
    plan = one(PATIENT, obs("29463-7", 154.0, "[lb_av]"), obs("8310-5", 98.6, "[degF]"),
               obs("29463-7", 3400, "g"), obs("8867-4", 72, "{beats}/min"))
    values = sorted((e.command.code, e.command.value) for e in plan.entries)
    assert values == [("29463-7", 3.4), ("29463-7", 69.853), ("8310-5", 37.0),
                      ("8867-4", 72.0)]


def test_implausible_unknown_unit_and_future_observations_are_skipped():
    plan = one(PATIENT, obs("29463-7", 700, "kg"), obs("8310-5", 37, "mV"),
               obs("9279-1", 14, "/min", at="2027-01-01T10:00:00+00:00"),
               obs("8867-4", 70, "/min", at="2020-01-01"),
               obs("8867-4", 70, "/min", status="preliminary"))
    assert plan.entries == []
    assert plan.skipped == Counter({
        "Observation LOINC 29463-7: body weight outside the plausible range 0.3-400 kg": 1,
        "Observation LOINC 8310-5: unit 'mV' cannot be converted to 'Cel'": 1,
        "Observation: dated in the future": 1,
        "Observation: no effective date and time": 1,
        "Observation: status 'preliminary' is not a result": 1})


def test_the_vital_signs_profile_panel_85354_9():
    panel = obs("85354-9", 0, "mm[Hg]")
    del panel["valueQuantity"]
    panel["component"] = [
        {"code": {"coding": [{"system": LOINC, "code": "8480-6"}]},
         "valueQuantity": {"value": 16, "code": "kPa"}},
        {"code": {"coding": [{"system": LOINC, "code": "8462-4"}]},
         "valueQuantity": {"value": 80, "code": "mm[Hg]"}}]
    plan = one(PATIENT, panel)
    assert sorted((e.command.code, e.command.value) for e in plan.entries) == [
        ("8462-4", 80.0), ("8480-6", 120.01)]
    assert len({e.entity_id for e in plan.entries}) == 2
    del panel["component"][0]["valueQuantity"]
    plan = one(PATIENT, panel)
    assert [e.command.code for e in plan.entries] == ["8462-4"]
    assert plan.skipped == Counter({"Observation LOINC 8480-6: no numeric value": 1})


def condition(coding: list[dict], **more) -> dict:
    return {"resourceType": "Condition", "id": f"c{len(coding)}{len(more)}",
            "subject": {"reference": "urn:uuid:p1"}, "code": {"coding": coding},
            "onsetDateTime": "2019-03-01T10:00:00+01:00", **more}


def test_conditions_keep_every_coding_and_are_resolved():
    plan = one(PATIENT,
               condition([{"system": "http://snomed.info/sct", "code": "44054006"},
                          {"system": "urn:oid:2.16.578.1.12.4.1.1.7110", "code": "E11.9"}],
                         abatementDateTime="2020-01-01"),
               condition([{"system": "urn:oid:2.16.578.1.12.4.1.1.7170", "code": "T90"},
                          {"system": "http://snomed.info/sct", "code": "44054006"},
                          {"system": "urn:oid:2.16.578.1.12.4.1.1.7110", "code": "E119"}]),
               condition([{"system": "http://snomed.info/sct", "code": "44054006"}]),
               condition([{"system": "http://example.org/local", "code": "X"}], id="local"),
               condition([{"system": "urn:oid:2.16.578.1.12.4.1.1.7170", "code": "T90"}],
                         id="old", clinicalStatus={"coding": [{"code": "resolved"}]}))
    got = [(e.kind, [c.code for c in getattr(e.command, "codings", ())]) for e in plan.entries]
    assert got == [("coded_condition", ["44054006", "E11.9"]),
                   ("coded_condition", ["T90", "44054006", "E119"]),
                   ("coded_condition", ["44054006"]), ("coded_condition", ["X"]),
                   ("condition_resolved", [])]
    assert plan.entries[0].command.onset == date(2019, 3, 1)
    assert plan.skipped == Counter({"Condition: resolved without an abatement date": 1})


def test_medication_allergies_are_drug_reactions_and_inactive_ones_are_skipped():
    base = {"resourceType": "AllergyIntolerance", "patient": {"reference": "urn:uuid:p1"}}
    plan = one(PATIENT,
               {**base, "id": "a1", "category": ["medication"],
                "code": {"coding": [{"display": "Penicillin V"}]},
                "reaction": [{"manifestation": [{"text": "Urticaria"}], "severity": "mild"},
                             {"manifestation": [{"text": "Anaphylaxis"}],
                              "severity": "severe"}]},
               {**base, "id": "a2", "code": {"text": "Latex"},
                "clinicalStatus": {"coding": [{"code": "inactive"}]}},
               {**base, "id": "a3", "code": {"text": "Nuts"},
                "verificationStatus": {"coding": [{"code": "refuted"}]}})
    [info] = plan.entries
    assert info.command.category == "drug_reaction"
    assert info.command.substance == "Penicillin V"
    assert info.command.reaction == "Urticaria; Anaphylaxis"
    assert info.command.severity == "severe"
    assert plan.skipped == Counter({"AllergyIntolerance: no longer active": 1,
                                    "AllergyIntolerance: refuted or entered in error": 1})


def test_other_patients_entries_and_two_patients():
    other = obs("29463-7", 70, "kg", subject={"reference": "urn:uuid:someone-else"})
    assert one(PATIENT, other).skipped == Counter({"Observation: refers to another patient": 1})
    with pytest.raises(BundleError, match="2 Patient resources"):
        one(PATIENT, {**PATIENT, "id": "p2"})
    with pytest.raises(BundleError, match="no Patient resource"):
        one(obs("29463-7", 70, "kg"))


def test_entries_for_a_patient_named_by_the_caller():
    pid = uuid.uuid4()
    plan = one(obs("29463-7", 70, "kg", subject={"reference": f"Patient/{pid}"}),
               patient_id=pid)
    assert plan.registration is None and plan.patient_id == pid
    assert [e.kind for e in plan.entries] == ["observation"]


def test_future_death_and_birth_are_skipped():
    plan = one({**PATIENT, "deceasedDateTime": "2027-01-01T10:00:00+01:00"})
    assert plan.skipped == Counter({"Patient: date of death in the future": 1})
    plan = one({**PATIENT, "birthDate": "2027-01-01"})
    assert plan.registration is None
    assert plan.skipped == Counter({"Patient: birth date in the future": 1})


def test_the_base_policy_reads_norwegian_identifiers():
    nurse = Clinician(hpr="9144889", unit="974600978")
    ids = IdPolicy(nurse, NOW)
    patient = {**PATIENT, "identifier": [
        {"system": "urn:oid:2.16.578.1.12.4.1.4.1", "value": TEST_NUMBER}],
        "address": [{"line": ["Storgata 1"], "postalCode": "0155", "city": "OSLO",
                     "district": "Oslo", "_district": {"extension": [{
                         "url": "http://hl7.no/fhir/StructureDefinition/"
                                "no-basis-municipalitycode",
                         "valueCoding": {"system": "urn:oid:2.16.578.1.12.4.1.1.3402",
                                         "code": "0301"}}]}}]}
    plan = one(patient, obs("29463-7", 70, "kg"), ids=ids)
    assert plan.registration.national_id == TEST_NUMBER
    assert plan.registration.address.municipality == "0301"
    assert plan.replaced == Counter()
    assert plan.entries[0].by == nurse
    missing = one(PATIENT, ids=ids)
    assert missing.registration is None
    assert missing.skipped == Counter(
        {"Patient: no Norwegian national id (fødselsnummer, D- or H-number)": 1})


def test_synthea_numbers_have_distinct_alternatives_for_collisions():
    policy = SyntheaPolicy(NOW)
    twins = [policy.identity({**PATIENT, "id": f"twin-{n}"}) for n in range(20)]
    for who in twins:
        assert len({who.national_id, *who.alternatives}) == 1 + len(who.alternatives) >= 5
    assert len({w.national_id for w in twins}) > 1


def test_a_refusal_from_the_domain_is_a_refused():
    """``decide`` leaves the domain's rules in charge (here: a dead patient takes no entries)."""
    plan = one({**PATIENT, "deceasedDateTime": "2020-06-01T10:00:00+02:00"},
               obs("29463-7", 70, "kg", at="2020-07-01T10:00:00+02:00"))
    p = pt.Patient.unknown(plan.patient_id)
    for e in register_decider(plan.registration, NOW, production=False)(p):
        p = pt.evolve(p, e)
    death, weight = plan.entries[-1], plan.entries[0]
    for e in decide(p, death, NOW):
        p = pt.evolve(p, e)
    with pytest.raises(Conflict):
        decide(p, weight, NOW)


def test_invalid_bundles_are_one_sentence():
    with pytest.raises(BundleError, match=r"^This is not a valid FHIR R4 Bundle: type: "):
        validate_bundle({"resourceType": "Bundle"})
    with pytest.raises(BundleError, match="not a FHIR Bundle"):
        validate_bundle({"resourceType": "Patient"})
    with pytest.raises(BundleError, match=r"resource type R4 does not define \(Nope\)"):
        validate_bundle({"resourceType": "Bundle", "type": "transaction",
                         "entry": [{"resource": {"resourceType": "Nope"}}]})
