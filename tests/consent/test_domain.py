"""The consent service's decisions, pure (no I/O): every command and every refusal."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta, timezone


from services.consent import contract as ev
from libs.access.facts import fold
from libs.kernel.identifiers import synthetic_number
from libs.access.model import Citizen, Facts, Practitioner, RestrictionKind, Role, Sector
from libs.access.policy import DEFAULT
from libs.kernel import errors as k
from tests.support.refusals import refused
from services.consent.domain import commands as c
from services.consent.domain import decisions as d
from services.consent.domain import relations as r

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
    [e] = d.register_person(Facts.unknown(P), c.RegisterPerson(national_id="15858512066"),
                            production=False, rule_2032=False)
    assert (e.id_type, e.birth_date) == ("synthetic", born_on)


def test_registration_refusals():
    f = person()
    refused(k.Conflict, d.register_person, f, c.RegisterPerson(national_id="15858512066"),
            production=False, rule_2032=False)
    new = Facts.unknown(P)
    message = refused(k.Invalid, d.register_person, new,
                      c.RegisterPerson(national_id="31129956715"),
                      production=False, rule_2032=False)
    assert "synthetic" in message and "31129956715" not in message
    refused(k.Invalid, d.register_person, new, c.RegisterPerson(national_id="15858512066"),
            production=True, rule_2032=False)
    refused(k.Invalid, d.register_person, new, c.RegisterPerson(
        national_id="15858512066", birth_date=date(1985, 5, 16)), production=False,
        rule_2032=False)
    refused(k.Invalid, d.register_person, new, c.RegisterPerson(national_id="1585851206"),
            production=False, rule_2032=False)


LEADER = Practitioner(person_id="l", hpr="1234567", org_parent="123456785",
                      org_child="974600978", roles=frozenset({Role.unit_leader}))
NIGHT = Practitioner(person_id="n", hpr="9144891", org_parent="123456785",
                     org_child="974600986", roles=frozenset({Role.nurse}))
ASSIGN = c.StartCareRelation(purpose="home care", basis="service_decision",
                             reason="vedtak om hjemmesykepleie")
OPEN = r.RelationRules(self_declared={"123456785": frozenset({Role.nurse})})


def test_care_relations_start_and_end_for_your_own_unit():
    assert r.relation_source(person(), ASSIGN, LEADER, NOW, r.DEFAULT_RULES) == "assigned"
    [e] = r.start_care_relation(person(), ASSIGN, LEADER, NOW, "assigned", r.DEFAULT_RULES)
    assert (e.unit, e.org_parent, e.source, e.hpr) == (LEADER.unit, LEADER.org_parent,
                                                       "assigned", None)
    f = fold(P, [e])
    refused(k.NotFound, d.end_care_relation, f, c.EndCareRelation(relation_id=e.relation_id),
            OTHER_UNIT, NOW)
    [end] = d.end_care_relation(f, c.EndCareRelation(relation_id=e.relation_id), NURSE, NOW)
    refused(k.Conflict, d.end_care_relation, fold(P, [e, end]),
            c.EndCareRelation(relation_id=e.relation_id), NURSE, NOW)
    for ends in (NOW - timedelta(hours=1), NOW + timedelta(days=3654),
                 datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(-timedelta(hours=14))),
                 datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14)))):
        refused(k.Invalid, r.start_care_relation, f, ASSIGN.model_copy(update={"ends_at": ends}),
                LEADER, NOW, "assigned", r.DEFAULT_RULES)


def test_only_the_unit_leader_or_an_allowed_self_declaration_starts_a_relation():
    """Issue 12, finding 1: nobody else, and no self-declaration outside a treating
    organisation or where the organisation's policy does not allow it."""
    nobody = person()
    for who in (NURSE, OTHER_UNIT, NIGHT):
        for rules in (r.DEFAULT_RULES, OPEN):
            assert r.relation_source(nobody, ASSIGN, who, NOW, rules) is None
    [assigned] = r.start_care_relation(nobody, ASSIGN, LEADER, NOW, "assigned", r.DEFAULT_RULES)
    treated = person(40, 0, assigned)
    assert r.relation_source(treated, ASSIGN, NIGHT, NOW, r.DEFAULT_RULES) is None, "off"
    assert r.relation_source(treated, ASSIGN, NIGHT, NOW, OPEN) == "self_declared"
    assert r.relation_source(treated, ASSIGN.model_copy(update={"hpr": "9144889"}), NIGHT, NOW,
                             OPEN) is None, "only for themself"
    no_hpr = NIGHT.model_copy(update={"hpr": None})
    assert r.relation_source(treated, ASSIGN, no_hpr, NOW, OPEN) is None
    [e] = r.start_care_relation(treated, ASSIGN, NIGHT, NOW, "self_declared", OPEN)
    assert (e.source, e.hpr, e.unit, e.ends_at) == ("self_declared", "9144891", NIGHT.unit,
                                                   NOW + timedelta(hours=4))
    refused(k.Invalid, r.start_care_relation, treated, ASSIGN.model_copy(
        update={"ends_at": NOW + timedelta(hours=25)}), NIGHT, NOW, "self_declared", OPEN)
    refused(k.Forbidden, r.start_care_relation, nobody, ASSIGN, NIGHT, NOW, "self_declared",
            OPEN)
    # a relation the professional declared does not make their organisation a treating one
    alone = fold(P, [e])
    other_night = NIGHT.model_copy(update={"hpr": "9144892"})
    assert r.relation_source(alone, ASSIGN, other_night, NOW, OPEN) is None


