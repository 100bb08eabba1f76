"""Process support over REST: care plans with goals and interventions, and tasks. A task is
assigned to a unit (and optionally a person in it) with a due time; completing it writes a
signed journal note, so the work is documented where the record is read."""

from __future__ import annotations

from uuid import UUID


from libs.web.write import created
from libs.web.routing import PathRouter
from services.journal.domain import process as pr
from services.journal.http.deps import body_of, journal_write

router = PathRouter()
PlanWrite = journal_write("care_plans", documenting=True)
TaskWrite = journal_write("tasks", documenting=True)


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
async def create_care_plan(patient_id: UUID, body: pr.CreateCarePlan, w: PlanWrite):
    """A care plan (tiltaksplan), optionally for an episode and a period."""
    return await w.apply(lambda p: pr.create_care_plan(p, body, w.actor, w.now),
                         body=created("care_plan_id"))


@router.post("/patients/{patient_id}/care-plans/{care_plan_id}/goals", status_code=201,
             tags=["care plans"])
async def add_goal(patient_id: UUID, care_plan_id: UUID, body: GoalBody, w: PlanWrite):
    command = pr.AddGoal(care_plan_id=care_plan_id, **body.model_dump())
    return await w.apply(lambda p: pr.add_goal(p, command, w.actor, w.now),
                         body=created("goal_id"))


@router.post("/patients/{patient_id}/care-plans/{care_plan_id}/goals/{goal_id}/status",
             tags=["care plans"])
async def change_goal_status(patient_id: UUID, care_plan_id: UUID, goal_id: UUID,
                             body: GoalStatusBody, w: PlanWrite):
    """Achieved, not achieved or cancelled (a note is needed unless achieved)."""
    command = pr.ChangeGoalStatus(care_plan_id=care_plan_id, goal_id=goal_id,
                                  **body.model_dump())
    return await w.apply(lambda p: pr.change_goal_status(p, command, w.actor, w.now),
                         body={"goal_id": str(goal_id)}, status=200)


@router.post("/patients/{patient_id}/care-plans/{care_plan_id}/interventions",
             status_code=201, tags=["care plans"])
async def add_intervention(patient_id: UUID, care_plan_id: UUID, body: InterventionBody,
                           w: PlanWrite):
    command = pr.AddIntervention(care_plan_id=care_plan_id, **body.model_dump())
    return await w.apply(lambda p: pr.add_intervention(p, command, w.actor, w.now),
                         body=created("intervention_id"))


@router.post("/patients/{patient_id}/care-plans/{care_plan_id}/interventions/"
             "{intervention_id}/stop", tags=["care plans"])
async def stop_intervention(patient_id: UUID, care_plan_id: UUID, intervention_id: UUID,
                            body: StopBody, w: PlanWrite):
    command = pr.StopIntervention(care_plan_id=care_plan_id, intervention_id=intervention_id,
                                  **body.model_dump())
    return await w.apply(lambda p: pr.stop_intervention(p, command, w.actor, w.now),
                         body={"intervention_id": str(intervention_id)}, status=200)


@router.post("/patients/{patient_id}/care-plans/{care_plan_id}/complete", tags=["care plans"])
async def complete_care_plan(patient_id: UUID, care_plan_id: UUID, body: CompletePlanBody,
                             w: PlanWrite):
    command = pr.CompleteCarePlan(care_plan_id=care_plan_id, **body.model_dump())
    return await w.apply(lambda p: pr.complete_care_plan(p, command, w.actor, w.now),
                         body={"care_plan_id": str(care_plan_id)}, status=200)


@router.post("/patients/{patient_id}/care-plans/{care_plan_id}/revoke", tags=["care plans"])
async def revoke_care_plan(patient_id: UUID, care_plan_id: UUID, body: RevokeBody,
                           w: PlanWrite):
    """Revoke a plan made in error (a reason is required)."""
    command = pr.RevokeCarePlan(care_plan_id=care_plan_id, **body.model_dump())
    return await w.apply(lambda p: pr.revoke_care_plan(p, command, w.actor, w.now),
                         body={"care_plan_id": str(care_plan_id)}, status=200)


# --- tasks -----------------------------------------------------------------------------------

@router.post("/patients/{patient_id}/tasks", status_code=201, tags=["tasks"])
async def create_task(patient_id: UUID, body: pr.CreateTask, w: TaskWrite):
    """A task (home-care visit, follow-up, a message to answer) for a unit or a person in it,
    due at a time; it shows on the unit's worklist."""
    return await w.apply(lambda p: pr.create_task(p, body, w.actor, w.now),
                         body=created("task_id"))


@router.post("/patients/{patient_id}/tasks/{task_id}/reassign", tags=["tasks"])
async def reassign_task(patient_id: UUID, task_id: UUID, body: ReassignBody,
                        w: TaskWrite):
    command = pr.ReassignTask(task_id=task_id, **body.model_dump(exclude_unset=True))
    return await w.apply(lambda p: pr.reassign_task(p, command, w.actor, w.now),
                         body={"task_id": str(task_id)}, status=200)


@router.post("/patients/{patient_id}/tasks/{task_id}/complete", tags=["tasks"])
async def complete_task(patient_id: UUID, task_id: UUID, body: CompleteTaskBody,
                        w: TaskWrite):
    """Done, and documented: the text becomes a signed note linked to the task."""
    command = pr.CompleteTask(task_id=task_id, **body.model_dump())

    def body_out(result) -> dict:
        note = next(e for e in result.envelopes if e.type == "journal.NoteSigned")
        return {"task_id": str(task_id), "note_id": str(note.data["note_id"])}

    return await w.apply(lambda p: pr.complete_task(p, command, w.actor, w.now),
                         body=body_out, status=200)


@router.post("/patients/{patient_id}/tasks/{task_id}/cancel", tags=["tasks"])
async def cancel_task(patient_id: UUID, task_id: UUID, body: CancelBody, w: TaskWrite):
    command = pr.CancelTask(task_id=task_id, **body.model_dump())
    return await w.apply(lambda p: pr.cancel_task(p, command, w.actor, w.now),
                         body={"task_id": str(task_id)}, status=200)
