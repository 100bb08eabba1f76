"""Process support over REST: care plans with goals and interventions, and tasks. A task is
assigned to a unit (and optionally a person in it) with a due time; completing it writes a
signed journal note, so the work is documented where the record is read."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, create_model

from libs.access.guard import AccessDep, Grant, guarded
from libs.access.model import Action
from services.journal.api import IfMatch, Journal, change, clinician, created_id
from services.journal.domain import process as pr

router = APIRouter()
PlanWrite = Annotated[Grant, Depends(guarded(Action.write, "care_plans"))]
TaskWrite = Annotated[Grant, Depends(guarded(Action.write, "tasks"))]


def body_of(command: type[BaseModel], *in_path: str) -> type[BaseModel]:
    """The request body of a command whose ids are in the path: the command's own fields
    (types, limits, descriptions) without those ids."""
    fields: dict[str, Any] = {name: (f.annotation, f) for name, f in command.model_fields.items()
                              if name not in in_path}
    return create_model(f"{command.__name__}Body", __config__=command.model_config, **fields)


GoalBody = body_of(pr.AddGoal, "care_plan_id")
GoalStatusBody = body_of(pr.ChangeGoalStatus, "care_plan_id", "goal_id")
InterventionBody = body_of(pr.AddIntervention, "care_plan_id")
StopBody = body_of(pr.StopIntervention, "care_plan_id", "intervention_id")
CompletePlanBody = body_of(pr.CompleteCarePlan, "care_plan_id")
RevokeBody = body_of(pr.RevokeCarePlan, "care_plan_id")
ReassignBody = body_of(pr.ReassignTask, "task_id")
CompleteTaskBody = body_of(pr.CompleteTask, "task_id")
CancelBody = body_of(pr.CancelTask, "task_id")


# --- care plans ------------------------------------------------------------------------------

@router.post("/patients/{patient_id}/care-plans", status_code=201, tags=["care plans"])
async def create_care_plan(patient_id: UUID, body: pr.CreateCarePlan, response: Response,
                           store: Journal, access: AccessDep, grant: PlanWrite,
                           if_match: IfMatch = None):
    """A care plan (tiltaksplan), optionally for an episode and a period."""
    by, now = clinician(grant.subject), access.now()
    return await change(response, store, patient_id, grant,
                        lambda p: pr.create_care_plan(p, body, by, now), if_match,
                        created_id("care_plan_id"))


@router.post("/patients/{patient_id}/care-plans/{care_plan_id}/goals", status_code=201,
             tags=["care plans"])
async def add_goal(patient_id: UUID, care_plan_id: UUID, body: GoalBody, response: Response,
                   store: Journal, access: AccessDep, grant: PlanWrite,
                   if_match: IfMatch = None):
    by, now = clinician(grant.subject), access.now()
    command = pr.AddGoal(care_plan_id=care_plan_id, **body.model_dump())
    return await change(response, store, patient_id, grant,
                        lambda p: pr.add_goal(p, command, by, now), if_match,
                        created_id("goal_id"))


@router.post("/patients/{patient_id}/care-plans/{care_plan_id}/goals/{goal_id}/status",
             tags=["care plans"])
async def change_goal_status(patient_id: UUID, care_plan_id: UUID, goal_id: UUID,
                             body: GoalStatusBody, response: Response, store: Journal,
                             access: AccessDep, grant: PlanWrite, if_match: IfMatch = None):
    """Achieved, not achieved or cancelled (a note is needed unless achieved)."""
    by, now = clinician(grant.subject), access.now()
    command = pr.ChangeGoalStatus(care_plan_id=care_plan_id, goal_id=goal_id,
                                  **body.model_dump())
    return await change(response, store, patient_id, grant,
                        lambda p: pr.change_goal_status(p, command, by, now), if_match,
                        {"goal_id": str(goal_id)}, status=200)


@router.post("/patients/{patient_id}/care-plans/{care_plan_id}/interventions",
             status_code=201, tags=["care plans"])
async def add_intervention(patient_id: UUID, care_plan_id: UUID, body: InterventionBody,
                           response: Response, store: Journal, access: AccessDep,
                           grant: PlanWrite, if_match: IfMatch = None):
    by, now = clinician(grant.subject), access.now()
    command = pr.AddIntervention(care_plan_id=care_plan_id, **body.model_dump())
    return await change(response, store, patient_id, grant,
                        lambda p: pr.add_intervention(p, command, by, now), if_match,
                        created_id("intervention_id"))


@router.post("/patients/{patient_id}/care-plans/{care_plan_id}/interventions/"
             "{intervention_id}/stop", tags=["care plans"])
async def stop_intervention(patient_id: UUID, care_plan_id: UUID, intervention_id: UUID,
                            body: StopBody, response: Response, store: Journal,
                            access: AccessDep, grant: PlanWrite, if_match: IfMatch = None):
    by, now = clinician(grant.subject), access.now()
    command = pr.StopIntervention(care_plan_id=care_plan_id, intervention_id=intervention_id,
                                  **body.model_dump())
    return await change(response, store, patient_id, grant,
                        lambda p: pr.stop_intervention(p, command, by, now), if_match,
                        {"intervention_id": str(intervention_id)}, status=200)


@router.post("/patients/{patient_id}/care-plans/{care_plan_id}/complete", tags=["care plans"])
async def complete_care_plan(patient_id: UUID, care_plan_id: UUID, body: CompletePlanBody,
                             response: Response, store: Journal, access: AccessDep,
                             grant: PlanWrite, if_match: IfMatch = None):
    by, now = clinician(grant.subject), access.now()
    command = pr.CompleteCarePlan(care_plan_id=care_plan_id, **body.model_dump())
    return await change(response, store, patient_id, grant,
                        lambda p: pr.complete_care_plan(p, command, by, now), if_match,
                        {"care_plan_id": str(care_plan_id)}, status=200)


@router.post("/patients/{patient_id}/care-plans/{care_plan_id}/revoke", tags=["care plans"])
async def revoke_care_plan(patient_id: UUID, care_plan_id: UUID, body: RevokeBody,
                           response: Response, store: Journal, access: AccessDep,
                           grant: PlanWrite, if_match: IfMatch = None):
    """Revoke a plan made in error (a reason is required)."""
    by, now = clinician(grant.subject), access.now()
    command = pr.RevokeCarePlan(care_plan_id=care_plan_id, **body.model_dump())
    return await change(response, store, patient_id, grant,
                        lambda p: pr.revoke_care_plan(p, command, by, now), if_match,
                        {"care_plan_id": str(care_plan_id)}, status=200)


# --- tasks -----------------------------------------------------------------------------------

@router.post("/patients/{patient_id}/tasks", status_code=201, tags=["tasks"])
async def create_task(patient_id: UUID, body: pr.CreateTask, response: Response,
                      store: Journal, access: AccessDep, grant: TaskWrite,
                      if_match: IfMatch = None):
    """A task (home-care visit, follow-up, a message to answer) for a unit or a person in it,
    due at a time; it shows on the unit's worklist."""
    by, now = clinician(grant.subject), access.now()
    return await change(response, store, patient_id, grant,
                        lambda p: pr.create_task(p, body, by, now), if_match,
                        created_id("task_id"))


