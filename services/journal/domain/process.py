"""Process support (prosesstøtte): care plans with goals and interventions, and tasks, decided
against ``patients.Patient`` (DOMAIN.md §1, "plans, task administration"). Every decision takes
``by: Clinician`` (HPR number and unit) from the HTTP layer.

Glossary: care plan = tiltaksplan / pleieplan; goal = mål; intervention = tiltak; task = oppgave;
worklist = arbeidsliste; home-care visit = hjemmebesøk (hjemmetjenesten).

A care plan goes active -> completed | revoked (entered in error, with a reason); a closed plan
takes no changes (Conflict). Its goals go active -> achieved | not_achieved | cancelled (a note is
required unless achieved); its interventions go active -> stopped (with a reason). A task goes
requested -> completed | cancelled; a closed task takes no changes (Conflict). A task is assigned to
a unit and optionally to one person in it (whether that person works there is the HTTP layer's
check: the domain only sees an HPR number); it may belong to a care plan and one of its
interventions. Completing a task documents it: ``complete_task`` drafts and signs an ordinary
journal note through ``clinical`` and names it in ``TaskCompleted``. A ``message_reply`` task is
made by the record itself when a question arrives (``messages.receive_message``: no
``created_by``, its ``message_id`` the question) and completed by the message that answers it
(``messages.send_message``: ``TaskCompleted.message_id`` instead of a note); answered some other
way, it is completed with a note or cancelled like any task.

Everything new needs a living patient. After death open work can still be closed (a care plan
completed or revoked, a task cancelled), so worklists empty.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID, uuid4

from pydantic import Field

from libs.events.registry import EventPayload
from libs.kernel.errors import Conflict, Invalid, NotFound
from libs.kernel.time import Day, Instant
from services.journal import contract as ev
from services.journal.contract import GoalOutcome, NoteKind, TaskKind
from services.journal.domain import clinical, clinical_state
from services.journal.domain.base import (
    Clinician, Command, optional_text, orgnr, require_alive, require_reason,
    require_registered, service_code, signature,
)
from services.journal.domain.process_state import CarePlan, Goal, Intervention, Task

if TYPE_CHECKING:
    from services.journal.domain.patients import Patient

FreeText = Field(default=None, max_length=2000)


# --- commands --------------------------------------------------------------------------------

class CreateCarePlan(Command):
    title: str = Field(max_length=200)
    episode_id: UUID | None = None
    period_start: Day | None = None
    period_end: Day | None = None


class AddGoal(Command):
    care_plan_id: UUID
    description: str = Field(max_length=2000)
    target_date: Day | None = None


class ChangeGoalStatus(Command):
    care_plan_id: UUID
    goal_id: UUID
    status: GoalOutcome
    note: str | None = Field(default=None, max_length=2000,
                             description="required unless the goal is achieved")


class AddIntervention(Command):
    care_plan_id: UUID
    description: str = Field(max_length=2000)
    frequency: str | None = Field(default=None, max_length=200, description="e.g. 'daily 08:00'")
    service_code: str | None = Field(default=None, max_length=10, description="IPLOS tjenestekode")


class StopIntervention(Command):
    care_plan_id: UUID
    intervention_id: UUID
    reason: str | None = FreeText


class CompleteCarePlan(Command):
    care_plan_id: UUID
    note: str | None = FreeText


class RevokeCarePlan(Command):
    care_plan_id: UUID
    reason: str | None = FreeText


class CreateTask(Command):
    kind: TaskKind
    title: str = Field(max_length=200)
    description: str | None = FreeText
    unit: str = Field(max_length=20, description="organisation number of the assigned unit")
    assignee: str | None = Field(default=None, max_length=20, description="HPR number")
    due_at: Instant
    care_plan_id: UUID | None = None
    intervention_id: UUID | None = Field(default=None, description="its care plan is implied")


class ReassignTask(Command):
    """Set what changes. A new unit without a new assignee leaves the task to anyone there;
    ``no_assignee`` does so within the same unit."""

    task_id: UUID
    unit: str | None = Field(default=None, max_length=20)
    assignee: str | None = Field(default=None, max_length=20)
    no_assignee: bool = False
    due_at: Instant | None = None
    reason: str | None = FreeText


class CompleteTask(Command):
    task_id: UUID
    text: str = Field(max_length=20000, description="the journal note documenting the task")
    kind: NoteKind | None = Field(default=None, description="default: home_care_visit for a "
                                  "home-care visit task, else nursing")


class CancelTask(Command):
    task_id: UUID
    reason: str | None = FreeText


# --- checks ----------------------------------------------------------------------------------

def _words(value: str | None, field: str, what: str) -> str:
    if not (stripped := (value or "").strip()):
        raise Invalid(f"{field}: {what}.")
    return stripped


def _one(items: tuple, attr: str, key: UUID, message: str):
    found = next((i for i in items if getattr(i, attr) == key), None)
    if found is None:
        raise NotFound(message)
    return found


def _plan_of(p: Patient, care_plan_id: UUID) -> CarePlan:
    return _one(p.care_plans, "care_plan_id", care_plan_id, "No such care plan for this patient.")


def _active(plan: CarePlan) -> CarePlan:
    if plan.status != "active":
        raise Conflict(f"The care plan is {plan.status}; a closed care plan takes no changes.")
    return plan


def _open_plan(p: Patient, care_plan_id: UUID) -> CarePlan:
    return _active(_plan_of(p, care_plan_id))


def _open_task(p: Patient, task_id: UUID) -> Task:
    t: Task = _one(p.tasks, "task_id", task_id, "No such task for this patient.")
    if t.status != "requested":
        raise Conflict(f"The task is already {t.status}; a closed task takes no changes.")
    return t


def _assignee(value: str) -> str:
    if not (value.isdigit() and 1 <= len(value) <= 9):
        raise Invalid("assignee: an HPR number is 1 to 9 digits.")
    return value


# --- care plans ------------------------------------------------------------------------------

def create_care_plan(p: Patient, c: CreateCarePlan, by: Clinician,
                     now: datetime) -> list[EventPayload]:
    require_alive(p)
    who = signature(by)
    title = _words(c.title, "title", "a care plan needs a title")
    if c.episode_id is not None:
        _one(p.episodes, "episode_id", c.episode_id, "No such episode for this patient.")
    if c.period_start and c.period_end and c.period_end < c.period_start:
        raise Invalid("period_end is before period_start.")
    return [ev.CarePlanCreated(care_plan_id=uuid4(), title=title, episode_id=c.episode_id,
                               period_start=c.period_start, period_end=c.period_end,
                               author=who["by"], unit=who["unit"], created_at=now)]


def add_goal(p: Patient, c: AddGoal, by: Clinician, now: datetime) -> list[EventPayload]:
    require_alive(p)
    plan = _open_plan(p, c.care_plan_id)
    description = _words(c.description, "description", "a goal needs a description")
    who = signature(by)
    if c.target_date and plan.period_start and c.target_date < plan.period_start:
        raise Invalid("target_date is before the care plan's period starts.")
    return [ev.GoalAdded(care_plan_id=plan.care_plan_id, goal_id=uuid4(),
                         description=description, target_date=c.target_date, added_at=now,
                         **who)]


def change_goal_status(p: Patient, c: ChangeGoalStatus, by: Clinician,
                       now: datetime) -> list[EventPayload]:
    require_alive(p)
    plan = _open_plan(p, c.care_plan_id)
    goal: Goal = _one(plan.goals, "goal_id", c.goal_id, "No such goal in this care plan.")
    if goal.status != "active":
        raise Conflict(f"The goal is already {goal.status.replace('_', ' ')}.")
    note = (optional_text(c.note) if c.status == "achieved" else
            require_reason(c.note, f"Marking a goal {c.status.replace('_', ' ')}"))
    return [ev.GoalStatusChanged(care_plan_id=plan.care_plan_id, goal_id=goal.goal_id,
                                 status=c.status, note=note, changed_at=now,
                                 **signature(by))]


def add_intervention(p: Patient, c: AddIntervention, by: Clinician, now: datetime, *,
                     service_codes: Collection[str] | None = None) -> list[EventPayload]:
    require_alive(p)
    plan = _open_plan(p, c.care_plan_id)
    description = _words(c.description, "description", "an intervention needs a description")
    code = (service_code(c.service_code, service_codes) if c.service_code is not None
            else None)
    return [ev.InterventionAdded(care_plan_id=plan.care_plan_id, intervention_id=uuid4(),
                                 description=description, frequency=optional_text(c.frequency),
                                 service_code=code, added_at=now, **signature(by))]


def stop_intervention(p: Patient, c: StopIntervention, by: Clinician,
                      now: datetime) -> list[EventPayload]:
    require_alive(p)
    plan = _open_plan(p, c.care_plan_id)
    i: Intervention = _one(plan.interventions, "intervention_id", c.intervention_id,
                           "No such intervention in this care plan.")
    if i.status != "active":
        raise Conflict(f"The intervention is already {i.status}.")
    reason = require_reason(c.reason, "Stopping an intervention")
    return [ev.InterventionStopped(care_plan_id=plan.care_plan_id,
                                   intervention_id=i.intervention_id, reason=reason,
                                   stopped_at=now, **signature(by))]


def complete_care_plan(p: Patient, c: CompleteCarePlan, by: Clinician,
                       now: datetime) -> list[EventPayload]:
    require_registered(p)  # also after death: open plans are closed
    plan = _open_plan(p, c.care_plan_id)
    return [ev.CarePlanCompleted(care_plan_id=plan.care_plan_id, note=optional_text(c.note),
                                 completed_at=now, **signature(by))]


def revoke_care_plan(p: Patient, c: RevokeCarePlan, by: Clinician,
                     now: datetime) -> list[EventPayload]:
    """Entered in error (e.g. on the wrong patient): the plan stays visible as revoked."""
    require_registered(p)  # also after death: the record stays correctable
    plan = _open_plan(p, c.care_plan_id)
    reason = require_reason(c.reason, "Revoking a care plan")
    return [ev.CarePlanRevoked(care_plan_id=plan.care_plan_id, reason=reason, revoked_at=now,
                               **signature(by))]


# --- tasks -----------------------------------------------------------------------------------

def create_task(p: Patient, c: CreateTask, by: Clinician, now: datetime) -> list[EventPayload]:
    require_alive(p)
    who = signature(by)
    title = _words(c.title, "title", "a task needs a title")
    unit = orgnr("unit", c.unit)
    assignee = _assignee(c.assignee) if c.assignee is not None else None
    plan = _plan_of(p, c.care_plan_id) if c.care_plan_id is not None else None
    intervention: Intervention | None = None
    if c.intervention_id is not None:  # its plan is implied, or must be the one named
        found = [(x, i) for x in ((plan,) if plan else p.care_plans) for i in x.interventions
                 if i.intervention_id == c.intervention_id]
        if not found:
            raise NotFound("No such intervention in this care plan." if plan else
                            "No such intervention in this patient's care plans.")
        plan, intervention = found[0]
    if plan is not None:
        _active(plan)
    if intervention is not None and intervention.status != "active":
        raise Conflict(f"The intervention is {intervention.status}; it gets no new tasks.")
    return [ev.TaskCreated(task_id=uuid4(), kind=c.kind, title=title,
                           description=optional_text(c.description), unit=unit, assignee=assignee,
                           due_at=c.due_at, care_plan_id=plan.care_plan_id if plan else None,
                           intervention_id=c.intervention_id, created_by=who["by"],
                           created_at=now)]


def reassign_task(p: Patient, c: ReassignTask, by: Clinician,
                  now: datetime) -> list[EventPayload]:
    """Returns no event when the assignment is already as asked (a repeated request)."""
    require_alive(p)
    t = _open_task(p, c.task_id)
    if c.unit is None and c.assignee is None and c.due_at is None and not c.no_assignee:
        raise Invalid("Nothing to change: give a unit, an assignee, no_assignee or a due time.")
    if c.assignee is not None and c.no_assignee:
        raise Invalid("Give either a new assignee or no_assignee, not both.")
    who = signature(by)
    unit = orgnr("unit", c.unit) if c.unit is not None else t.unit
    if c.assignee is not None:
        assignee: str | None = _assignee(c.assignee)
    else:
        assignee = None if c.no_assignee or unit != t.unit else t.assignee
    due = c.due_at or t.due_at
    if (unit, assignee, due) == (t.unit, t.assignee, t.due_at):
        return []
    return [ev.TaskReassigned(task_id=t.task_id, unit=unit, assignee=assignee, due_at=due,
                              reason=optional_text(c.reason), reassigned_by=who["by"],
                              reassigned_at=now)]


def complete_task(p: Patient, c: CompleteTask, by: Clinician,
                  now: datetime) -> list[EventPayload]:
    """The task done and documented: ``[NoteDrafted, NoteSigned, TaskCompleted]``, the note an
    ordinary signed journal note by ``by``, in the plan's episode while that is open."""
    require_alive(p)
    t = _open_task(p, c.task_id)
    if not c.text.strip():
        raise Invalid("text: completing a task documents it, so write what was done.")
    kind = c.kind or ("home_care_visit" if t.kind == "home_care_visit" else "nursing")
    plan = next((x for x in p.care_plans if x.care_plan_id == t.care_plan_id), None)
    episode = next((e.episode_id for e in p.episodes if plan is not None
                    and e.episode_id == plan.episode_id and e.ended_at is None), None)
    [drafted] = clinical.draft_note(p, clinical.DraftNote(kind=kind, text=c.text,
                                                          episode_id=episode), by, now)
    [signed] = clinical.sign_note(clinical_state.evolve(p, drafted),
                                  clinical.SignNote(note_id=drafted.note_id), by, now)
    return [drafted, signed, ev.TaskCompleted(task_id=t.task_id, note_id=drafted.note_id,
                                              completed_by=signed.signed_by,
                                              completed_at=now)]


def cancel_task(p: Patient, c: CancelTask, by: Clinician, now: datetime) -> list[EventPayload]:
    require_registered(p)  # also after death: open tasks leave the worklist
    t = _open_task(p, c.task_id)
    reason, who = require_reason(c.reason, "Cancelling a task"), signature(by)
    return [ev.TaskCancelled(task_id=t.task_id, reason=reason, cancelled_by=who["by"],
                             cancelled_at=now)]
