"""Process support, pure (part 1): care plans (tiltaksplan) with goals and interventions, every
command and every refused transition with its status and a readable message. Part 2
(``test_domain_tasks.py``): tasks, completing one as a signed journal note, the worklist reads and
the fold."""

from __future__ import annotations

import uuid
from datetime import timedelta

from services.journal.domain import clinical as c
from services.journal.domain import episodes as care
from services.journal.domain import patients as pt
from services.journal.domain import process as pr
from tests.journal.support import NOW, TODAY, then
from tests.support.refusals import refused
from tests.journal.process_support import (
    BAD_ORG, NURSE, OTHER_NURSE, OTHER_UNIT, P, UNIT, died, patient, says, task, with_goal,
    with_intervention, with_plan,
)


# --- care plans ------------------------------------------------------------------------------

def test_a_care_plan_is_created_with_goals_and_interventions():
    p = patient()
    [e] = care.start_episode(p, care.StartEpisode(kind="home_care", unit=UNIT), NOW)
    p = then(p, [e])
    [created] = pr.create_care_plan(p, pr.CreateCarePlan(
        title="  Sårbehandling ", episode_id=e.episode_id, period_start=TODAY,
        period_end=TODAY + timedelta(days=30)), NURSE, NOW)
    assert (created.title, created.author, created.unit, created.episode_id,
            created.created_at) == ("Sårbehandling", NURSE.hpr, UNIT, e.episode_id, NOW)
    p = then(p, [created])
    plan_id = created.care_plan_id
    [goal] = pr.add_goal(p, pr.AddGoal(care_plan_id=plan_id, description="Leget sår",
                                       target_date=TODAY + timedelta(days=21)), NURSE, NOW)
    [act] = pr.add_intervention(p, pr.AddIntervention(
        care_plan_id=plan_id, description="Sårstell", frequency=" daily 08:00 ",
        service_code="13"), OTHER_NURSE, NOW)
    assert (act.frequency, act.service_code, act.by, act.unit) == (
        "daily 08:00", "13", OTHER_NURSE.hpr, OTHER_UNIT)
    p = then(p, [goal, act])
    [plan] = p.care_plans
    assert (plan.title, plan.status, plan.period_end) == (
        "Sårbehandling", "active", TODAY + timedelta(days=30))
    assert [(g.description, g.status, g.added_by) for g in plan.goals] == [
        ("Leget sår", "active", NURSE.hpr)]
    assert [(i.description, i.status, i.frequency) for i in plan.interventions] == [
        ("Sårstell", "active", "daily 08:00")]


def test_care_plans_are_validated():
    p = patient()
    assert "title" in says(422, pr.create_care_plan, p, pr.CreateCarePlan(title="  "), NURSE, NOW)
    assert "unit" in says(422, pr.create_care_plan, p, pr.CreateCarePlan(title="x"),
                          c.Clinician(hpr="9144889", unit=BAD_ORG), NOW)
    assert "HPR" in says(422, pr.create_care_plan, p, pr.CreateCarePlan(title="x"),
                         c.Clinician(hpr="abc", unit=UNIT), NOW)
    assert "episode" in says(404, pr.create_care_plan, p, pr.CreateCarePlan(
        title="x", episode_id=uuid.uuid4()), NURSE, NOW)
    assert "before period_start" in says(422, pr.create_care_plan, p, pr.CreateCarePlan(
        title="x", period_start=TODAY, period_end=TODAY - timedelta(days=1)), NURSE, NOW)
    assert "No such patient" in says(404, pr.create_care_plan, pt.Patient.unknown(P),
                                     pr.CreateCarePlan(title="x"), NURSE, NOW)
    assert "died on" in says(409, pr.create_care_plan, died(p), pr.CreateCarePlan(title="x"),
                             NURSE, NOW)
    p, plan_id = with_plan(p, period_start=TODAY)
    assert "description" in says(422, pr.add_goal, p, pr.AddGoal(
        care_plan_id=plan_id, description=" "), NURSE, NOW)
    assert "target_date" in says(422, pr.add_goal, p, pr.AddGoal(
        care_plan_id=plan_id, description="x", target_date=TODAY - timedelta(days=1)),
        NURSE, NOW)
    assert "description" in says(422, pr.add_intervention, p, pr.AddIntervention(
        care_plan_id=plan_id, description=""), NURSE, NOW)
    assert "tjenestekode" in says(422, pr.add_intervention, p, pr.AddIntervention(
        care_plan_id=plan_id, description="x", service_code="1x"), NURSE, NOW)
    assert "tjenestekode" in refused(422, pr.add_intervention, p, pr.AddIntervention(
        care_plan_id=plan_id, description="x", service_code="99"), NURSE, NOW,
        service_codes={"13"})
    assert "died on" in says(409, pr.add_goal, died(p), pr.AddGoal(
        care_plan_id=plan_id, description="x"), NURSE, NOW)


def test_every_care_plan_command_refuses_an_unknown_plan():
    p, other = patient(), uuid.uuid4()
    for fn, cmd in [(pr.add_goal, pr.AddGoal(care_plan_id=other, description="x")),
                    (pr.change_goal_status, pr.ChangeGoalStatus(
                        care_plan_id=other, goal_id=uuid.uuid4(), status="achieved")),
                    (pr.add_intervention, pr.AddIntervention(care_plan_id=other,
                                                             description="x")),
                    (pr.stop_intervention, pr.StopIntervention(
                        care_plan_id=other, intervention_id=uuid.uuid4(), reason="x")),
                    (pr.complete_care_plan, pr.CompleteCarePlan(care_plan_id=other)),
                    (pr.revoke_care_plan, pr.RevokeCarePlan(care_plan_id=other, reason="x"))]:
        assert says(404, fn, p, cmd, NURSE, NOW) == "No such care plan for this patient."


