"""The clinical record over REST: notes (draft, sign, correct), observations, conditions and
critical information (CAVE). Every write documents: the actor is the clinician of the token."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from fastapi import Query
from pydantic import BaseModel, Field

from libs.events.registry import EventPayload
from libs.web.write import created
from libs.kernel.time import Day
from libs.web.routing import PathRouter
from services.journal.domain import clinical as cl
from services.journal.domain import patients as pt
from services.journal.domain.patients import Patient
from services.journal.http.deps import journal_write

router = PathRouter()
NotesWrite = journal_write("notes", documenting=True)
ObservationsWrite = journal_write("observations", documenting=True)
ConditionsWrite = journal_write("conditions", documenting=True)
CriticalWrite = journal_write("critical_info", documenting=True)


class Reasoned(BaseModel):
    reason: str | None = Field(default=None, max_length=2000)


# --- notes -----------------------------------------------------------------------------------

@router.post("/patients/{patient_id}/notes", status_code=201, tags=["notes"])
async def draft_note(patient_id: UUID, body: cl.DraftNote, w: NotesWrite,
                     sign: Annotated[bool, Query(description="sign at once")] = False):
    """Draft a note (or re-draft your draft, with its ``note_id``); ``sign=true`` drafts and
    signs in one step."""
    by, now = w.actor, w.now

    def decide(p: Patient) -> list[EventPayload]:
        events = cl.draft_note(p, body, by, now)
        if sign:
            note_id = events[0].note_id
            events += cl.sign_note(pt.evolve(p, events[0]), cl.SignNote(note_id=note_id),
                                   by, now)
        return events

    return await w.apply(decide, body=created("note_id"))


@router.post("/patients/{patient_id}/notes/{note_id}/sign", tags=["notes"])
async def sign_note(patient_id: UUID, note_id: UUID, w: NotesWrite):
    return await w.apply(lambda p: cl.sign_note(p, cl.SignNote(note_id=note_id), w.actor, w.now),
                         body={"note_id": str(note_id)}, status=200)


class CorrectionBody(BaseModel):
    text: str = Field(max_length=20000)
    reason: str | None = Field(default=None, max_length=2000)


@router.post("/patients/{patient_id}/notes/{note_id}/corrections", status_code=201,
             tags=["notes"])
async def correct_note(patient_id: UUID, note_id: UUID, body: CorrectionBody, w: NotesWrite):
    """Correct a signed note: the original stays, with the reason for the change."""
    command = cl.CorrectNote(note_id=note_id, **body.model_dump())
    return await w.apply(lambda p: cl.correct_note(p, command, w.actor, w.now),
                         body={"note_id": str(note_id)})


# --- observations ----------------------------------------------------------------------------

@router.post("/patients/{patient_id}/observations", status_code=201, tags=["observations"])
async def record_observation(patient_id: UUID, body: cl.RecordObservation,
                             w: ObservationsWrite):
    """A vital sign (LOINC code, UCUM unit)."""
    return await w.apply(lambda p: cl.record_observation(p, body, w.actor, w.now),
                         body=created("observation_id"))


class ValueCorrection(BaseModel):
    value: float
    reason: str | None = Field(default=None, max_length=2000)


@router.post("/patients/{patient_id}/observations/{observation_id}/corrections",
             status_code=201, tags=["observations"])
async def correct_observation(patient_id: UUID, observation_id: UUID, body: ValueCorrection,
                              w: ObservationsWrite):
    command = cl.CorrectObservation(observation_id=observation_id, **body.model_dump())

    async def decide(p: Patient) -> list[EventPayload]:
        o = await w.store.observation(patient_id, observation_id)
        return cl.correct_observation(p, o, command, w.actor, w.now)
    return await w.apply(decide, body={"observation_id": str(observation_id)})


@router.post("/patients/{patient_id}/observations/{observation_id}/entered-in-error",
             tags=["observations"])
async def observation_in_error(patient_id: UUID, observation_id: UUID, body: Reasoned,
                               w: ObservationsWrite):
    command = cl.ObservationInError(observation_id=observation_id, reason=body.reason)

    async def decide(p: Patient) -> list[EventPayload]:
        o = await w.store.observation(patient_id, observation_id)
        return cl.mark_observation_in_error(p, o, command, w.actor, w.now)
    return await w.apply(decide, body={"observation_id": str(observation_id)}, status=200)


# --- conditions and critical information -----------------------------------------------------

@router.post("/patients/{patient_id}/conditions", status_code=201, tags=["conditions"])
async def record_condition(patient_id: UUID, body: cl.RecordCondition, w: ConditionsWrite):
    """A problem or diagnosis, coded in ICPC-2 or ICD-10 (the national code lists)."""
    return await w.apply(lambda p: cl.record_condition(p, body, w.actor, w.now),
                         body=created("condition_id"))


class ResolveBody(BaseModel):
    resolved_on: Day | None = None
    reason: str | None = Field(default=None, max_length=2000)


@router.post("/patients/{patient_id}/conditions/{condition_id}/resolve", tags=["conditions"])
async def resolve_condition(patient_id: UUID, condition_id: UUID, body: ResolveBody,
                            w: ConditionsWrite):
    command = cl.ResolveCondition(condition_id=condition_id, **body.model_dump())
    return await w.apply(lambda p: cl.resolve_condition(p, command, w.actor, w.now),
                         body={"condition_id": str(condition_id)}, status=200)


@router.post("/patients/{patient_id}/critical-info", status_code=201, tags=["critical info"])
async def register_critical(patient_id: UUID, body: cl.RegisterCriticalInfo, w: CriticalWrite):
    """Critical information (CAVE) in the Kjernejournal categories."""
    return await w.apply(lambda p: cl.register_critical_info(p, body, w.actor, w.now),
                         body=created("critical_id"))


class CriticalChange(BaseModel):
    to: Literal["verified", "refuted", "removed"]
    reason: str | None = Field(default=None, max_length=2000)


@router.post("/patients/{patient_id}/critical-info/{critical_id}/status", tags=["critical info"])
async def change_critical(patient_id: UUID, critical_id: UUID, body: CriticalChange,
                          w: CriticalWrite):
    """Verify (physicians), refute or remove (with a reason)."""
    command = cl.ChangeCriticalInfo(critical_id=critical_id, **body.model_dump())
    return await w.apply(lambda p: cl.change_critical_info(p, command, w.actor, w.now),
                         body={"critical_id": str(critical_id)}, status=200)
