"""The consent service's decisions, pure (no I/O): every command and every refusal."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta


from libs.access import events as ev
from libs.access.facts import fold
from libs.access.identifiers import synthetic_number
from libs.access.model import Citizen, Facts, Practitioner, RestrictionKind, Role, Sector
from services.consent import domain as d
from tests.support.refusals import refused

NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)
P = uuid.UUID("0190f0a0-0000-7000-8000-00000000000a")
NURSE = Practitioner(person_id="s", hpr="9144889", org_parent="123456785",
                     org_child="974600978", roles=frozenset({Role.nurse}))
OTHER_UNIT = Practitioner(person_id="o", hpr="1111111", org_parent="999999999",
                          org_child="987654325")
SELF = Citizen(person_id="p", patient_id=P)


def born(years: int, days: int = 0) -> date:
    d0 = NOW.date() - timedelta(days=days)
    return d0.replace(year=d0.year - years)


def person(years: int = 40, days: int = 0, *more) -> Facts:
    born_on = born(years, days)
    return fold(P, [ev.PersonRegistered(national_id=synthetic_number(born_on), id_type="synthetic",
                                        birth_date=born_on), *more])


def test_register_a_person_stores_the_id_type_and_birth_date():
    born_on = date(1985, 5, 15)
    [e] = d.register_person(Facts.unknown(P), d.RegisterPerson(national_id="15858512066"),
                            production=False, rule_2032=False)
    assert (e.id_type, e.birth_date) == ("synthetic", born_on)


def test_registration_refusals():
    f = person()
    refused(409, d.register_person, f, d.RegisterPerson(national_id="15858512066"),
            production=False, rule_2032=False)
    new = Facts.unknown(P)
    message = refused(422, d.register_person, new, d.RegisterPerson(national_id="31129956715"),
                      production=False, rule_2032=False)
    assert "synthetic" in message and "31129956715" not in message
    refused(422, d.register_person, new, d.RegisterPerson(national_id="15858512066"),
            production=True, rule_2032=False)
    refused(422, d.register_person, new, d.RegisterPerson(
        national_id="15858512066", birth_date=date(1985, 5, 16)), production=False,
        rule_2032=False)
    refused(422, d.register_person, new, d.RegisterPerson(national_id="1585851206"),
            production=False, rule_2032=False)


def test_care_relations_start_and_end_for_your_own_unit():
    [e] = d.start_care_relation(person(), d.StartCareRelation(
        purpose="home care", basis="service_decision"), NURSE, NOW)
    assert (e.unit, e.org_parent) == (NURSE.unit, NURSE.org_parent)
    f = fold(P, [e])
    refused(404, d.end_care_relation, f, d.EndCareRelation(relation_id=e.relation_id),
            OTHER_UNIT, NOW)
    [end] = d.end_care_relation(f, d.EndCareRelation(relation_id=e.relation_id), NURSE, NOW)
    refused(409, d.end_care_relation, fold(P, [e, end]),
            d.EndCareRelation(relation_id=e.relation_id), NURSE, NOW)
    refused(422, d.start_care_relation, f, d.StartCareRelation(
        purpose="x", basis="episode", ends_at=NOW - timedelta(hours=1)), NURSE, NOW)


def test_consents_never_cover_the_full_record_and_withdraw_once():
    f = person()
    refused(422, d.give_consent, f, d.GiveConsent(sector=Sector.nav, categories=["record"],
                                                  purpose="x"), SELF, NOW)
    refused(422, d.give_consent, f, d.GiveConsent(
        sector=Sector.school, categories=["a"], purpose="x", valid_to=NOW), SELF, NOW)
    refused(422, d.give_consent, f, d.GiveConsent(
        sector=Sector.school, categories=["a"], purpose="x", recipient_org="123456784"),
        SELF, NOW)
    [given] = d.give_consent(f, d.GiveConsent(sector=Sector.school, categories=["a", "a"],
                                              purpose="x"), SELF, NOW)
    assert given.grantor_role == "patient" and given.categories == ["a"]
    f = fold(P, [given])
    refused(404, d.withdraw_consent, f, d.WithdrawConsent(consent_id=uuid.uuid4()), NOW)
    [w] = d.withdraw_consent(f, d.WithdrawConsent(consent_id=given.consent_id), NOW)
    refused(409, d.withdraw_consent, fold(P, [given, w]),
            d.WithdrawConsent(consent_id=given.consent_id), NOW)


def test_blocks_are_validated_and_not_doubled():
    f = person()
    refused(422, d.register_block, f, d.RegisterBlock(target_kind="unit", target="123"), NOW)
    refused(422, d.register_block, f, d.RegisterBlock(target_kind="practitioner",
                                                      target="abc"), NOW)
    [b] = d.register_block(f, d.RegisterBlock(target_kind="practitioner", target="9144889"), NOW)
    f = fold(P, [b])
    refused(409, d.register_block, f, d.RegisterBlock(target_kind="practitioner",
                                                      target="9144889"), NOW)
    [lifted] = d.lift_block(f, b.block_id, NOW)
    refused(409, d.lift_block, fold(P, [b, lifted]), b.block_id, NOW)
    refused(404, d.lift_block, f, uuid.uuid4(), NOW)


def test_hidden_from_guardians_only_between_12_and_16():
    hide = d.RestrictEntry(kind=RestrictionKind.hidden_from_guardians, target="rx-1")
    refused(422, d.restrict_entry, person(11), hide, NOW)
    refused(422, d.restrict_entry, person(16), hide, NOW)
    [r] = d.restrict_entry(person(12), hide, NOW)
    refused(409, d.restrict_entry, fold(P, [r]), hide, NOW)


def test_mandates_need_a_giver_of_16_and_a_representative_of_18():
    rep = uuid.uuid4()
    adult = fold(rep, [ev.PersonRegistered(national_id="15858512066", id_type="synthetic",
                                           birth_date=date(1985, 5, 15))])
    minor = fold(rep, [ev.PersonRegistered(national_id="x", id_type="synthetic",
                                           birth_date=born(17, days=-1))])
    refused(422, d.grant_mandate, person(15), d.GrantMandate(representative=rep), adult, NOW)
    refused(422, d.grant_mandate, person(70), d.GrantMandate(representative=rep), minor, NOW)
    refused(422, d.grant_mandate, person(70), d.GrantMandate(representative=rep),
            Facts.unknown(rep), NOW)
    refused(422, d.grant_mandate, person(70), d.GrantMandate(representative=P), adult, NOW)
    [m] = d.grant_mandate(person(16), d.GrantMandate(representative=rep), adult, NOW)
    f = fold(P, [m])
    [rv] = d.revoke_mandate(f, m.mandate_id, NOW)
    refused(409, d.revoke_mandate, fold(P, [m, rv]), m.mandate_id, NOW)


def test_guardians_are_for_children():
    parent = uuid.uuid4()
    refused(422, d.register_guardian, person(18), d.RegisterGuardian(
        guardian=parent, shares_address=True), NOW)
    refused(422, d.register_guardian, person(5), d.RegisterGuardian(
        guardian=P, shares_address=True), NOW)
    [g] = d.register_guardian(person(5), d.RegisterGuardian(guardian=parent,
                                                            shares_address=False), NOW)
    refused(409, d.register_guardian, fold(P, [g]), d.RegisterGuardian(
        guardian=parent, shares_address=True), NOW)


def test_emergency_access_is_time_limited_and_needs_an_hpr_number():
    [g] = d.grant_emergency(d.GrantEmergencyAccess(basis="necessity", reason="unconscious"),
                            NURSE, NOW)
    assert g.expires_at - g.granted_at == timedelta(hours=4)
    no_hpr = NURSE.model_copy(update={"hpr": None})
    refused(403, d.grant_emergency, d.GrantEmergencyAccess(basis="consent", reason="asked"),
            no_hpr, NOW)


def test_child_welfare_report_names_the_child():
    [r] = d.report_child_welfare(person(7), d.ReportChildWelfare(
        grounds="neglect", content="left alone"), NURSE, NOW)
    assert r.child == P
    refused(422, d.report_child_welfare, person(35), d.ReportChildWelfare(
        grounds="the children are neglected", content="no food at home"), NURSE, NOW)
    child = uuid.uuid4()
    [r] = d.report_child_welfare(person(35), d.ReportChildWelfare(
        grounds="the children are neglected", content="no food", child=child), NURSE, NOW)
    assert r.child == child


def test_devices_are_assigned_once():
    [a] = d.assign_device(person(), d.AssignDevice(client_id="dispenser-1",
                                                   technology="medicine dispenser"), NOW)
    refused(409, d.assign_device, fold(P, [a]), d.AssignDevice(
        client_id="dispenser-1", technology="medicine dispenser"), NOW)
