"""Process support (prosesstøtte): care plans with goals and interventions, and tasks, decided
against ``patients.Patient`` (DOMAIN.md §1, "plans, task administration"). Every decision takes
``by: Clinician`` (HPR number and unit) from the API layer.

Glossary: care plan = tiltaksplan / pleieplan; goal = mål; intervention = tiltak; task = oppgave;
worklist = arbeidsliste; home-care visit = hjemmebesøk (hjemmetjenesten).

A care plan goes active -> completed | revoked (entered in error, with a reason); a closed plan
takes no changes (409). Its goals go active -> achieved | not_achieved | cancelled (a note is
required unless achieved); its interventions go active -> stopped (with a reason). A task goes
requested -> completed | cancelled; a closed task takes no changes (409). A task is assigned to
a unit and optionally to one person in it (whether that person works there is the API layer's
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
from datetime import date, datetime
from typing import TYPE_CHECKING, Literal
from uuid import UUID, uuid4

from pydantic import AwareDatetime, Field

from libs.access.policy import OSLO, local_day
from libs.events.evolve import replace_where
from libs.events.registry import EventPayload
from services.journal.domain import (
    Command, Frozen, conflict, invalid, not_found, require_alive, require_registered,
)
from services.journal.domain import clinical
from services.journal.domain import events as ev
from services.journal.domain.clinical import Clinician
from services.journal.domain.episodes import _orgnr, _service_code
from services.journal.domain.events import GoalOutcome, NoteKind, TaskKind

if TYPE_CHECKING:
    from services.journal.domain.patients import Patient

PlanStatus = Literal["active", "completed", "revoked"]
GoalStatus = Literal["active", "achieved", "not_achieved", "cancelled"]
TaskStatus = Literal["requested", "completed", "cancelled"]

# Worklist text (Norwegian, shown to clinicians), kept in one place.
KIND_NO: dict[str, str] = {"home_care_visit": "Hjemmebesøk", "follow_up": "Oppfølging",
                           "message_reply": "Svar på melding", "other": "Oppgave"}
STATUS_NO: dict[str, str] = {"requested": "åpen", "completed": "utført", "cancelled": "avlyst"}

FreeText = Field(default=None, max_length=2000)


class Goal(Frozen):
    goal_id: UUID
    description: str
    target_date: date | None = None
    status: GoalStatus = "active"
    note: str | None = None
    added_by: str
    added_at: datetime
    changed_by: str | None = None
    changed_at: datetime | None = None


class Intervention(Frozen):
    intervention_id: UUID
    description: str
    frequency: str | None = None
    service_code: str | None = None
    status: Literal["active", "stopped"] = "active"
    added_by: str
    added_at: datetime
    stopped_by: str | None = None
    stopped_at: datetime | None = None
    stop_reason: str | None = None


class CarePlan(Frozen):
    care_plan_id: UUID
    title: str
    episode_id: UUID | None = None
    period_start: date | None = None
    period_end: date | None = None
    author: str
    unit: str
    created_at: datetime
    status: PlanStatus = "active"
    goals: tuple[Goal, ...] = ()
    interventions: tuple[Intervention, ...] = ()
    closed_by: str | None = None
    closed_at: datetime | None = None
    close_note: str | None = None  # the completion note, or the reason it was revoked


class Task(Frozen):
    """One row of a worklist (arbeidsliste): flat, so the service projects it as it is."""

    task_id: UUID
    kind: TaskKind
    title: str
    description: str | None = None
    unit: str
    assignee: str | None = None
    due_at: datetime
    status: TaskStatus = "requested"
    care_plan_id: UUID | None = None
    intervention_id: UUID | None = None
    message_id: str | None = None  # the inbound message a message_reply task answers
    created_by: str | None = None  # None: made by the record itself (a reply task)
    created_at: datetime
    completed_at: datetime | None = None
    completed_by: str | None = None
    note_id: UUID | None = None
    reply_message_id: str | None = None  # the message we sent that completed it
    cancel_reason: str | None = None
    cancelled_by: str | None = None
    cancelled_at: datetime | None = None


# --- commands --------------------------------------------------------------------------------

class CreateCarePlan(Command):
    title: str = Field(max_length=200)
    episode_id: UUID | None = None
    period_start: date | None = None
    period_end: date | None = None


class AddGoal(Command):
    care_plan_id: UUID
    description: str = Field(max_length=2000)
    target_date: date | None = None


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
    due_at: AwareDatetime
    care_plan_id: UUID | None = None
    intervention_id: UUID | None = Field(default=None, description="its care plan is implied")


class ReassignTask(Command):
    """Set what changes. A new unit without a new assignee leaves the task to anyone there;
    ``no_assignee`` does so within the same unit."""

    task_id: UUID
    unit: str | None = Field(default=None, max_length=20)
    assignee: str | None = Field(default=None, max_length=20)
    no_assignee: bool = False
    due_at: AwareDatetime | None = None
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
        raise invalid(f"{field}: {what}.")
    return stripped


def _maybe(value: str | None) -> str | None:
    return (value or "").strip() or None


def _one(items: tuple, attr: str, key: UUID, message: str):
    found = next((i for i in items if getattr(i, attr) == key), None)
    if found is None:
        raise not_found(message)
    return found


def _plan_of(p: Patient, care_plan_id: UUID) -> CarePlan:
    return _one(p.care_plans, "care_plan_id", care_plan_id, "No such care plan for this patient.")


def _active(plan: CarePlan) -> CarePlan:
    if plan.status != "active":
        raise conflict(f"The care plan is {plan.status}; a closed care plan takes no changes.")
    return plan


def _open_plan(p: Patient, care_plan_id: UUID) -> CarePlan:
    return _active(_plan_of(p, care_plan_id))


def _open_task(p: Patient, task_id: UUID) -> Task:
    t: Task = _one(p.tasks, "task_id", task_id, "No such task for this patient.")
    if t.status != "requested":
        raise conflict(f"The task is already {t.status}; a closed task takes no changes.")
    return t


def _assignee(value: str) -> str:
    if not (value.isdigit() and 1 <= len(value) <= 9):
        raise invalid("assignee: an HPR number is 1 to 9 digits.")
    return value


# --- care plans ------------------------------------------------------------------------------

def create_care_plan(p: Patient, c: CreateCarePlan, by: Clinician,
                     now: datetime) -> list[EventPayload]:
    require_alive(p)
    who = clinical._who(by)
    title = _words(c.title, "title", "a care plan needs a title")
    if c.episode_id is not None:
        _one(p.episodes, "episode_id", c.episode_id, "No such episode for this patient.")
    if c.period_start and c.period_end and c.period_end < c.period_start:
        raise invalid("period_end is before period_start.")
    return [ev.CarePlanCreated(care_plan_id=uuid4(), title=title, episode_id=c.episode_id,
                               period_start=c.period_start, period_end=c.period_end,
                               author=who["by"], unit=who["unit"], created_at=now)]


def add_goal(p: Patient, c: AddGoal, by: Clinician, now: datetime) -> list[EventPayload]:
    require_alive(p)
    plan = _open_plan(p, c.care_plan_id)
    description = _words(c.description, "description", "a goal needs a description")
    who = clinical._who(by)
    if c.target_date and plan.period_start and c.target_date < plan.period_start:
        raise invalid("target_date is before the care plan's period starts.")
    return [ev.GoalAdded(care_plan_id=plan.care_plan_id, goal_id=uuid4(),
                         description=description, target_date=c.target_date, added_at=now,
                         **who)]


def change_goal_status(p: Patient, c: ChangeGoalStatus, by: Clinician,
                       now: datetime) -> list[EventPayload]:
    require_alive(p)
    plan = _open_plan(p, c.care_plan_id)
    goal: Goal = _one(plan.goals, "goal_id", c.goal_id, "No such goal in this care plan.")
    if goal.status != "active":
        raise conflict(f"The goal is already {goal.status.replace('_', ' ')}.")
    note = (_maybe(c.note) if c.status == "achieved" else
            clinical._reason(c.note, f"Marking a goal {c.status.replace('_', ' ')}"))
    return [ev.GoalStatusChanged(care_plan_id=plan.care_plan_id, goal_id=goal.goal_id,
                                 status=c.status, note=note, changed_at=now,
                                 **clinical._who(by))]


def add_intervention(p: Patient, c: AddIntervention, by: Clinician, now: datetime, *,
                     service_codes: Collection[str] | None = None) -> list[EventPayload]:
    require_alive(p)
    plan = _open_plan(p, c.care_plan_id)
    description = _words(c.description, "description", "an intervention needs a description")
    code = (_service_code(c.service_code, service_codes) if c.service_code is not None
            else None)
    return [ev.InterventionAdded(care_plan_id=plan.care_plan_id, intervention_id=uuid4(),
                                 description=description, frequency=_maybe(c.frequency),
                                 service_code=code, added_at=now, **clinical._who(by))]


def stop_intervention(p: Patient, c: StopIntervention, by: Clinician,
                      now: datetime) -> list[EventPayload]:
    require_alive(p)
    plan = _open_plan(p, c.care_plan_id)
    i: Intervention = _one(plan.interventions, "intervention_id", c.intervention_id,
                           "No such intervention in this care plan.")
    if i.status == "stopped":
        raise conflict("The intervention is already stopped.")
    reason = clinical._reason(c.reason, "Stopping an intervention")
    return [ev.InterventionStopped(care_plan_id=plan.care_plan_id,
                                   intervention_id=i.intervention_id, reason=reason,
                                   stopped_at=now, **clinical._who(by))]


def complete_care_plan(p: Patient, c: CompleteCarePlan, by: Clinician,
                       now: datetime) -> list[EventPayload]:
    require_registered(p)  # also after death: open plans are closed
    plan = _open_plan(p, c.care_plan_id)
    return [ev.CarePlanCompleted(care_plan_id=plan.care_plan_id, note=_maybe(c.note),
                                 completed_at=now, **clinical._who(by))]


def revoke_care_plan(p: Patient, c: RevokeCarePlan, by: Clinician,
                     now: datetime) -> list[EventPayload]:
    """Entered in error (e.g. on the wrong patient): the plan stays visible as revoked."""
    require_registered(p)  # also after death: the record stays correctable
    plan = _open_plan(p, c.care_plan_id)
    reason = clinical._reason(c.reason, "Revoking a care plan")
    return [ev.CarePlanRevoked(care_plan_id=plan.care_plan_id, reason=reason, revoked_at=now,
                               **clinical._who(by))]


# --- tasks -----------------------------------------------------------------------------------

def create_task(p: Patient, c: CreateTask, by: Clinician, now: datetime) -> list[EventPayload]:
    require_alive(p)
    who = clinical._who(by)
    title = _words(c.title, "title", "a task needs a title")
    unit = _orgnr("unit", c.unit)
    assignee = _assignee(c.assignee) if c.assignee is not None else None
    plan = _plan_of(p, c.care_plan_id) if c.care_plan_id is not None else None
    intervention: Intervention | None = None
    if c.intervention_id is not None:  # its plan is implied, or must be the one named
        found = [(x, i) for x in ((plan,) if plan else p.care_plans) for i in x.interventions
                 if i.intervention_id == c.intervention_id]
        if not found:
            raise not_found("No such intervention in this care plan." if plan else
                            "No such intervention in this patient's care plans.")
        plan, intervention = found[0]
    if plan is not None:
        _active(plan)
    if intervention is not None and intervention.status == "stopped":
        raise conflict("The intervention is stopped; it gets no new tasks.")
    return [ev.TaskCreated(task_id=uuid4(), kind=c.kind, title=title,
                           description=_maybe(c.description), unit=unit, assignee=assignee,
                           due_at=c.due_at, care_plan_id=plan.care_plan_id if plan else None,
                           intervention_id=c.intervention_id, created_by=who["by"],
                           created_at=now)]


def reassign_task(p: Patient, c: ReassignTask, by: Clinician,
                  now: datetime) -> list[EventPayload]:
    """Returns no event when the assignment is already as asked (a repeated request)."""
    require_alive(p)
    t = _open_task(p, c.task_id)
    if c.unit is None and c.assignee is None and c.due_at is None and not c.no_assignee:
        raise invalid("Nothing to change: give a unit, an assignee, no_assignee or a due time.")
    if c.assignee is not None and c.no_assignee:
        raise invalid("Give either a new assignee or no_assignee, not both.")
    who = clinical._who(by)
    unit = _orgnr("unit", c.unit) if c.unit is not None else t.unit
    if c.assignee is not None:
        assignee: str | None = _assignee(c.assignee)
    else:
        assignee = None if c.no_assignee or unit != t.unit else t.assignee
    due = c.due_at or t.due_at
    if (unit, assignee, due) == (t.unit, t.assignee, t.due_at):
        return []
    return [ev.TaskReassigned(task_id=t.task_id, unit=unit, assignee=assignee, due_at=due,
                              reason=_maybe(c.reason), reassigned_by=who["by"],
                              reassigned_at=now)]


def complete_task(p: Patient, c: CompleteTask, by: Clinician,
                  now: datetime) -> list[EventPayload]:
    """The task done and documented: ``[NoteDrafted, NoteSigned, TaskCompleted]``, the note an
    ordinary signed journal note by ``by``, in the plan's episode while that is open."""
    require_alive(p)
    t = _open_task(p, c.task_id)
    if not c.text.strip():
        raise invalid("text: completing a task documents it, so write what was done.")
    kind = c.kind or ("home_care_visit" if t.kind == "home_care_visit" else "nursing")
    plan = next((x for x in p.care_plans if x.care_plan_id == t.care_plan_id), None)
    episode = next((e.episode_id for e in p.episodes if plan is not None
                    and e.episode_id == plan.episode_id and e.ended_at is None), None)
    [drafted] = clinical.draft_note(p, clinical.DraftNote(kind=kind, text=c.text,
                                                          episode_id=episode), by, now)
    [signed] = clinical.sign_note(clinical.evolve(p, drafted),
                                  clinical.SignNote(note_id=drafted.note_id), by, now)
    return [drafted, signed, ev.TaskCompleted(task_id=t.task_id, note_id=drafted.note_id,
                                              completed_by=signed.signed_by,
                                              completed_at=now)]