def test_consents_never_cover_the_full_record_and_withdraw_once():
    f = person()
    refused(k.Invalid, d.give_consent, f, c.GiveConsent(sector=Sector.nav, categories=["record"],
                                                  purpose="x"), SELF, NOW)
    refused(k.Invalid, d.give_consent, f, c.GiveConsent(
        sector=Sector.school, categories=["a"], purpose="x", valid_to=NOW), SELF, NOW)
    for dates in ({"valid_to": NOW + timedelta(days=3654)}, {"valid_from": NOW - timedelta(days=1)},
                  {"valid_to": datetime(9999, 12, 31, 23, 59, 59,
                                        tzinfo=timezone(-timedelta(hours=14)))}):
        refused(k.Invalid, d.give_consent, f, c.GiveConsent(
            sector=Sector.school, categories=["a"], purpose="x", **dates), SELF, NOW)
    refused(k.Invalid, d.give_consent, f, c.GiveConsent(
        sector=Sector.school, categories=["a"], purpose="x", recipient_org="123456784"),
        SELF, NOW)
    [given] = d.give_consent(f, c.GiveConsent(sector=Sector.school, categories=["a", "a"],
                                              purpose="x"), SELF, NOW)
    assert given.grantor_role == "patient" and given.categories == ["a"]
    f = fold(P, [given])
    refused(k.NotFound, d.withdraw_consent, f, c.WithdrawConsent(consent_id=uuid.uuid4()), NOW)
    [w] = d.withdraw_consent(f, c.WithdrawConsent(consent_id=given.consent_id), NOW)
    refused(k.Conflict, d.withdraw_consent, fold(P, [given, w]),
            c.WithdrawConsent(consent_id=given.consent_id), NOW)


def test_blocks_are_validated_and_not_doubled():
    f = person()
    refused(k.Invalid, d.register_block, f, c.RegisterBlock(target_kind="unit", target="123"), NOW)
    refused(k.Invalid, d.register_block, f, c.RegisterBlock(target_kind="practitioner",
                                                      target="abc"), NOW)
    [b] = d.register_block(f, c.RegisterBlock(target_kind="practitioner", target="09144889"),
                           NOW)
    assert b.target == "9144889", "an HPR number is stored in its canonical form"
    f = fold(P, [b])
    refused(k.Conflict, d.register_block, f, c.RegisterBlock(target_kind="practitioner",
                                                      target="9144889"), NOW)
    [lifted] = d.lift_block(f, b.block_id, NOW)
    refused(k.Conflict, d.lift_block, fold(P, [b, lifted]), b.block_id, NOW)
    refused(k.NotFound, d.lift_block, f, uuid.uuid4(), NOW)


def test_hidden_from_guardians_only_between_12_and_16():
    hide = c.RestrictEntry(kind=RestrictionKind.hidden_from_guardians, target="rx-1")
    refused(k.Invalid, d.restrict_entry, person(11), hide, NOW, rules=DEFAULT)
    refused(k.Invalid, d.restrict_entry, person(16), hide, NOW, rules=DEFAULT)
    [r] = d.restrict_entry(person(12), hide, NOW, rules=DEFAULT)
    refused(k.Conflict, d.restrict_entry, fold(P, [r]), hide, NOW, rules=DEFAULT)


