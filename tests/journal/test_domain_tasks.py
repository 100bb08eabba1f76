"""Process support, pure (part 2): tasks, completing a task as a signed journal note, every
refused transition with its status and a readable message, the worklist reads and the fold.
Part 1: ``test_domain_process.py``."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

from libs.kernel.time import OSLO
from services.journal.domain import clinical as c
from services.journal.domain import episodes as care
from services.journal import contract as ev
from services.journal.domain import patients as pt
from services.journal.domain import process as pr
from services.journal.domain import process_state as ps
from tests.journal.support import NOW, TODAY, then
from tests.journal.process_support import (
    BAD_ORG, DUE, NURSE, OTHER_NURSE, OTHER_UNIT, P, UNIT, died, patient, says, task,
    with_intervention, with_plan, with_task,
)


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


def test_todays_worklist_holds_what_falls_due_in_the_next_two_hours():
    evening = datetime(2026, 12, 3, 23, 45, tzinfo=OSLO)
    start, end = ps.worklist_window(evening.date(), evening)
    assert start == datetime(2026, 12, 3, tzinfo=OSLO)
    # a red alarm raised now is due at 00:15: on tonight's worklist, not on tomorrow's only
    assert start <= evening + timedelta(minutes=30) < end == evening + ps.SOON
    assert not datetime(2026, 12, 4, 2, tzinfo=OSLO) < end
    noon = datetime(2026, 12, 3, 12, tzinfo=OSLO)
    assert ps.worklist_window(noon.date(), noon) == (start, datetime(2026, 12, 4, tzinfo=OSLO))
    # another day than today is that day only, late evening or not
    assert ps.worklist_window(date(2026, 12, 4), evening) == (
        datetime(2026, 12, 4, tzinfo=OSLO), datetime(2026, 12, 5, tzinfo=OSLO))
    # the day is Norway's: 23:30 UTC on 3 December is already 4 December in Oslo
    late_utc = datetime(2026, 12, 3, 23, 30, tzinfo=UTC)
    assert ps.worklist_window(date(2026, 12, 4), late_utc)[1] == datetime(2026, 12, 5,
                                                                          tzinfo=OSLO)


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
