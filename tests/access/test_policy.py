"""Every access rule, permitted and denied, as one table (DOMAIN.md §4 AC1–AC15, req 9–22)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest

from libs.access.model import (
    Action, Basis, Citizen, Declaration, DeclaredBasis, Facts, Obligation, Practitioner,
    Resource, RestrictionKind, Sector,
)
from libs.access.policy import decide
from tests.access.policy_cases import (
    COLLEAGUE, DAY, DISPENSER, HOME_CARE, HOUR, LEGEVAKT, LEGEVAKT_DOCTOR, MUNICIPALITY, NAV, NOW, NURSE,
    OTHER_PATIENT, PATIENT, SCHOOL, SELF, STRANGER, birthday, block, consent, device, emergency,
    facts, guardian, mandate, parent_of, relation, representative_of, restriction,
)


@dataclass
class Case:
    name: str
    subject: object
    facts: Facts
    permit: bool
    reason: str
    action: Action = Action.read
    resource: dict | None = None
    at: timedelta = timedelta(0)
    basis: Basis | None = None
    obligations: frozenset = frozenset()
    hidden: frozenset = frozenset()


NECESSITY = Declaration(basis=DeclaredBasis.necessity, reason="unconscious, no relatives")
E = emergency(LEGEVAKT_DOCTOR)

CASES = [
    # need-to-know (AC2, AC3, req 9)
    Case("care relation for the unit", NURSE, facts(care_relations=(relation(),)), True,
         "care_relation", basis=Basis.care_relation),
    Case("care relation of the legal entity covers its units", NURSE,
         facts(care_relations=(relation(unit=MUNICIPALITY),)), True, "care_relation"),
    Case("named care relation covers only that person", COLLEAGUE,
         facts(care_relations=(relation(hpr=NURSE.hpr),)), False, "no_access"),
    Case("named care relation covers the named person", NURSE,
         facts(care_relations=(relation(hpr=NURSE.hpr),)), True, "care_relation"),
    Case("no care relation", NURSE, facts(), False, "no_access"),
    # self-declared relations are always reviewed (issue 12)
    Case("a self-declared relation gives access only with a review", NURSE,
         facts(care_relations=(relation(hpr=NURSE.hpr, source="self_declared"),)), True,
         "care_relation", obligations=frozenset({Obligation.review})),
    Case("an assigned relation needs no review", NURSE,
         facts(care_relations=(relation(source="assigned"),)), True, "care_relation"),
    Case("another unit's care relation", LEGEVAKT_DOCTOR,
         facts(care_relations=(relation(),)), False, "no_access"),
    Case("ended care relation", NURSE, facts(care_relations=(relation(ended=NOW - HOUR),)),
         False, "no_access"),
    Case("care relation ends at its end time", NURSE,
         facts(care_relations=(relation(ends=NOW),)), False, "no_access"),
    Case("care relation not yet started", NURSE,
         facts(care_relations=(relation(start=NOW + HOUR),)), False, "no_access"),
    Case("unknown patient looks like any denial", NURSE, facts(patient_id=OTHER_PATIENT),
         False, "no_access", resource={"patient_id": OTHER_PATIENT}),
    # blocks (AC11, req 11, 18)
    Case("block beats a care relation", NURSE,
         facts(care_relations=(relation(),), blocks=(block(NURSE.hpr),)), False,
         "withheld_by_patient"),
    Case("unit block beats a care relation", COLLEAGUE,
         facts(care_relations=(relation(),), blocks=(block(HOME_CARE, "unit"),)), False,
         "withheld_by_patient"),
    Case("a block of someone else does not apply", COLLEAGUE,
         facts(care_relations=(relation(),), blocks=(block(NURSE.hpr),)), True,
         "care_relation"),
    Case("a lifted block no longer applies", NURSE,
         facts(care_relations=(relation(),), blocks=(block(NURSE.hpr, lifted=NOW - HOUR),)),
         True, "care_relation"),
    Case("block beats emergency access, answered like no access at all", LEGEVAKT_DOCTOR,
         facts(emergency_accesses=(E,), blocks=(block(LEGEVAKT_DOCTOR.hpr),)), False,
         "no_access"),
    Case("a block holds for the HPR number written with a leading zero",
         Practitioner(**LEGEVAKT_DOCTOR.model_dump() | {"hpr": "07654321"}),
         facts(care_relations=(relation(unit=LEGEVAKT),), blocks=(block("7654321"),)), False,
         "withheld_by_patient"),
    Case("a block registered with a leading zero holds for the HPR number", LEGEVAKT_DOCTOR,
         facts(care_relations=(relation(unit=LEGEVAKT),), blocks=(block("007654321"),)), False,
         "withheld_by_patient"),
    Case("block without any way in does not reveal the patient", LEGEVAKT_DOCTOR,
         facts(blocks=(block(LEGEVAKT_DOCTOR.hpr),)), False, "no_access"),
    # emergency access (AC12, req 10)
    Case("emergency access within its time", LEGEVAKT_DOCTOR, facts(emergency_accesses=(E,)),
         True, "emergency_access", basis=Basis.emergency,
         obligations=frozenset({Obligation.mark_emergency, Obligation.review})),
    Case("emergency access to a patient unknown to the access model is no access",
         LEGEVAKT_DOCTOR, facts(registered=False, emergency_accesses=(E,)), False, "no_access"),
    Case("emergency access expired", LEGEVAKT_DOCTOR, facts(emergency_accesses=(E,)), False,
         "no_access", at=timedelta(hours=3, minutes=1)),
    Case("emergency access is personal", COLLEAGUE, facts(emergency_accesses=(E,)), False,
         "no_access"),
    # restricted entries (AC11, req 19)
    Case("locked entries are hidden from a clinician", NURSE,
         facts(care_relations=(relation(),), restrictions=(restriction("note-1"),)), True,
         "care_relation", obligations=frozenset({Obligation.hide_restricted}),
         hidden=frozenset({"note-1"})),
    Case("opening a locked entry needs a declaration", NURSE,
         facts(care_relations=(relation(),), restrictions=(restriction("note-1"),)), False,
         "declaration_required", action=Action.open_restricted,
         resource={"entries": frozenset({"note-1"})}),
    Case("opening a locked entry with a declaration notifies the patient", NURSE,
         facts(care_relations=(relation(),), restrictions=(restriction("note-1", notify=True),)),
         True, "restricted_opened", action=Action.open_restricted,
         resource={"entries": frozenset({"note-1"}), "declaration": NECESSITY},
         obligations=frozenset({Obligation.notify_patient, Obligation.mark_emergency})),
    Case("opening needs need-to-know first", LEGEVAKT_DOCTOR,
         facts(restrictions=(restriction("note-1"),)), False, "no_access",
         action=Action.open_restricted,
         resource={"entries": frozenset({"note-1"}), "declaration": NECESSITY}),
    # citizens (AC10, req 8, 49)
    Case("a citizen reads their own record", SELF, facts(), True, "own_record",
         basis=Basis.own_record),
    Case("a citizen sees their own locked entries", SELF,
         facts(restrictions=(restriction("note-1"),)), True, "own_record"),
    Case("a citizen cannot read another citizen", STRANGER, facts(), False, "no_access"),
    Case("a citizen cannot act for someone without proxy rights", Citizen(
        person_id="x", patient_id=OTHER_PATIENT, acting_for=PATIENT), facts(), False,
        "no_access"),
    Case("a citizen without a record here gets nothing", Citizen(person_id="x",
                                                                 patient_id=None),
         facts(), False, "no_access"),
    Case("a citizen manages their own consents", SELF, facts(), True, "own_record",
         action=Action.manage),
    Case("a citizen cannot write clinical data", SELF, facts(), False, "no_access",
         action=Action.write),
    # proxies for children (AC15, req 22, 51), birthday boundaries
    Case("parent of an 11-year-old sharing the address", parent_of(),
         facts(birth_date=birthday(12, days_after=1), guardians=(guardian(),)), True,
         "guardian_under_12", basis=Basis.guardian),
    Case("parent of an 11-year-old not sharing the address", parent_of(),
         facts(birth_date=birthday(12, days_after=1), guardians=(guardian(False),)), False,
         "proxy_requires_shared_address"),
    Case("parent on the 12th birthday: limited view", parent_of(),
         facts(birth_date=birthday(12), guardians=(guardian(False),),
               restrictions=(restriction("rx-1", RestrictionKind.hidden_from_guardians),)),
         True, "guardian_12_16", hidden=frozenset({"rx-1"}),
         obligations=frozenset({Obligation.hide_from_guardians})),
    Case("12–16: services unavailable to parents are refused", parent_of(),
         facts(birth_date=birthday(13), guardians=(guardian(),)), False,
         "not_available_to_guardians_12_16", resource={"category": "messages"}),
    Case("12–16: parents cannot manage the youth's consents", parent_of(),
         facts(birth_date=birthday(13), guardians=(guardian(),)), False,
         "not_available_to_guardians_12_16", action=Action.manage),
    Case("parent the day before the 16th birthday", parent_of(),
         facts(birth_date=birthday(16, days_after=1), guardians=(guardian(),)), True,
         "guardian_12_16"),
    Case("parent on the 16th birthday", parent_of(),
         facts(birth_date=birthday(16), guardians=(guardian(),)), False, "proxy_ended_at_16"),
    Case("parent of an 11-year-old manages consents", parent_of(),
         facts(birth_date=birthday(11), guardians=(guardian(),)), True, "guardian_under_12",
         action=Action.manage),
    Case("someone else's parent", parent_of(),
         facts(birth_date=birthday(8), guardians=(guardian(parent=OTHER_PATIENT),)), False,
         "no_access"),
    # mandates (fullmakt)
    Case("representative with a full mandate", representative_of(),
         facts(birth_date=birthday(70), mandates=(mandate(),)), True, "mandate",
         basis=Basis.mandate),
    Case("representative outside the mandate's categories", representative_of(),
         facts(birth_date=birthday(70), mandates=(mandate(("medication",)),)), False,
         "no_access", resource={"category": "notes"}),
    Case("revoked mandate", representative_of(),
         facts(birth_date=birthday(70), mandates=(mandate(revoked=NOW - HOUR),)), False,
         "no_access"),
    Case("a mandate from a giver under 16 is void", representative_of(),
         facts(birth_date=birthday(15), mandates=(mandate(),)), False, "no_access"),
    # other sectors (AC5, AC7, req 17, 21)
    Case("school with consent for the category", SCHOOL,
         facts(consents=(consent(Sector.school),)), True, "consent",
         resource={"category": "school_health"}, basis=Basis.consent),
    Case("school without consent", SCHOOL, facts(), False, "no_consent",
         resource={"category": "school_health"}),
    Case("school with consent for another category", SCHOOL,
         facts(consents=(consent(Sector.school),)), False, "no_consent",
         resource={"category": "notes"}),
    Case("school with a consent to the kindergarten", SCHOOL,
         facts(consents=(consent(Sector.kindergarten),)), False, "no_consent",
         resource={"category": "school_health"}),
    Case("consent expired", SCHOOL, facts(consents=(consent(Sector.school, end=NOW),)), False,
         "no_consent", resource={"category": "school_health"}),
    Case("consent withdrawn", SCHOOL,
         facts(consents=(consent(Sector.school, withdrawn=NOW - HOUR),)), False, "no_consent",
         resource={"category": "school_health"}),
    Case("consent for another school", SCHOOL,
         facts(consents=(consent(Sector.school, org="999999999"),)), False, "no_consent",
         resource={"category": "school_health"}),
    Case("a consent never covers the full record", SCHOOL,
         facts(consents=(consent(Sector.school, ("record",)),)), False, "consent_scope"),
    Case("NAV full record refused even with consent", NAV,
         facts(consents=(consent(Sector.nav, ("record",)),)), False,
         "nav_full_record_refused", action=Action.disclose,
         resource={"full_record": True}),
    Case("NAV topic-limited extract with consent", NAV,
         facts(consents=(consent(Sector.nav, ("sick_leave",)),)), True, "consent",
         action=Action.disclose, resource={"category": "sick_leave"}),
    Case("sectors never write", SCHOOL, facts(consents=(consent(Sector.school),)), False,
         "no_access", action=Action.write, resource={"category": "school_health"}),
    # child welfare (AC6, req 20): no consent needed, but need-to-know
    Case("duty to notify child welfare with a care relation", NURSE,
         facts(care_relations=(relation(),)), True, "duty_to_notify",
         action=Action.report_child_welfare, basis=Basis.duty_to_notify),
    Case("duty to notify does not open a stranger's record", LEGEVAKT_DOCTOR, facts(), False,
         "no_access", action=Action.report_child_welfare),
    # devices (DESIGN §4)
    Case("assigned device writes", DISPENSER, facts(devices=(device(),)), True,
         "device_assignment", action=Action.write),
    Case("unassigned device", DISPENSER, facts(devices=(device("other"),)), False, "no_access",
         action=Action.write),
    Case("device assignment ended", DISPENSER, facts(devices=(device(ended=NOW - HOUR),)),
         False, "no_access", action=Action.write),
    Case("devices never read", DISPENSER, facts(devices=(device(),)), False, "no_access"),
    # professionals do not manage the patient's consents
    Case("a nurse cannot manage consents", NURSE, facts(care_relations=(relation(),)), False,
         "no_access", action=Action.manage),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_rule(case: Case):
    resource = Resource(**({"patient_id": case.facts.patient_id} | (case.resource or {})))
    d = decide(case.subject, case.action, resource, case.facts, NOW + case.at)
    assert (d.permit, d.reason) == (case.permit, case.reason), d.message
    assert Obligation.log in d.obligations, "every decision is logged"
    if case.basis is not None:
        assert d.basis == case.basis
    assert case.obligations <= d.obligations
    assert case.hidden <= d.hidden
    if d.permit and d.basis in (Basis.care_relation, Basis.emergency, Basis.consent):
        assert d.decision_ref is not None, "the log names what the access rests on"


def test_denials_for_unknown_and_unrelated_patients_are_identical():
    """A 403 must not tell a snooper whether the patient exists."""
    unknown = decide(NURSE, Action.read, Resource(patient_id=OTHER_PATIENT),
                     Facts.unknown(OTHER_PATIENT), NOW)
    known = decide(NURSE, Action.read, Resource(patient_id=PATIENT),
                   facts(care_relations=(relation(unit="111111111"),),
                         blocks=(block(NURSE.hpr),)), NOW)
    assert (unknown.reason, unknown.message) == (known.reason, known.message)


def test_a_relation_from_a_fact_is_preferred_to_a_self_declared_one():
    f = facts(care_relations=(relation(hpr=NURSE.hpr, source="self_declared"), relation()))
    d = decide(NURSE, Action.read, Resource(patient_id=PATIENT), f, NOW)
    assert d.permit and Obligation.review not in d.obligations
    assert d.decision_ref == f.care_relations[1].relation_id


def test_emergency_access_to_an_unknown_patient_looks_like_a_blocked_one():
    """Issue 12, finding 7: breaking the glass never tells whether the patient exists."""
    unknown = decide(LEGEVAKT_DOCTOR, Action.read, Resource(patient_id=OTHER_PATIENT),
                     Facts(patient_id=OTHER_PATIENT, emergency_accesses=(E,)), NOW)
    blocked = decide(LEGEVAKT_DOCTOR, Action.read, Resource(patient_id=PATIENT),
                     facts(emergency_accesses=(E,), blocks=(block(LEGEVAKT_DOCTOR.hpr),)), NOW)
    assert not unknown.permit and unknown == blocked


def test_emergency_access_runs_out_after_its_window():
    f = facts(emergency_accesses=(emergency(LEGEVAKT_DOCTOR, granted=NOW, hours=4),))
    r = Resource(patient_id=PATIENT)
    assert decide(LEGEVAKT_DOCTOR, Action.read, r, f, NOW + 4 * HOUR - timedelta(seconds=1)).permit
    assert not decide(LEGEVAKT_DOCTOR, Action.read, r, f, NOW + 4 * HOUR).permit


def test_consent_validity_starts_at_its_start():
    f = facts(consents=(consent(Sector.school, start=NOW + DAY),))
    r = Resource(patient_id=PATIENT, category="school_health")
    assert not decide(SCHOOL, Action.read, r, f, NOW).permit
    assert decide(SCHOOL, Action.read, r, f, NOW + DAY).permit


def test_facts_for_another_patient_are_a_programming_error():
    with pytest.raises(ValueError):
        decide(NURSE, Action.read, Resource(patient_id=OTHER_PATIENT), facts(), NOW)
