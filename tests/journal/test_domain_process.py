"""Process support, pure: care plans (tiltaksplan) with goals and interventions, tasks, and
completing a task as a signed journal note; every command, every refused transition with its
status and a readable message, the worklist reads and the fold."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, timedelta

from services.journal.domain import clinical as c
from services.journal.domain import episodes as care
from services.journal import contract as ev
from services.journal.domain import patients as pt
from services.journal.domain import process as pr
from services.journal.domain import process_state as ps
from tests.journal.support import NOW, TODAY, registered, then
from tests.support.refusals import refused

P = uuid.UUID("0190f0a0-0000-7000-8000-00000000000e")
UNIT, OTHER_UNIT, BAD_ORG = "974600978", "123456785", "974600952"
NURSE = c.Clinician(hpr="9144889", unit=UNIT)
OTHER_NURSE = c.Clinician(hpr="1234567", unit=OTHER_UNIT)
DUE = NOW + timedelta(days=1)


def says(status: int, fn, *args) -> str:
    """Refused with ``status`` and a message a person can read: words, not a repr or a trace."""
    message = refused(status, fn, *args)
    assert re.fullmatch(r"[A-Za-z][^\n{}<>]*", message) and len(message.split()) >= 3, message
    assert "UUID(" not in message and "Traceback" not in message, message
    return message


def patient(*more: ev.EventPayload) -> pt.Patient:
    return registered(P, *more, given="Astrid")


def died(p: pt.Patient) -> pt.Patient:
    return then(p, pt.record_death(p, pt.RecordDeath(deceased_on=TODAY), NOW))


def with_plan(p: pt.Patient, **kw) -> tuple[pt.Patient, uuid.UUID]:
    [e] = pr.create_care_plan(p, pr.CreateCarePlan(**({"title": "Sårbehandling"} | kw)),
                              NURSE, NOW)
    return then(p, [e]), e.care_plan_id


def with_goal(p: pt.Patient, plan_id: uuid.UUID) -> tuple[pt.Patient, uuid.UUID]:
    [e] = pr.add_goal(p, pr.AddGoal(care_plan_id=plan_id, description="Leget sår"), NURSE, NOW)
    return then(p, [e]), e.goal_id


def with_intervention(p: pt.Patient, plan_id: uuid.UUID) -> tuple[pt.Patient, uuid.UUID]:
    [e] = pr.add_intervention(p, pr.AddIntervention(
        care_plan_id=plan_id, description="Sårstell", frequency="daily 08:00"), NURSE, NOW)
    return then(p, [e]), e.intervention_id


def with_task(p: pt.Patient, **kw) -> tuple[pt.Patient, uuid.UUID]:
    [e] = pr.create_task(p, task(**kw), NURSE, NOW)
    return then(p, [e]), e.task_id


def task(**kw) -> pr.CreateTask:
    return pr.CreateTask(**({"kind": "home_care_visit", "title": "Sårstell", "unit": UNIT,
                             "due_at": DUE} | kw))


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


# --- tasks -----------------------------------------------------------------------------------

def test_a_task_is_created_for_a_unit_and_may_belong_to_a_plan_and_an_intervention():
    p, plan_id = with_plan(patient())
    p, act = with_intervention(p, plan_id)
    [t] = pr.create_task(p, task(assignee="1234567", description=" ring på ", intervention_id=act),
                         NURSE, NOW)
    assert (t.kind, t.title, t.description, t.unit, t.assignee, t.due_at, t.care_plan_id,
            t.intervention_id, t.created_by, t.created_at) == (
        "home_care_visit", "Sårstell", "ring på", UNIT, "1234567", DUE, plan_id, act,
        NURSE.hpr, NOW)  # the intervention implies its plan
    p = then(p, [t])
    [row] = p.tasks
    assert (row.status, row.care_plan_id, row.note_id, row.completed_at) == (
        "requested", plan_id, None, None)
    [free] = pr.create_task(p, task(kind="follow_up", title="Ring fastlegen", unit=OTHER_UNIT,
                                    due_at=NOW - timedelta(days=3)), NURSE, NOW)
    assert (free.care_plan_id, free.intervention_id, free.assignee) == (None, None, None)


def test_tasks_are_validated():
    p, plan_id = with_plan(patient())
    p, act = with_intervention(p, plan_id)
    p, other_plan = with_plan(p, title="Ernæring")
    assert "title" in says(422, pr.create_task, p, task(title=" "), NURSE, NOW)
    assert "unit" in says(422, pr.create_task, p, task(unit=BAD_ORG), NURSE, NOW)
    assert "assignee" in says(422, pr.create_task, p, task(assignee="12ab"), NURSE, NOW)
    assert "HPR" in says(422, pr.create_task, p, task(), c.Clinician(hpr="x", unit=UNIT), NOW)
    assert "No such care plan" in says(404, pr.create_task, p, task(
        care_plan_id=uuid.uuid4()), NURSE, NOW)
    assert "No such intervention in this patient's care plans" in says(
        404, pr.create_task, p, task(intervention_id=uuid.uuid4()), NURSE, NOW)
    assert "No such intervention in this care plan" in says(404, pr.create_task, p, task(
        care_plan_id=other_plan, intervention_id=act), NURSE, NOW)
    p = then(p, pr.stop_intervention(p, pr.StopIntervention(
        care_plan_id=plan_id, intervention_id=act, reason="ferdig"), NURSE, NOW))
    assert "intervention is stopped" in says(409, pr.create_task, p, task(
        intervention_id=act), NURSE, NOW)
    assert "No such patient" in says(404, pr.create_task, pt.Patient.unknown(P), task(),
                                     NURSE, NOW)
    assert "died on" in says(409, pr.create_task, died(p), task(), NURSE, NOW)


def test_a_task_is_reassigned_to_a_unit_a_person_and_a_due_time():
    p, task_id = with_task(patient(), assignee="1234567")
    later = DUE + timedelta(hours=3)

    def reassign(p, **kw):
        return pr.reassign_task(p, pr.ReassignTask(task_id=task_id, **kw), OTHER_NURSE, NOW)

    assert "Nothing to change" in says(422, reassign, p)
    assert "not both" in says(422, lambda p: reassign(p, assignee="7654321", no_assignee=True), p)
    assert "unit" in says(422, lambda p: reassign(p, unit=BAD_ORG), p)
    assert "assignee" in says(422, lambda p: reassign(p, assignee="x"), p)
    assert "No such task" in says(404, pr.reassign_task, p, pr.ReassignTask(
        task_id=uuid.uuid4(), due_at=later), NURSE, NOW)
    assert reassign(p, unit=UNIT, assignee="1234567", due_at=DUE) == []  # already so
    [r] = reassign(p, due_at=later, reason="pasienten er hos frisør")
    assert (r.unit, r.assignee, r.due_at, r.reason, r.reassigned_by, r.reassigned_at) == (
        UNIT, "1234567", later, "pasienten er hos frisør", OTHER_NURSE.hpr, NOW)
    [moved] = reassign(p, unit=OTHER_UNIT)  # a person in the old unit is not in the new one
    assert (moved.unit, moved.assignee, moved.due_at) == (OTHER_UNIT, None, DUE)
    [anyone] = reassign(p, no_assignee=True)
    assert (anyone.unit, anyone.assignee) == (UNIT, None)
    [person] = reassign(p, unit=OTHER_UNIT, assignee="7654321")
    p = then(p, [person])
    assert (p.tasks[0].unit, p.tasks[0].assignee, p.tasks[0].due_at) == (
        OTHER_UNIT, "7654321", DUE)
    assert "died on" in says(409, lambda q: reassign(q, due_at=later), died(p))


def test_completing_a_task_documents_it_with_a_signed_journal_note():
    p = patient()
    [e] = care.start_episode(p, care.StartEpisode(kind="home_care", unit=UNIT), NOW)
    p, plan_id = with_plan(then(p, [e]), episode_id=e.episode_id)
    p, visit = with_task(p, care_plan_id=plan_id)
    p, follow_up = with_task(p, kind="follow_up", title="Følg opp blodtrykk")
    later = NOW + timedelta(hours=20)

    def complete(p, task_id, text="Sår stelt, tørt og rent.", kind=None):
        return pr.complete_task(p, pr.CompleteTask(task_id=task_id, text=text, kind=kind),
                                OTHER_NURSE, later)

    assert "write what was done" in says(422, complete, p, visit, "   ")
    assert "No such task" in says(404, complete, p, uuid.uuid4())
    drafted, signed, done = complete(p, visit)
    assert [type(x).__name__ for x in (drafted, signed, done)] == [
        "NoteDrafted", "NoteSigned", "TaskCompleted"]
    assert (drafted.kind, drafted.text, drafted.author, drafted.unit, drafted.episode_id) == (
        "home_care_visit", "Sår stelt, tørt og rent.", OTHER_NURSE.hpr, OTHER_UNIT,
        e.episode_id)  # in the plan's open episode
    assert (signed.note_id, signed.signed_by, signed.signed_at) == (
        drafted.note_id, OTHER_NURSE.hpr, later)
    assert (done.task_id, done.note_id, done.completed_by, done.completed_at) == (
        visit, drafted.note_id, OTHER_NURSE.hpr, later)
    p = then(p, [drafted, signed, done])
    [note] = p.notes
    assert (note.note_id, note.status, note.text) == (
        drafted.note_id, "signed", "Sår stelt, tørt og rent.")
    row = next(t for t in p.tasks if t.task_id == visit)
    assert (row.status, row.note_id, row.completed_by, row.completed_at) == (
        "completed", note.note_id, OTHER_NURSE.hpr, later)
    assert "already completed" in says(409, complete, p, visit)
    assert "already completed" in says(409, pr.cancel_task, p, pr.CancelTask(
        task_id=visit, reason="x"), NURSE, NOW)
    assert "already completed" in says(409, pr.reassign_task, p, pr.ReassignTask(
        task_id=visit, due_at=later), NURSE, NOW)
    nursing, _, _ = complete(p, follow_up, "BT 130/80.")
    assert (nursing.kind, nursing.episode_id) == ("nursing", None)
    medical, _, _ = complete(p, follow_up, "BT 130/80.", "medical")
    assert medical.kind == "medical"
    assert "HPR" in says(422, pr.complete_task, p, pr.CompleteTask(
        task_id=follow_up, text="x"), c.Clinician(hpr="x", unit=UNIT), NOW)
    assert "died on" in says(409, complete, died(p), follow_up)


def test_cancelling_a_task_needs_a_reason_and_closes_it_also_after_death():
    p, task_id = with_task(patient())

    def cancel(p, reason=None, task=task_id):
        return pr.cancel_task(p, pr.CancelTask(task_id=task, reason=reason), NURSE, NOW)

    assert "Cancelling a task needs a reason" in says(422, cancel, p, " ")
    assert "No such task" in says(404, cancel, p, "x", uuid.uuid4())
    [x] = cancel(died(p), "pasienten er død")  # the worklist empties after death
    assert (x.reason, x.cancelled_by, x.cancelled_at) == ("pasienten er død", NURSE.hpr, NOW)
    p = then(p, [x])
    assert (p.tasks[0].status, p.tasks[0].cancel_reason) == ("cancelled", "pasienten er død")
    assert "already cancelled" in says(409, cancel, p, "again")
    assert "already cancelled" in says(409, pr.complete_task, p, pr.CompleteTask(
        task_id=task_id, text="x"), NURSE, NOW)
    assert ps.open_tasks(p) == ()


# --- reads -----------------------------------------------------------------------------------

def test_worklist_reads_use_the_norwegian_day():
    late = datetime(2026, 11, 29, 23, 30, tzinfo=UTC)  # 30.11 00:30 in Oslo
    p, first = with_task(patient(), due_at=late)
    p, second = with_task(p, kind="message_reply", title="Svar fastlegen", due_at=NOW)
    p, third = with_task(p, kind="other", title="Bestill hjelpemidler", due_at=NOW)
    p = then(p, pr.cancel_task(p, pr.CancelTask(task_id=third, reason="dobbel"), NURSE, NOW))
    assert [t.task_id for t in ps.open_tasks(p)] == [second, first]
    row = next(t for t in p.tasks if t.task_id == first)
    assert ps.is_due_on(row, date(2026, 11, 30)) and not ps.is_due_on(row, TODAY)
    assert ps.is_overdue(row, late + timedelta(minutes=1))
    assert not ps.is_overdue(row, late)
    assert ps.task_summary(row) == "Hjemmebesøk: Sårstell – frist 30.11.2026 kl. 00:30 (åpen)"
    cancelled = next(t for t in p.tasks if t.task_id == third)
    assert not ps.is_overdue(cancelled, late)
    assert ps.task_summary(cancelled).endswith("(avlyst)")


# --- fold ------------------------------------------------------------------------------------

def test_folding_all_produced_events_gives_the_state_the_decisions_read():
    produced: list[ev.EventPayload] = []
    p = patient()

    def run(events):
        nonlocal p
        produced.extend(events)
        p = then(p, events)

    run(pr.create_care_plan(p, pr.CreateCarePlan(title="Hjemmesykepleie", period_start=TODAY),
                            NURSE, NOW))
    plan_id = p.care_plans[0].care_plan_id
    run(pr.add_goal(p, pr.AddGoal(care_plan_id=plan_id, description="Klarer seg selv"),
                    NURSE, NOW))
    run(pr.change_goal_status(p, pr.ChangeGoalStatus(
        care_plan_id=plan_id, goal_id=p.care_plans[0].goals[0].goal_id, status="cancelled",
        note="nytt mål"), NURSE, NOW))
    run(pr.add_intervention(p, pr.AddIntervention(care_plan_id=plan_id, description="Dusj",
                                                  frequency="tirsdag"), NURSE, NOW))
    act = p.care_plans[0].interventions[0].intervention_id
    run(pr.create_task(p, task(intervention_id=act), NURSE, NOW))
    run(pr.create_task(p, task(kind="follow_up", title="Vurder effekt"), NURSE, NOW))
    first, second = (t.task_id for t in p.tasks)
    run(pr.reassign_task(p, pr.ReassignTask(task_id=first, assignee="1234567"), NURSE, NOW))
    run(pr.complete_task(p, pr.CompleteTask(task_id=first, text="Dusjet."), OTHER_NURSE, NOW))
    run(pr.cancel_task(p, pr.CancelTask(task_id=second, reason="ikke aktuelt"), NURSE, NOW))
    run(pr.stop_intervention(p, pr.StopIntervention(care_plan_id=plan_id, intervention_id=act,
                                                    reason="klarer selv"), NURSE, NOW))
    run(pr.complete_care_plan(p, pr.CompleteCarePlan(care_plan_id=plan_id), NURSE, NOW))
    assert patient(*produced) == p
    for e in produced:  # every event survives its wire form
        assert type(e).model_validate_json(e.model_dump_json()) == e
    assert [type(e).__name__ for e in produced] == [
        "CarePlanCreated", "GoalAdded", "GoalStatusChanged", "InterventionAdded", "TaskCreated",
        "TaskCreated", "TaskReassigned", "NoteDrafted", "NoteSigned", "TaskCompleted",
        "TaskCancelled", "InterventionStopped", "CarePlanCompleted"]
    assert all(e.topic == "journal.events" for e in produced)
    [plan] = p.care_plans
    assert (plan.status, plan.goals[0].status, plan.interventions[0].status) == (
        "completed", "cancelled", "stopped")
    assert [(t.status, t.assignee) for t in p.tasks] == [
        ("completed", "1234567"), ("cancelled", None)]
    assert p.tasks[0].note_id == p.notes[0].note_id and p.notes[0].status == "signed"
    assert ps.open_tasks(p) == ()