@router.post("/patients/{patient_id}/tasks/{task_id}/reassign", tags=["tasks"])
async def reassign_task(patient_id: UUID, task_id: UUID, body: ReassignBody,
                        response: Response, store: Journal, access: AccessDep,
                        grant: TaskWrite, if_match: IfMatch = None):
    by, now = clinician(grant.subject), access.now()
    command = pr.ReassignTask(task_id=task_id, **body.model_dump(exclude_unset=True))
    return await change(response, store, patient_id, grant,
                        lambda p: pr.reassign_task(p, command, by, now), if_match,
                        {"task_id": str(task_id)}, status=200)


@router.post("/patients/{patient_id}/tasks/{task_id}/complete", tags=["tasks"])
async def complete_task(patient_id: UUID, task_id: UUID, body: CompleteTaskBody,
                        response: Response, store: Journal, access: AccessDep,
                        grant: TaskWrite, if_match: IfMatch = None):
    """Done, and documented: the text becomes a signed note linked to the task."""
    by, now = clinician(grant.subject), access.now()
    command = pr.CompleteTask(task_id=task_id, **body.model_dump())

    def body_out(result) -> dict:
        note = next(e for e in result.envelopes if e.type == "journal.NoteSigned")
        return {"task_id": str(task_id), "note_id": str(note.data["note_id"])}

    return await change(response, store, patient_id, grant,
                        lambda p: pr.complete_task(p, command, by, now), if_match, body_out,
                        status=200)


@router.post("/patients/{patient_id}/tasks/{task_id}/cancel", tags=["tasks"])
async def cancel_task(patient_id: UUID, task_id: UUID, body: CancelBody, response: Response,
                      store: Journal, access: AccessDep, grant: TaskWrite,
                      if_match: IfMatch = None):
    by, now = clinician(grant.subject), access.now()
    command = pr.CancelTask(task_id=task_id, **body.model_dump())
    return await change(response, store, patient_id, grant,
                        lambda p: pr.cancel_task(p, command, by, now), if_match,
                        {"task_id": str(task_id)}, status=200)