def cancel_task(p: Patient, c: CancelTask, by: Clinician, now: datetime) -> list[EventPayload]:
    require_registered(p)  # also after death: open tasks leave the worklist
    t = _open_task(p, c.task_id)
    reason, who = clinical._reason(c.reason, "Cancelling a task"), clinical._who(by)
    return [ev.TaskCancelled(task_id=t.task_id, reason=reason, cancelled_by=who["by"],
                             cancelled_at=now)]


# --- reads -----------------------------------------------------------------------------------

def open_tasks(p: Patient) -> tuple[Task, ...]:
    """The tasks still to do, soonest due first."""
    return tuple(sorted((t for t in p.tasks if t.status == "requested"), key=lambda t: t.due_at))


def is_due_on(t: Task, day: date) -> bool:
    """Whether ``t`` falls due on ``day`` in Norway (Europe/Oslo), whatever its status."""
    return local_day(t.due_at) == day


def is_overdue(t: Task, now: datetime) -> bool:
    return t.status == "requested" and t.due_at < now


def task_summary(t: Task) -> str:
    """One worklist line in Norwegian, e.g. ``Hjemmebesøk: Sårstell – frist 30.11.2026 kl.
    08:00 (åpen)``; the due time in Norwegian local time."""
    due = t.due_at.astimezone(OSLO)
    return (f"{KIND_NO[t.kind]}: {t.title} – frist {due:%d.%m.%Y} kl. {due:%H:%M} "
            f"({STATUS_NO[t.status]})")