def test_goals_are_achieved_not_achieved_or_cancelled_once():
    p, plan_id = with_plan(patient())
    p, goal_id = with_goal(p, plan_id)

    def change(p, status, note=None, goal=goal_id):
        return pr.change_goal_status(p, pr.ChangeGoalStatus(
            care_plan_id=plan_id, goal_id=goal, status=status, note=note), NURSE, NOW)

    assert "No such goal" in says(404, change, p, "achieved", None, uuid.uuid4())
    for status, words in (("not_achieved", "not achieved"), ("cancelled", "cancelled")):
        assert f"Marking a goal {words} needs a reason" in says(422, change, p, status, "  ")
    [done] = change(p, "achieved")
    assert (done.status, done.note, done.by) == ("achieved", None, NURSE.hpr)
    p = then(p, [done])
    assert "already achieved" in says(409, change, p, "cancelled", "wrong goal")
    p, second = with_goal(p, plan_id)
    p = then(p, change(p, "not_achieved", "flyttet til sykehjem", second))
    assert "already not achieved" in says(409, change, p, "achieved", None, second)
    assert [(g.status, g.note, g.changed_at) for g in p.care_plans[0].goals] == [
        ("achieved", None, NOW), ("not_achieved", "flyttet til sykehjem", NOW)]


def test_interventions_are_stopped_once_with_a_reason():
    p, plan_id = with_plan(patient())
    p, act = with_intervention(p, plan_id)

    def stop(p, reason=None, intervention=act):
        return pr.stop_intervention(p, pr.StopIntervention(
            care_plan_id=plan_id, intervention_id=intervention, reason=reason), NURSE, NOW)

    assert "No such intervention" in says(404, stop, p, "x", uuid.uuid4())
    assert "Stopping an intervention needs a reason" in says(422, stop, p)
    [s] = stop(p, " såret er grodd ")
    assert (s.reason, s.stopped_at) == ("såret er grodd", NOW)
    p = then(p, [s])
    assert "already stopped" in says(409, stop, p, "again")
    [i] = p.care_plans[0].interventions
    assert (i.status, i.stop_reason, i.stopped_by) == ("stopped", "såret er grodd", NURSE.hpr)


def test_a_completed_or_revoked_care_plan_takes_no_changes():
    p, plan_id = with_plan(patient())
    p, goal_id = with_goal(p, plan_id)
    p, act = with_intervention(p, plan_id)
    assert "Revoking a care plan needs a reason" in says(422, pr.revoke_care_plan, p,
                                                         pr.RevokeCarePlan(care_plan_id=plan_id),
                                                         NURSE, NOW)
    [done] = pr.complete_care_plan(p, pr.CompleteCarePlan(care_plan_id=plan_id,
                                                          note="målene er nådd"), NURSE, NOW)
    completed = then(p, [done])
    assert (completed.care_plans[0].status, completed.care_plans[0].close_note) == (
        "completed", "målene er nådd")
    [wrong] = pr.revoke_care_plan(p, pr.RevokeCarePlan(care_plan_id=plan_id,
                                                       reason="feil pasient"), NURSE, NOW)
    revoked = then(p, [wrong])
    assert (revoked.care_plans[0].status, revoked.care_plans[0].close_note) == (
        "revoked", "feil pasient")
    for q, status in ((completed, "completed"), (revoked, "revoked")):
        for fn, cmd in [
                (pr.add_goal, pr.AddGoal(care_plan_id=plan_id, description="x")),
                (pr.change_goal_status, pr.ChangeGoalStatus(
                    care_plan_id=plan_id, goal_id=goal_id, status="achieved")),
                (pr.add_intervention, pr.AddIntervention(care_plan_id=plan_id,
                                                         description="x")),
                (pr.stop_intervention, pr.StopIntervention(
                    care_plan_id=plan_id, intervention_id=act, reason="x")),
                (pr.complete_care_plan, pr.CompleteCarePlan(care_plan_id=plan_id)),
                (pr.revoke_care_plan, pr.RevokeCarePlan(care_plan_id=plan_id, reason="x"))]:
            assert says(409, fn, q, cmd, NURSE, NOW) == (
                f"The care plan is {status}; a closed care plan takes no changes.")
        assert f"care plan is {status}" in says(409, pr.create_task, q, task(
            care_plan_id=plan_id), NURSE, NOW)


def test_after_death_care_plans_are_closed_but_not_changed():
    p, plan_id = with_plan(patient())
    p, act = with_intervention(p, plan_id)
    dead = died(p)
    assert "died on" in says(409, pr.stop_intervention, dead, pr.StopIntervention(
        care_plan_id=plan_id, intervention_id=act, reason="x"), NURSE, NOW)
    assert pr.complete_care_plan(dead, pr.CompleteCarePlan(care_plan_id=plan_id), NURSE, NOW)
    assert pr.revoke_care_plan(dead, pr.RevokeCarePlan(care_plan_id=plan_id, reason="feil"),
                               NURSE, NOW)
