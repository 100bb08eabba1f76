"""Episodes, IPLOS assessments and service decisions (vedtak), pure: every command, every refused
transition, the fold, and a property: no command sequence grants a service without a valid
assessment (requirement 26)."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import event as note
from hypothesis import strategies as st

from libs.access.policy import local_day
from libs.kernel.errors import DomainError
from libs.kernel.time import OSLO
from services.journal.domain import episodes as c
from services.journal import contract as ev
from services.journal.domain import patients as pt
from services.journal.contract import Scope
from tests.journal.support import NOW, TODAY, registered, then
from libs.web.errors import status_of
from tests.support.refusals import refused

P = uuid.UUID("0190f0a0-0000-7000-8000-00000000000c")
UNIT, PROVIDER, BAD_ORG = "974600978", "123456785", "123456784"
FULL = dict.fromkeys(c.IPLOS_VARIABLES, 3) | {"vision": 9}
HOURS = Scope(unit="hours_per_week", amount=4.5)


def patient(*more: ev.EventPayload) -> pt.Patient:
    return registered(P, *more, given="Ola", sex="male")


def assessed(p: pt.Patient, scores=FULL, days_ago: int = 10) -> pt.Patient:
    return then(p, c.assess_iplos(p, c.AssessIplos(
        scores=scores, assessed_at=NOW - timedelta(days=days_ago)), "9144889", NOW))


def applied(p: pt.Patient, code: str = "15") -> tuple[pt.Patient, uuid.UUID]:
    [e] = c.apply_for_service(p, c.ApplyForService(service_code=code), NOW)
    return then(p, [e]), e.decision_id


def grant(decision_id: uuid.UUID, **kw) -> c.GrantService:
    return c.GrantService(**({"decision_id": decision_id, "from_date": TODAY, "scope": HOURS,
                              "provider": PROVIDER} | kw))


def died(p: pt.Patient) -> pt.Patient:
    return then(p, pt.record_death(p, pt.RecordDeath(deceased_on=TODAY), NOW))


def test_episodes_start_and_end_once():
    p = patient()
    [s] = c.start_episode(p, c.StartEpisode(kind="home_care", unit=UNIT), NOW)
    assert (s.kind, s.unit, s.started_at) == ("home_care", UNIT, NOW)
    p = then(p, [s])
    assert "already open" in refused(409, c.start_episode, p, c.StartEpisode(
        kind="home_care", unit=UNIT), NOW)
    refused(422, c.start_episode, p, c.StartEpisode(kind="gp", unit=BAD_ORG), NOW)
    refused(422, c.start_episode, p, c.StartEpisode(kind="gp", unit=PROVIDER,
                                                    started_at=NOW + timedelta(hours=1)), NOW)
    refused(404, c.start_episode, pt.Patient.unknown(P), c.StartEpisode(
        kind="gp", unit=UNIT), NOW)
    assert "before the episode started" in refused(422, c.end_episode, p, c.EndEpisode(
        episode_id=s.episode_id, ended_at=NOW - timedelta(seconds=1)), NOW)
    refused(422, c.end_episode, p, c.EndEpisode(episode_id=s.episode_id,
                                                ended_at=NOW + timedelta(days=1)), NOW)
    refused(404, c.end_episode, p, c.EndEpisode(episode_id=uuid.uuid4()), NOW)
    [end] = c.end_episode(p, c.EndEpisode(episode_id=s.episode_id, reason="moved"), NOW)
    p = then(p, [end])
    assert p.episodes[0].ended_at == NOW
    assert "already ended" in refused(409, c.end_episode, p, c.EndEpisode(
        episode_id=s.episode_id), NOW)
    [again] = c.start_episode(p, c.StartEpisode(kind="home_care", unit=UNIT), NOW)
    assert again.episode_id != s.episode_id


def test_after_death_episodes_are_closed_but_none_started():
    p = patient()
    [s] = c.start_episode(p, c.StartEpisode(kind="nursing_home", unit=UNIT,
                                            started_at=NOW - timedelta(days=30)), NOW)
    dead = died(then(p, [s]))
    assert "died on" in refused(409, c.start_episode, dead, c.StartEpisode(
        kind="gp", unit=UNIT), NOW)
    [end] = c.end_episode(dead, c.EndEpisode(episode_id=s.episode_id, reason="died"), NOW)
    assert end.ended_at == NOW


def test_iplos_assessments_are_checked_variable_by_variable():
    p = patient()
    [a] = c.assess_iplos(p, c.AssessIplos(scores=FULL), "9144889", NOW)
    assert (a.scores["vision"], a.assessed_by, a.assessed_at) == (9, "9144889", NOW)
    partial = c.assess_iplos(p, c.AssessIplos(scores={"memory": 5}), "9144889", NOW)
    assert then(p, partial).assessments[0].scores == {"memory": 5}  # partial is allowed
    assert "flying" in refused(422, c.assess_iplos, p, c.AssessIplos(
        scores={"memory": 2, "flying": 1}), "9144889", NOW)
    message = refused(422, c.assess_iplos, p, c.AssessIplos(scores={"memory": 6, "eating": 0}),
                      "x", NOW)
    assert "memory=6" in message and "eating=0" in message
    refused(422, c.assess_iplos, p, c.AssessIplos(scores={}), "x", NOW)
    refused(422, c.assess_iplos, p, c.AssessIplos(scores=FULL,
                                                  assessed_at=NOW + timedelta(days=1)), "x", NOW)
    refused(409, c.assess_iplos, died(p), c.AssessIplos(scores=FULL), "x", NOW)
    [own] = c.assess_iplos(p, c.AssessIplos(scores={"a": 1}), "x", NOW, variables=("a",))
    assert own.scores == {"a": 1}


def test_applications_are_validated():
    p = patient()
    [e] = c.apply_for_service(p, c.ApplyForService(
        service_code="21", requested_scope=Scope(unit="continuous")), NOW)
    assert (e.service_code, e.applied_on) == ("21", TODAY)
    assert "tjenestekode" in refused(422, c.apply_for_service, p, c.ApplyForService(
        service_code="X1"), NOW)
    refused(422, c.apply_for_service, p, c.ApplyForService(service_code="10"), NOW,
            service_codes={"15", "21"})
    refused(422, c.apply_for_service, p, c.ApplyForService(
        service_code="15", applied_on=TODAY + timedelta(days=1)), NOW)
    assert "amount" in refused(422, c.apply_for_service, p, c.ApplyForService(
        service_code="15", requested_scope=Scope(unit="hours_per_week")), NOW)
    refused(409, c.apply_for_service, died(p), c.ApplyForService(service_code="15"), NOW)
    refused(404, c.apply_for_service, pt.Patient.unknown(P), c.ApplyForService(
        service_code="15"), NOW)


def test_a_grant_rests_on_an_assessment_and_asks_for_a_care_relation():
    p, decision = applied(assessed(patient()))
    events, relation = c.grant_service(p, grant(decision, to_date=date(2027, 5, 31)), NOW)
    [g] = events
    assert (g.service_code, g.provider, g.assessment_id, g.decided_on) == (
        "15", PROVIDER, p.assessments[0].assessment_id, TODAY)
    assert relation == c.CareRelationNeeded(
        unit=PROVIDER, purpose="service decision (vedtak): IPLOS service 15",
        basis_ref=str(decision), starts_on=TODAY,
        ends_at=datetime(2027, 6, 1, tzinfo=OSLO))
    p = then(p, events)
    d = p.decisions[0]
    assert (d.status, d.to_date, d.scope, d.provider) == ("granted", date(2027, 5, 31), HOURS,
                                                          PROVIDER)
    assert "this decision is granted" in refused(409, c.grant_service, p, grant(decision), NOW)
    assert "this decision is granted" in refused(409, c.refuse_service, p, c.RefuseService(
        decision_id=decision, reason="no need"), NOW)


def test_a_grant_for_a_period_already_over_needs_no_care_relation():
    p, decision = applied(assessed(patient()))
    events, relation = c.grant_service(p, grant(decision, from_date=date(2026, 1, 1),
                                                to_date=date(2026, 6, 30), service_code="21",
                                                scope=Scope(unit="continuous")), NOW)
    assert relation is None and events[0].service_code == "21"


def test_grant_refusals_name_what_is_missing():
    p, decision = applied(patient())
    assert "no assessment is registered" in refused(422, c.grant_service, p, grant(decision),
                                                    NOW)
    partial = assessed(p, scores={"memory": 2, "eating": 1})
    message = refused(422, c.grant_service, partial, grant(decision), NOW)
    assert "no score for" in message and "dressing" in message and "memory," not in message
    old = assessed(p, days_ago=400)
    assert "400 days old" in refused(422, c.grant_service, old, grant(decision), NOW)
    assert "within 365 days" in refused(422, c.grant_service, old, grant(decision), NOW)
    recent = assessed(p, days_ago=40)
    refused(422, c.grant_service, recent, grant(decision), NOW, max_age_days=30)
    assert "named one does not exist" in refused(422, c.grant_service, recent, grant(
        decision, assessment_id=uuid.uuid4()), NOW)
    ok = assessed(p)
    assert "til_dato" in refused(422, c.grant_service, ok, grant(
        decision, to_date=TODAY - timedelta(days=1)), NOW)
    assert "provider" in refused(422, c.grant_service, ok, grant(decision, provider=BAD_ORG), NOW)
    refused(422, c.grant_service, ok, grant(decision, from_date=date(1985, 5, 14)), NOW)
    refused(422, c.grant_service, ok, grant(decision, scope=Scope(unit="hours_per_week",
                                                                   amount=200)), NOW)
    refused(422, c.grant_service, ok, grant(decision, service_code="99"), NOW,
            service_codes={"15"})
    refused(404, c.grant_service, ok, grant(uuid.uuid4()), NOW)
    refused(409, c.grant_service, died(ok), grant(decision), NOW)


def test_the_newest_valid_assessment_is_used_unless_one_is_named():
    older = assessed(patient(), days_ago=20)
    p, decision = applied(assessed(older, scores={"memory": 4}, days_ago=1))
    [g], _ = c.grant_service(p, grant(decision), NOW)
    assert g.assessment_id == older.assessments[0].assessment_id
    named = p.assessments[1].assessment_id
    assert "named one" in refused(422, c.grant_service, p, grant(decision, assessment_id=named),
                                  NOW)


def test_refuse_and_end_follow_the_decision_states():
    p, decision = applied(assessed(patient()))
    refused(404, c.refuse_service, p, c.RefuseService(decision_id=uuid.uuid4(), reason="nah"),
            NOW)
    assert "this decision is applied" in refused(409, c.end_service, p, c.EndService(
        decision_id=decision), NOW)
    [no] = c.refuse_service(p, c.RefuseService(decision_id=decision, reason="no need"), NOW)
    refused_p = then(p, [no])
    assert refused_p.decisions[0].status == "refused"
    refused(409, c.refuse_service, refused_p, c.RefuseService(decision_id=decision,
                                                              reason="no need"), NOW)
    refused(409, c.grant_service, refused_p, grant(decision), NOW)
    refused(409, c.end_service, refused_p, c.EndService(decision_id=decision), NOW)

    events, _ = c.grant_service(p, grant(decision, from_date=TODAY - timedelta(days=10),
                                         to_date=TODAY + timedelta(days=10)), NOW)
    g = then(p, events)
    refused(422, c.end_service, g, c.EndService(decision_id=decision,
                                                ended_on=TODAY - timedelta(days=11)), NOW)
    refused(422, c.end_service, g, c.EndService(decision_id=decision,
                                                ended_on=TODAY + timedelta(days=1)), NOW)
    [end] = c.end_service(g, c.EndService(decision_id=decision, reason="moved"), NOW)
    ended = then(g, [end])
    assert (ended.decisions[0].status, ended.decisions[0].ended_on) == ("ended", TODAY)
    assert "this decision is ended" in refused(409, c.end_service, ended, c.EndService(
        decision_id=decision), NOW)
    short = then(p, c.grant_service(p, grant(decision, to_date=TODAY), NOW).events)
    assert "to_date" in refused(422, c.end_service, short, c.EndService(
        decision_id=decision, ended_on=TODAY + timedelta(days=1)), NOW + timedelta(days=2))


def test_after_death_open_decisions_are_closed():
    p, pending = applied(assessed(patient()))
    p, running = applied(p)
    p = then(p, c.grant_service(p, grant(running), NOW).events)
    dead = died(p)
    refused(409, c.grant_service, dead, grant(pending), NOW)
    assert c.refuse_service(dead, c.RefuseService(decision_id=pending, reason="died"), NOW)
    assert c.end_service(dead, c.EndService(decision_id=running, reason="died"), NOW)


def test_folding_all_produced_events_gives_the_state_the_decisions_read():
    produced: list[ev.EventPayload] = []
    p = patient()

    def run(events):
        nonlocal p
        produced.extend(events)
        p = then(p, events)

    run(c.start_episode(p, c.StartEpisode(kind="legevakt", unit=UNIT), NOW))
    run(c.assess_iplos(p, c.AssessIplos(scores=FULL), "9144889", NOW))
    run(c.apply_for_service(p, c.ApplyForService(service_code="15"), NOW))
    run(c.apply_for_service(p, c.ApplyForService(service_code="6"), NOW))
    run(c.grant_service(p, grant(p.decisions[0].decision_id), NOW).events)
    run(c.refuse_service(p, c.RefuseService(decision_id=p.decisions[1].decision_id,
                                            reason="no need"), NOW))
    run(c.end_episode(p, c.EndEpisode(episode_id=p.episodes[0].episode_id), NOW))
    run(c.end_service(p, c.EndService(decision_id=p.decisions[0].decision_id), NOW))
    assert patient(*produced) == p
    assert [d.status for d in p.decisions] == ["ended", "refused"]
    assert p.decisions[0].assessment_id == p.assessments[0].assessment_id
    assert [type(e).__name__ for e in produced] == [
        "EpisodeStarted", "IplosAssessed", "ServiceApplied", "ServiceApplied", "ServiceGranted",
        "ServiceRefused", "EpisodeEnded", "ServiceEnded"]


# --- property: no grant without a valid assessment -------------------------------------------

scores = st.one_of(
    st.just(FULL),
    st.dictionaries(st.sampled_from((*c.IPLOS_VARIABLES, "flying")), st.sampled_from(
        [0, 1, 2, 3, 4, 5, 6, 9]), max_size=len(c.IPLOS_VARIABLES) + 1),
    st.builds(lambda drop: {k: v for k, v in FULL.items() if k != drop},
              st.sampled_from(c.IPLOS_VARIABLES)))
pick = st.integers(0, 4)
assess = st.tuples(st.just("assess"), scores, st.integers(0, 500))
apply = st.tuples(st.just("apply"), st.sampled_from(["15", "21", "6"]))
grant_ = st.tuples(st.just("grant"), pick, st.none() | pick, st.integers(-30, 30),
                   st.none() | st.integers(-40, 400))
commands = st.lists(st.one_of(  # repeated branches are drawn more often
    assess, assess, apply, grant_, grant_, st.tuples(st.just("refuse"), pick),
    st.tuples(st.just("end"), pick), st.tuples(st.just("wait"), st.integers(1, 400))),
    min_size=4, max_size=25)


def _nth(items: tuple, i: int | None, key: str):
    return getattr(items[i % len(items)], key) if i is not None and items else (
        None if i is None else uuid.uuid4())


def _step(p: pt.Patient, cmd: tuple, now: datetime) -> list[ev.EventPayload]:
    match cmd:
        case ("assess", s, days):
            return c.assess_iplos(p, c.AssessIplos(
                scores=s, assessed_at=now - timedelta(days=days)), "9144889", now)
        case ("apply", code):
            return c.apply_for_service(p, c.ApplyForService(service_code=code), now)
        case ("grant", i, a, start, length):
            start_on = local_day(now) + timedelta(days=start)
            return c.grant_service(p, grant(
                _nth(p.decisions, i, "decision_id"), from_date=start_on,
                assessment_id=_nth(p.assessments, a, "assessment_id"),
                to_date=None if length is None else start_on + timedelta(days=length)),
                now).events
        case ("refuse", i):
            return c.refuse_service(p, c.RefuseService(
                decision_id=_nth(p.decisions, i, "decision_id"), reason="no need"), now)
        case ("end", i):
            return c.end_service(p, c.EndService(
                decision_id=_nth(p.decisions, i, "decision_id")), now)
        case ("die",):
            return pt.record_death(p, pt.RecordDeath(deceased_on=local_day(now)), now)
    raise AssertionError(cmd)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(commands, st.none() | st.integers(0, 25))
def test_no_command_sequence_grants_without_a_valid_assessment(cmds, dies_at):
    p, now, produced = patient(), NOW, []
    cmds = [("apply", "15"), *cmds]  # most sequences then have something to grant
    if dies_at is not None:  # the patient dies before command number ``dies_at``
        cmds = [*cmds[:dies_at], ("die",), *cmds[dies_at:]]
    for cmd in cmds:
        if cmd[0] == "wait":
            now += timedelta(days=cmd[1])
            continue
        try:
            events = _step(p, cmd, now)
        except DomainError as exc:
            assert status_of(exc) in (404, 409, 422) and exc.message
            continue
        for e in events:
            if isinstance(e, ev.ServiceGranted):  # an oracle written apart from the domain
                a = next(x for x in p.assessments if x.assessment_id == e.assessment_id)
                assert set(c.IPLOS_VARIABLES) <= set(a.scores)
                assert set(a.scores.values()) <= {1, 2, 3, 4, 5, 9}
                assert 0 <= (e.decided_on - local_day(a.assessed_at)).days <= 365
                assert p.deceased_on is None
                assert e.to_date is None or e.to_date >= e.from_date
                note("granted")
        produced.extend(events)
        p = then(p, events)
    assert patient(*produced) == p
