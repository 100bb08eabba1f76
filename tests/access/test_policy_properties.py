"""Properties of the policy over arbitrary facts (hypothesis, 10,000 cases each).

- No combination of facts lets a citizen read another citizen's record without proxy rights.
- No professional reads without an active care relation, unless an unexpired emergency access
  exists; and never while a block applies.
- A proxy never sees more than the person they act for.
- No professional reads through a relation they declared themself (or by breaking the glass)
  without a review: the decision carries the review obligation, and a sequence of requests to
  the consent service by any professional leaves a review item for every such relation
  (issue 12). HPR numbers are spelled with and without leading zeros.
"""

from __future__ import annotations

import os
import uuid
from types import SimpleNamespace

from datetime import timedelta

from hypothesis import HealthCheck, given, settings, strategies as st

from libs.access.facts import fold
from libs.access.model import (
    Action, Block, CareRelation, Citizen, DeclaredBasis, EmergencyAccess, Facts, Guardian,
    Mandate, Obligation, Practitioner, Resource, Restriction, RestrictionKind, Role,
)
from libs.access.policy import age_on, decide, local_day
from services.consent import contract as ev
from services.consent.domain import commands as c
from services.consent.domain import decisions as d
from services.consent.domain import relations as rel
from services.consent.projections.access_log import review_item
from tests.access.policy_cases import NOW, OTHER_PATIENT, PARENT, PATIENT, REPRESENTATIVE

# 10,000 cases in `make test`; `make test-fast` asks for fewer (EHR_PROPERTY_CASES) to stay quick
CASES = int(os.environ.get("EHR_PROPERTY_CASES", "10000"))
MANY = settings(max_examples=CASES, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])

HPRS = ["9144889", "9144890", "7654321"]
SPELLED = HPRS + ["07654321", "009144889"]   # the same people, written with leading zeros
SOURCES = [None, "journal", "assigned", "self_declared"]
UNITS = ["974600952", "974600951", "998877665", "998877600"]
CITIZENS = [PATIENT, OTHER_PATIENT, PARENT, REPRESENTATIVE]
CATEGORIES = ["record", "notes", "medication", "messages", "vaccinations"]

offsets = st.integers(min_value=-30 * 24, max_value=30 * 24).map(lambda h: timedelta(hours=h))
times = offsets.map(lambda d: NOW + d)
maybe_times = st.none() | times
ids = st.uuids(version=4)

relations = st.builds(CareRelation, relation_id=ids, unit=st.sampled_from(UNITS),
                      hpr=st.none() | st.sampled_from(SPELLED), purpose=st.just("care"),
                      basis=st.just("episode"), source=st.sampled_from(SOURCES),
                      started_at=times, ends_at=maybe_times, ended_at=maybe_times)
blocks = st.one_of(
    st.builds(Block, block_id=ids, target_kind=st.just("practitioner"),
              target=st.sampled_from(SPELLED), since=times, lifted_at=maybe_times),
    st.builds(Block, block_id=ids, target_kind=st.just("unit"), target=st.sampled_from(UNITS),
              since=times, lifted_at=maybe_times))
emergencies = st.builds(
    lambda i, h, u, b, g, d: EmergencyAccess(access_id=i, hpr=h, unit=u, basis=b, granted_at=g,
                                             expires_at=g + d),
    ids, st.sampled_from(SPELLED), st.sampled_from(UNITS), st.sampled_from(list(DeclaredBasis)),
    times, offsets)
restrictions = st.builds(Restriction, restriction_id=ids, kind=st.sampled_from(
    list(RestrictionKind)), target=st.sampled_from(["note-1", "rx-1", "notes"]),
    notify_on_open=st.booleans(), since=times, lifted_at=maybe_times)
guardians = st.builds(Guardian, guardian=st.sampled_from(CITIZENS), shares_address=st.booleans(),
                      since=times, ended_at=maybe_times)
mandates = st.builds(Mandate, mandate_id=ids, representative=st.sampled_from(CITIZENS),
                     categories=st.frozensets(st.sampled_from(CATEGORIES), min_size=1),
                     valid_from=times, valid_to=maybe_times, revoked_at=maybe_times)
birth_dates = st.none() | st.dates(min_value=NOW.date() - timedelta(days=100 * 365),
                                   max_value=NOW.date())

all_facts = st.builds(
    Facts, patient_id=st.just(PATIENT), registered=st.booleans(), birth_date=birth_dates,
    care_relations=st.lists(relations, max_size=3).map(tuple),
    blocks=st.lists(blocks, max_size=2).map(tuple),
    emergency_accesses=st.lists(emergencies, max_size=2).map(tuple),
    restrictions=st.lists(restrictions, max_size=2).map(tuple),
    guardians=st.lists(guardians, max_size=2).map(tuple),
    mandates=st.lists(mandates, max_size=2).map(tuple))

practitioners = st.builds(
    Practitioner, person_id=st.just("sub"), hpr=st.sampled_from(SPELLED),
    org_parent=st.sampled_from(UNITS), org_child=st.none() | st.sampled_from(UNITS),
    roles=st.frozensets(st.sampled_from(list(Role)), min_size=1))
citizens = st.builds(Citizen, person_id=st.just("sub"), patient_id=st.sampled_from(CITIZENS),
                     acting_for=st.none() | st.sampled_from(CITIZENS))
resources = st.builds(Resource, patient_id=st.just(PATIENT),
                      category=st.sampled_from(CATEGORIES))
reading = st.sampled_from([Action.read, Action.write, Action.report_child_welfare])


@MANY
@given(who=citizens, facts=all_facts, resource=resources,
       action=st.sampled_from([Action.read, Action.manage]), at=offsets)
