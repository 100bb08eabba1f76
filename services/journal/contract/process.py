"""The ``journal.events`` contract for process support: care plans (tiltaksplan/pleieplan) and
tasks. A care plan holds goals (mål) and interventions (tiltak); a task (oppgave) is work for a
unit, optionally for one person in it, due at a moment. Completing a task documents it: the note
is an ordinary signed journal note (NoteDrafted + NoteSigned) that ``TaskCompleted`` names.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal
from uuid import UUID

from pydantic import Field

from libs.events.registry import EventPayload, event
from services.journal.contract.observations import Coded
from services.journal.contract.values import Hpr, OrgNr, Reason, Text, Value

Title = Field(min_length=1, max_length=200)
TaskKind = Literal["home_care_visit", "follow_up", "message_reply", "other"]
GoalOutcome = Literal["achieved", "not_achieved", "cancelled"]
PlanIntent = Literal["proposal", "plan", "order", "option"]
"""FHIR's CarePlan intent (a care plan made in the journal is a ``plan``)."""
GoalLifecycle = Literal["proposed", "planned", "accepted", "active", "on-hold", "completed",
                        "cancelled"]
"""FHIR's Goal lifecycle status as another record gave it (rejected and entered-in-error goals
are not kept)."""
ActivityStatus = Literal["active", "stopped", "completed"]
Codes = Field(default=(), max_length=10)


@event("journal.CarePlanCreated")
class CarePlanCreated(EventPayload):
    care_plan_id: UUID
    title: str = Title
    episode_id: UUID | None = None
    period_start: date | None = None
    period_end: date | None = None
    author: str = Hpr
    unit: str = OrgNr
    created_at: datetime


@event("journal.GoalAdded")
class GoalAdded(EventPayload):
    care_plan_id: UUID
    goal_id: UUID
    description: str = Text
    target_date: date | None = None
    by: str = Hpr
    unit: str = OrgNr
    added_at: datetime


@event("journal.GoalStatusChanged")
class GoalStatusChanged(EventPayload):
    """A goal's outcome; ``note`` says why (required when not achieved or cancelled)."""

    care_plan_id: UUID
    goal_id: UUID
    status: GoalOutcome
    note: str | None = Field(default=None, max_length=2000)
    by: str = Hpr
    unit: str = OrgNr
    changed_at: datetime


@event("journal.InterventionAdded")
class InterventionAdded(EventPayload):
    care_plan_id: UUID
    intervention_id: UUID
    description: str = Text
    frequency: str | None = Field(default=None, max_length=200,
                                  description="free text, e.g. 'daily 08:00'")
    service_code: str | None = Field(default=None, pattern=r"^\d{1,3}$",
                                     description="IPLOS tjenestekode the intervention is part of")
    by: str = Hpr
    unit: str = OrgNr
    added_at: datetime


@event("journal.InterventionStopped")
class InterventionStopped(EventPayload):
    care_plan_id: UUID
    intervention_id: UUID
    reason: str = Reason
    by: str = Hpr
    unit: str = OrgNr
    stopped_at: datetime


@event("journal.CarePlanCompleted")
class CarePlanCompleted(EventPayload):
    care_plan_id: UUID
    note: str | None = Field(default=None, max_length=2000)
    by: str = Hpr
    unit: str = OrgNr
    completed_at: datetime


@event("journal.CarePlanRevoked")
class CarePlanRevoked(EventPayload):
    """Entered in error (e.g. on the wrong patient); stays visible as revoked."""

    care_plan_id: UUID
    reason: str = Reason
    by: str = Hpr
    unit: str = OrgNr
    revoked_at: datetime


@event("journal.TaskCreated")
class TaskCreated(EventPayload):
    task_id: UUID
    kind: TaskKind
    title: str = Title
    description: str | None = Field(default=None, max_length=2000)
    unit: str = Field(pattern=r"^\d{9}$", description="organisation number of the assigned unit")
    assignee: str | None = Field(default=None, pattern=r"^\d{1,9}$",
                                 description="HPR number of a person in the unit")
    due_at: datetime
    care_plan_id: UUID | None = None
    intervention_id: UUID | None = None
    message_id: str | None = Field(default=None, min_length=1, max_length=100,
                                   description="the inbound message a message_reply task answers")
    created_by: str | None = Field(default=None, pattern=r"^\d{1,9}$",
                                   description="HPR number; None when the record made the task "
                                   "itself (a reply task for an inbound message)")
    created_at: datetime


@event("journal.TaskReassigned")
class TaskReassigned(EventPayload):
    """The task's whole new assignment: unit, person (None: anyone in the unit) and due time."""

    task_id: UUID
    unit: str = OrgNr
    assignee: str | None = Field(default=None, pattern=r"^\d{1,9}$")
    due_at: datetime
    reason: str | None = Field(default=None, max_length=2000)
    reassigned_by: str = Hpr
    reassigned_at: datetime


@event("journal.TaskCompleted")
class TaskCompleted(EventPayload):
    """Done and documented: ``note_id`` is the signed journal note written for it, or, for a
    ``message_reply`` task, ``message_id`` is the message we sent that answers (one of the two)."""

    task_id: UUID
    note_id: UUID | None = None
    message_id: str | None = Field(default=None, min_length=1, max_length=100)
    completed_by: str = Hpr
    completed_at: datetime


@event("journal.TaskCancelled")
class TaskCancelled(EventPayload):
    task_id: UUID
    reason: str = Reason
    cancelled_by: str = Hpr
    cancelled_at: datetime


class RecordedActivity(Value):
    """An activity (tiltak) of a care plan as its source coded it (SNOMED CT, IPLOS, ...)."""

    intervention_id: UUID
    code: tuple[Coded, ...] = Codes
    description: str = Text
    status: ActivityStatus


@event("journal.CarePlanRecorded")
class CarePlanRecorded(EventPayload):
    """A care plan made in another record (an import such as ``ehr import synthea``) as its
    source coded it: status, intent, categories, period, activities, the conditions it
    addresses (``ConditionRecorded`` / ``ConditionCoded`` ids) and the contact it was made in.
    Its goals follow as ``GoalRecorded``; later changes are the ordinary process events."""

    care_plan_id: UUID
    title: str = Title
    status: Literal["active", "completed"]
    intent: PlanIntent
    category: tuple[Coded, ...] = Codes
    period_start: date | None = None
    period_end: date | None = None
    addresses: tuple[UUID, ...] = Field(default=(), max_length=50)
    encounter_id: UUID | None = None
    activities: tuple[RecordedActivity, ...] = Field(default=(), max_length=100)
    by: str = Hpr
    unit: str = OrgNr
    recorded_at: datetime


@event("journal.GoalRecorded")
class GoalRecorded(EventPayload):
    """A goal (mål) of a care plan made in another record, as its source gave it: its
    lifecycle and achievement status (FHIR codes), description and codings, target date and
    the conditions it addresses."""

    care_plan_id: UUID
    goal_id: UUID
    description: str = Text
    code: tuple[Coded, ...] = Codes
    lifecycle: GoalLifecycle
    achievement: str | None = Field(default=None, pattern=r"^[a-z-]{1,40}$",
                                    description="goal-achievement code (in-progress, ...)")
    target_date: date | None = None
    addresses: tuple[UUID, ...] = Field(default=(), max_length=50)
    by: str = Hpr
    unit: str = OrgNr
    recorded_at: datetime