# --- evolve ----------------------------------------------------------------------------------

def _update_plan(p: Patient, care_plan_id: UUID, change) -> Patient:
    return p.model_copy(update={"care_plans": tuple(
        x.model_copy(update=change(x)) if x.care_plan_id == care_plan_id else x
        for x in p.care_plans)})


def evolve(p: Patient, e: EventPayload) -> Patient:
    """The process-support arms of ``patients.evolve``; other events leave the state as it is."""
    u, tasks = p.model_copy, (lambda t: t.task_id == e.task_id)
    match e:
        case ev.CarePlanCreated():
            plan = CarePlan(care_plan_id=e.care_plan_id, title=e.title, episode_id=e.episode_id,
                            period_start=e.period_start, period_end=e.period_end,
                            author=e.author, unit=e.unit, created_at=e.created_at)
            return u(update={"care_plans": (*p.care_plans, plan)})
        case ev.GoalAdded():
            g = Goal(goal_id=e.goal_id, description=e.description, target_date=e.target_date,
                     added_by=e.by, added_at=e.added_at)
            return _update_plan(p, e.care_plan_id, lambda x: {"goals": (*x.goals, g)})
        case ev.GoalStatusChanged():
            return _update_plan(p, e.care_plan_id, lambda x: {"goals": replace_where(
                x.goals, lambda g: g.goal_id == e.goal_id, status=e.status, note=e.note,
                changed_by=e.by, changed_at=e.changed_at)})
        case ev.InterventionAdded():
            i = Intervention(intervention_id=e.intervention_id, description=e.description,
                             frequency=e.frequency, service_code=e.service_code,
                             added_by=e.by, added_at=e.added_at)
            return _update_plan(p, e.care_plan_id,
                                lambda x: {"interventions": (*x.interventions, i)})
        case ev.InterventionStopped():
            return _update_plan(p, e.care_plan_id, lambda x: {"interventions": replace_where(
                x.interventions, lambda i: i.intervention_id == e.intervention_id,
                status="stopped", stopped_by=e.by, stopped_at=e.stopped_at,
                stop_reason=e.reason)})
        case ev.CarePlanCompleted():
            return _update_plan(p, e.care_plan_id, lambda _: {
                "status": "completed", "closed_by": e.by, "closed_at": e.completed_at,
                "close_note": e.note})
        case ev.CarePlanRevoked():
            return _update_plan(p, e.care_plan_id, lambda _: {
                "status": "revoked", "closed_by": e.by, "closed_at": e.revoked_at,
                "close_note": e.reason})
        case ev.TaskCreated():
            t = Task(task_id=e.task_id, kind=e.kind, title=e.title, description=e.description,
                     unit=e.unit, assignee=e.assignee, due_at=e.due_at,
                     care_plan_id=e.care_plan_id, intervention_id=e.intervention_id,
                     message_id=e.message_id, created_by=e.created_by,
                     created_at=e.created_at)
            return u(update={"tasks": (*p.tasks, t)})
        case ev.TaskReassigned():
            return u(update={"tasks": replace_where(p.tasks, tasks, unit=e.unit,
                                                    assignee=e.assignee, due_at=e.due_at)})
        case ev.TaskCompleted():
            return u(update={"tasks": replace_where(
                p.tasks, tasks, status="completed", note_id=e.note_id,
                reply_message_id=e.message_id, completed_by=e.completed_by,
                completed_at=e.completed_at)})
        case ev.TaskCancelled():
            return u(update={"tasks": replace_where(
                p.tasks, tasks, status="cancelled", cancel_reason=e.reason,
                cancelled_by=e.cancelled_by, cancelled_at=e.cancelled_at)})
    return p
