"""Care plans and tasks as state of a patient's stream, the worklist reads on them, and their
fold (the process-support arms of ``patients.evolve``). Decisions on them are ``process.py``'s.

Glossary: care plan = tiltaksplan / pleieplan; goal = mål; intervention = tiltak; task = oppgave;
worklist = arbeidsliste; home-care visit = hjemmebesøk (hjemmetjenesten).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Literal
from uuid import UUID

from libs.events.evolve import replace_where
from libs.events.registry import EventPayload
from libs.kernel.model import Frozen
from libs.kernel.time import OSLO, local_day
from services.journal import contract as ev
from services.journal.contract import ActivityStatus, Coded, GoalLifecycle, PlanIntent, TaskKind

if TYPE_CHECKING:
    from services.journal.domain.patients import Patient

PlanStatus = Literal["active", "completed", "revoked"]
GoalStatus = Literal["active", "achieved", "not_achieved", "cancelled"]
TaskStatus = Literal["requested", "completed", "cancelled"]

# Worklist text (Norwegian, shown to clinicians), kept in one place.
KIND_NO: dict[str, str] = {"home_care_visit": "Hjemmebesøk", "follow_up": "Oppfølging",
                           "message_reply": "Svar på melding", "other": "Oppgave"}
STATUS_NO: dict[str, str] = {"requested": "åpen", "completed": "utført", "cancelled": "avlyst"}


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
    # as another record gave it (``GoalRecorded``); a status change here replaces both
    lifecycle: GoalLifecycle | None = None
    achievement: str | None = None
    code: tuple[Coded, ...] = ()
    addresses: tuple[UUID, ...] = ()


class Intervention(Frozen):
    intervention_id: UUID
    description: str
    frequency: str | None = None
    service_code: str | None = None
    code: tuple[Coded, ...] = ()   # as another record coded it (``CarePlanRecorded``)
    status: ActivityStatus = "active"
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
    # made in another record (``CarePlanRecorded``): as its source coded it
    intent: PlanIntent = "plan"
    category: tuple[Coded, ...] = ()
    addresses: tuple[UUID, ...] = ()   # condition ids
    encounter_id: UUID | None = None


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


# --- reads -----------------------------------------------------------------------------------

def open_tasks(p: Patient) -> tuple[Task, ...]:
    """The tasks still to do, soonest due first."""
    return tuple(sorted((t for t in p.tasks if t.status == "requested"), key=lambda t: t.due_at))


def is_due_on(t: Task, day: date) -> bool:
    """Whether ``t`` falls due on ``day`` in Norway (Europe/Oslo), whatever its status."""
    return local_day(t.due_at) == day


def is_overdue(t: Task, now: datetime) -> bool:
    return t.status == "requested" and t.due_at < now


SOON = timedelta(hours=2)


def worklist_window(day: date, now: datetime) -> tuple[datetime, datetime]:
    """The due times [start, end) of a unit's worklist for ``day`` (a day in Norway). Today's
    also holds what falls due within ``SOON``: late in the evening a task due just after
    midnight (a red alarm's response is due in 30 minutes) must not be hidden until then."""
    start = datetime.combine(day, time(), OSLO)
    end = datetime.combine(day + timedelta(days=1), time(), OSLO)
    if day == local_day(now):
        end = max(end, now + SOON)
    return start, end


def task_summary(t: Task) -> str:
    """One worklist line in Norwegian, e.g. ``Hjemmebesøk: Sårstell – frist 30.11.2026 kl.
    08:00 (åpen)``; the due time in Norwegian local time."""
    due = t.due_at.astimezone(OSLO)
    return (f"{KIND_NO[t.kind]}: {t.title} – frist {due:%d.%m.%Y} kl. {due:%H:%M} "
            f"({STATUS_NO[t.status]})")


# --- evolve ----------------------------------------------------------------------------------

def goal_status(lifecycle: str, achievement: str | None) -> GoalStatus:
    """A recorded goal's FHIR lifecycle and achievement -> the journal's goal status."""
    if lifecycle == "cancelled":
        return "cancelled"
    if lifecycle == "completed":
        return "not_achieved" if achievement == "not-achieved" else "achieved"
    return "active"


def recorded_plan(e: ev.CarePlanRecorded) -> CarePlan:
    """The care plan another record made, as ``CarePlanRecorded`` holds it."""
    done = e.status == "completed"
    return CarePlan(
        care_plan_id=e.care_plan_id, title=e.title, period_start=e.period_start,
        period_end=e.period_end, author=e.by, unit=e.unit, created_at=e.recorded_at,
        status=e.status, intent=e.intent, category=e.category, addresses=e.addresses,
        encounter_id=e.encounter_id, closed_by=e.by if done else None,
        closed_at=e.recorded_at if done else None,
        interventions=tuple(Intervention(
            intervention_id=a.intervention_id, description=a.description, code=a.code,
            status=a.status, added_by=e.by, added_at=e.recorded_at) for a in e.activities))


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
        case ev.CarePlanRecorded():
            return u(update={"care_plans": (*p.care_plans, recorded_plan(e))})
        case ev.GoalRecorded():
            g = Goal(goal_id=e.goal_id, description=e.description, target_date=e.target_date,
                     status=goal_status(e.lifecycle, e.achievement),
                     added_by=e.by, added_at=e.recorded_at, lifecycle=e.lifecycle,
                     achievement=e.achievement, code=e.code, addresses=e.addresses)
            return _update_plan(p, e.care_plan_id, lambda x: {"goals": (*x.goals, g)})
        case ev.GoalStatusChanged():
            return _update_plan(p, e.care_plan_id, lambda x: {"goals": replace_where(
                x.goals, lambda g: g.goal_id == e.goal_id, status=e.status, note=e.note,
                changed_by=e.by, changed_at=e.changed_at, lifecycle=None, achievement=None)})
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