def test_no_citizen_reads_another_citizen_without_proxy_rights(who, facts, resource, action, at):
    now = NOW + at
    d = decide(who, action, resource, facts, now)
    if not d.permit or who.patient_id == PATIENT and who.acting_for in (None, PATIENT):
        return
    assert who.acting_for == PATIENT, "only by acting for the patient"
    age = age_on(facts.birth_date, local_day(now))
    guardian = any(g.guardian == who.patient_id and g.active(now) for g in facts.guardians)
    mandate = any(m.representative == who.patient_id and m.active(now) for m in facts.mandates)
    assert (guardian and age < 16) or (mandate and age >= 16), d
    if d.reason == "guardian_under_12":
        assert age < 12 and any(g.shares_address for g in facts.guardians
                                if g.guardian == who.patient_id and g.active(now))
    # a proxy never sees more than the person they act for: the patient sees all of it
    own = decide(Citizen(person_id="p", patient_id=PATIENT), action, resource, facts, now)
    assert own.permit and own.hidden <= d.hidden
    if d.categories is not None:
        assert own.categories is None or d.categories <= own.categories
    if 12 <= age < 16:
        hidden = {r.target for r in facts.restrictions
                  if r.kind == RestrictionKind.hidden_from_guardians and r.active(now)}
        assert hidden <= d.hidden, "entries hidden from guardians stay hidden"


@MANY
@given(who=practitioners, facts=all_facts, resource=resources, action=reading, at=offsets)
def test_no_professional_reads_without_need_to_know(who, facts, resource, action, at):
    now = NOW + at
    d = decide(who, action, resource, facts, now)
    if not d.permit:
        return
    assert not any(b.applies(who, now) for b in facts.blocks), "a block always wins"
    related = any(r.active(now) and r.covers(who) for r in facts.care_relations)
    emergency = facts.registered and any(e.hpr == who.hpr and e.granted_at <= now < e.expires_at
                                         for e in facts.emergency_accesses)
    assert related or emergency, d
    justified = any(r.active(now) and r.covers(who) and not r.self_declared
                    for r in facts.care_relations)
    if not justified:   # through a self-declared relation or the glass: always reviewed
        assert Obligation.review in d.obligations, d
    locked = {r.target for r in facts.restrictions
              if r.kind == RestrictionKind.locked and r.active(now)}
    if action == Action.read:
        assert locked <= d.hidden, "locked entries stay hidden on an ordinary read"


# --- sequences of requests to the consent service (issue 12) ---------------------------------

ROLE_SETS = [frozenset({Role.nurse}), frozenset({Role.physician}), frozenset({Role.other}),
             frozenset({Role.unit_leader}), frozenset({Role.nurse, Role.unit_leader})]
staff = st.builds(Practitioner, person_id=st.just("sub"), hpr=st.sampled_from(SPELLED),
                  org_parent=st.sampled_from(UNITS[:2]), org_child=st.sampled_from(UNITS),
                  roles=st.sampled_from(ROLE_SETS))
org_policies = st.dictionaries(st.sampled_from(UNITS), st.frozensets(
    st.sampled_from([Role.nurse, Role.physician, Role.other]), min_size=1), max_size=2)
requests = st.tuples(st.sampled_from(["relation", "relation", "emergency", "journal"]), staff,
                     st.none() | st.sampled_from(SPELLED), st.integers(0, 48))


@MANY
@given(rules=org_policies.map(lambda p: rel.RelationRules(self_declared=p)),
       steps=st.lists(requests, max_size=6), reader=staff, at=st.integers(0, 48))
def test_no_requests_reach_a_record_without_a_justified_relation_or_a_review_item(
        rules, steps, reader, at):
    """Any professional, any organisation policy, any sequence of care-relation requests,
    emergency accesses and journal facts: whoever then reads the record either holds a relation
    from a journal fact or the unit leader, or left a review item for the leader."""
    events = [ev.PersonRegistered(national_id="15858512066", id_type="synthetic",
                                  birth_date=NOW.date().replace(year=1985))]
    for i, (kind, who, named, hours) in enumerate(steps):
        now, facts = NOW + timedelta(hours=hours), fold(PATIENT, events)
        if kind == "journal":   # what the journal bridge appends for an episode of ``who``'s unit
            events.append(ev.CareRelationStarted(
                relation_id=uuid.uuid5(uuid.NAMESPACE_URL, str(i)), unit=who.unit,
                org_parent=who.org_parent, purpose="episode", basis="episode", started_at=now,
                source="journal"))
        elif kind == "emergency":
            if who.hpr is not None:
                events += d.grant_emergency(c.GrantEmergencyAccess(
                    basis="necessity", reason="unconscious"), who, now)
        else:
            body = c.StartCareRelation(purpose="care", basis="other", reason="because",
                                       hpr=named)
            source = rel.relation_source(facts, body, who, now, rules)
            if source is not None:
                events += rel.start_care_relation(facts, body, who, now, source, rules)
    now = NOW + timedelta(hours=at)
    facts = fold(PATIENT, events)
    decision = decide(reader, Action.read, Resource(patient_id=PATIENT), facts, now)
    if not decision.permit:
        return
    justified = [r for r in facts.care_relations if r.active(now) and r.covers(reader)
                 and r.source in ("journal", "assigned")]
    if justified:
        return
    assert Obligation.review in decision.obligations, decision
    items = [review_item(SimpleNamespace(event_id=uuid.uuid4(), patient_id=PATIENT), p)
             for p in events]
    flagged = {(i["k"], i["s"]) for i in items if i is not None}
    assert any(reader.hpr is not None and f'"hpr": "{reader.hpr}"' in summary
               for _, summary in flagged), (decision, flagged)