def test_mandates_need_a_giver_of_16_and_a_representative_of_18():
    rep = uuid.uuid4()
    adult = fold(rep, [ev.PersonRegistered(national_id="15858512066", id_type="synthetic",
                                           birth_date=date(1985, 5, 15))])
    minor = fold(rep, [ev.PersonRegistered(national_id="x", id_type="synthetic",
                                           birth_date=born(17, days=-1))])
    refused(k.Invalid, d.grant_mandate, person(15), c.GrantMandate(representative=rep), adult, NOW,
            rules=DEFAULT)
    refused(k.Invalid, d.grant_mandate, person(70), c.GrantMandate(representative=rep), minor, NOW,
            rules=DEFAULT)
    refused(k.Invalid, d.grant_mandate, person(70), c.GrantMandate(representative=rep),
            Facts.unknown(rep), NOW, rules=DEFAULT)
    refused(k.Invalid, d.grant_mandate, person(70), c.GrantMandate(representative=P), adult, NOW,
            rules=DEFAULT)
    [m] = d.grant_mandate(person(16), c.GrantMandate(representative=rep), adult, NOW,
                          rules=DEFAULT)
    f = fold(P, [m])
    [rv] = d.revoke_mandate(f, m.mandate_id, NOW)
    refused(k.Conflict, d.revoke_mandate, fold(P, [m, rv]), m.mandate_id, NOW)


def test_guardians_are_for_children():
    parent = uuid.uuid4()
    refused(k.Invalid, d.register_guardian, person(18), c.RegisterGuardian(
        guardian=parent, shares_address=True), NOW)
    refused(k.Invalid, d.register_guardian, person(5), c.RegisterGuardian(
        guardian=P, shares_address=True), NOW)
    [g] = d.register_guardian(person(5), c.RegisterGuardian(guardian=parent,
                                                            shares_address=False), NOW)
    refused(k.Conflict, d.register_guardian, fold(P, [g]), c.RegisterGuardian(
        guardian=parent, shares_address=True), NOW)


def test_emergency_access_is_time_limited_and_needs_an_hpr_number():
    [g] = d.grant_emergency(c.GrantEmergencyAccess(basis="necessity", reason="unconscious"),
                            NURSE, NOW)
    assert g.expires_at - g.granted_at == timedelta(hours=4)
    no_hpr = NURSE.model_copy(update={"hpr": None})
    refused(k.Forbidden, d.grant_emergency, c.GrantEmergencyAccess(basis="consent", reason="asked"),
            no_hpr, NOW)


def test_child_welfare_report_names_the_child():
    [r] = d.report_child_welfare(person(7), c.ReportChildWelfare(
        grounds="neglect", content="left alone"), NURSE, NOW)
    assert r.child == P
    refused(k.Invalid, d.report_child_welfare, person(35), c.ReportChildWelfare(
        grounds="the children are neglected", content="no food at home"), NURSE, NOW)
    child = uuid.uuid4()
    [r] = d.report_child_welfare(person(35), c.ReportChildWelfare(
        grounds="the children are neglected", content="no food", child=child), NURSE, NOW)
    assert r.child == child


def test_devices_are_assigned_once():
    [a] = d.assign_device(person(), c.AssignDevice(client_id="dispenser-1",
                                                   technology="medicine dispenser"), NOW)
    refused(k.Conflict, d.assign_device, fold(P, [a]), c.AssignDevice(
        client_id="dispenser-1", technology="medicine dispenser"), NOW)


def test_a_review_closes_an_item_once():
    leader = Practitioner(person_id="l", hpr="1234567", org_parent="123456785",
                          org_child="974600978", roles=frozenset({Role.unit_leader}))
    item, body = c.ReviewItem(unit="974600978"), c.ReviewBody(outcome="justified")
    review, access = uuid.uuid4(), uuid.uuid4()
    [e] = d.review_access(review, access, item, body, leader, NOW)
    assert (e.review_id, e.access_event_id, e.reviewer_hpr) == (review, access, "1234567")
    refused(k.NotFound, d.review_access, review, access, None, body, leader, NOW)
    refused(k.Conflict, d.review_access, review, access,
            c.ReviewItem(unit="974600978", reviewed_at=NOW), body, leader, NOW)


def test_an_extract_period_needs_both_ends_in_order():
    assert d.extract_period(c.ExtractRequest(category="a")) is None
    one = date(2026, 1, 1)
    assert d.extract_period(c.ExtractRequest(category="a", period_from=one,
                                             period_to=one)) == (one, one)
    refused(k.Invalid, d.extract_period, c.ExtractRequest(
        category="a", period_from=one, period_to=one - timedelta(days=1)))


def test_emergency_access_lasts_as_the_policy_says_unless_asked_for_less():
    assert c.GrantEmergencyAccess(basis="consent", reason="asked").hours == DEFAULT.emergency_hours
    assert c.GrantEmergencyAccess(basis="consent", reason="asked", hours=1).hours == 1
