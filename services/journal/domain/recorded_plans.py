"""Care plans and goals made in another record (an import such as ``ehr import synthea``, a FHIR
write of a CarePlan or Goal), decided against ``patients.Patient``: kept as their source coded
them (``CarePlanRecorded``, ``GoalRecorded``), and from then on changed by the ordinary process
commands (``process.py``). A plan's conditions and contact must be in the patient's record; a
goal belongs to a plan of the patient's. The ids are the caller's (deterministic for an import:
recording the same plan twice is a Conflict, which an import's ``exists`` check avoids)."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Literal
from uuid import UUID

from pydantic import Field

from libs.events.registry import EventPayload
from libs.kernel.errors import Conflict, Invalid, NotFound
from libs.kernel.time import Day, local_day
from services.journal import contract as ev
from services.journal.contract import Coded, GoalLifecycle, PlanIntent, RecordedActivity
from services.journal.domain.base import Clinician, Command, require_alive, signature

if TYPE_CHECKING:
    from services.journal.domain.patients import Patient


class RecordCarePlan(Command):
    care_plan_id: UUID
    title: str = Field(max_length=200)
    status: Literal["active", "completed"] = "active"
    intent: PlanIntent = "plan"
    category: tuple[Coded, ...] = Field(default=(), max_length=10)
    period_start: Day | None = None
    period_end: Day | None = None
    addresses: tuple[UUID, ...] = Field(default=(), max_length=50)
    encounter_id: UUID | None = None
    activities: tuple[RecordedActivity, ...] = Field(default=(), max_length=100)


class RecordGoal(Command):
    care_plan_id: UUID
    goal_id: UUID
    description: str = Field(max_length=2000)
    code: tuple[Coded, ...] = Field(default=(), max_length=10)
    lifecycle: GoalLifecycle = "active"
    achievement: str | None = Field(default=None, pattern=r"^[a-z-]{1,40}$")
    target_date: Day | None = None
    addresses: tuple[UUID, ...] = Field(default=(), max_length=50)


def _conditions(p: Patient, ids: tuple[UUID, ...]) -> tuple[UUID, ...]:
    known = {c.condition_id for c in p.conditions}
    if any(i not in known for i in ids):
        raise NotFound("A condition the care plan addresses is not in this patient's record.")
    return tuple(dict.fromkeys(ids))


def _not_after(what: str, day: date | None, now: datetime) -> None:
    if day is not None and day > local_day(now):
        raise Invalid(f"{what} is in the future; a recorded care plan has begun.")


def record_care_plan(p: Patient, c: RecordCarePlan, by: Clinician,
                     now: datetime) -> list[EventPayload]:
    require_alive(p)
    if any(x.care_plan_id == c.care_plan_id for x in p.care_plans):
        raise Conflict("This care plan is already in the record.")
    if not (title := c.title.strip()):
        raise Invalid("title: a care plan needs a title.")
    _not_after("period_start", c.period_start, now)
    if c.period_start and c.period_end and c.period_end < c.period_start:
        raise Invalid("period_end is before period_start.")
    if c.status == "completed":
        _not_after("period_end", c.period_end, now)
    if c.encounter_id is not None and not any(x.encounter_id == c.encounter_id
                                              for x in p.encounters):
        raise NotFound("The contact the care plan was made in is not in this patient's record.")
    return [ev.CarePlanRecorded(
        care_plan_id=c.care_plan_id, title=title, status=c.status, intent=c.intent,
        category=c.category, period_start=c.period_start, period_end=c.period_end,
        addresses=_conditions(p, c.addresses), encounter_id=c.encounter_id,
        activities=c.activities, recorded_at=now, **signature(by))]


def record_goal(p: Patient, c: RecordGoal, by: Clinician, now: datetime) -> list[EventPayload]:
    require_alive(p)
    plan = next((x for x in p.care_plans if x.care_plan_id == c.care_plan_id), None)
    if plan is None:
        raise NotFound("No such care plan for this patient.")
    if any(g.goal_id == c.goal_id for x in p.care_plans for g in x.goals):
        raise Conflict("This goal is already in the record.")
    if not (description := c.description.strip()):
        raise Invalid("description: a goal needs a description.")
    return [ev.GoalRecorded(
        care_plan_id=plan.care_plan_id, goal_id=c.goal_id, description=description,
        code=c.code, lifecycle=c.lifecycle, achievement=c.achievement,
        target_date=c.target_date, addresses=_conditions(p, c.addresses), recorded_at=now,
        **signature(by))]
