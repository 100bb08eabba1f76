"""Episodes of care, IPLOS assessments and service decisions (vedtak) over REST."""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel, Field

from libs.web.write import created
from libs.kernel.time import Day, Instant
from libs.web.routing import PathRouter
from services.journal.contract import Scope
from services.journal.domain import episodes as ep
from services.journal.http.deps import journal_write

router = PathRouter()
EpisodesWrite = journal_write("episodes")
AssessmentsWrite = journal_write("assessments", documenting=True)
ServicesWrite = journal_write("services")


@router.post("/patients/{patient_id}/episodes", status_code=201, tags=["episodes"])
async def start_episode(patient_id: UUID, body: ep.StartEpisode, w: EpisodesWrite):
    """Start an episode of care; its unit gets a care relation for the episode's length."""
    return await w.apply(lambda p: ep.start_episode(p, body, w.now), body=created("episode_id"))


class EndBody(BaseModel):
    ended_at: Instant | None = None
    reason: str | None = Field(default=None, max_length=2000)


@router.post("/patients/{patient_id}/episodes/{episode_id}/end", tags=["episodes"])
async def end_episode(patient_id: UUID, episode_id: UUID, body: EndBody, w: EpisodesWrite):
    command = ep.EndEpisode(episode_id=episode_id, **body.model_dump())
    return await w.apply(lambda p: ep.end_episode(p, command, w.now),
                         body={"episode_id": str(episode_id)}, status=200)


@router.post("/patients/{patient_id}/assessments", status_code=201, tags=["service decisions"])
async def assess(patient_id: UUID, body: ep.AssessIplos, w: AssessmentsWrite):
    """An IPLOS functional assessment: every variable scored 1–5, or 9 (not relevant)."""
    return await w.apply(lambda p: ep.assess_iplos(p, body, w.actor.hpr, w.now),
                         body=created("assessment_id"))


@router.post("/patients/{patient_id}/services", status_code=201, tags=["service decisions"])
async def apply_for_service(patient_id: UUID, body: ep.ApplyForService, w: ServicesWrite):
    """An application for a municipal health and care service (IPLOS service code)."""
    return await w.apply(lambda p: ep.apply_for_service(p, body, w.now),
                         body=created("decision_id"))


class GrantBody(BaseModel):
    from_date: Day
    to_date: Day | None = None
    scope: Scope
    provider: str = Field(max_length=20, description="organisation number of the provider")
    service_code: str | None = Field(default=None, max_length=10)
    assessment_id: UUID | None = None


@router.post("/patients/{patient_id}/services/{decision_id}/grant", tags=["service decisions"])
async def grant_service(patient_id: UUID, decision_id: UUID, body: GrantBody, w: ServicesWrite):
    """Grant (vedtak). Needs a complete IPLOS assessment; the provider unit gets a care
    relation (through the consent service, a moment later: ``care_relation`` in the answer)."""
    command = ep.GrantService(decision_id=decision_id, **body.model_dump())
    return await w.apply(lambda p: ep.grant_service(p, command, w.now).events,
                         body={"decision_id": str(decision_id),
                               "care_relation": {"unit": body.provider, "status": "requested"}},
                         status=200)


class RefuseBody(BaseModel):
    reason: str = Field(min_length=3, max_length=2000)


@router.post("/patients/{patient_id}/services/{decision_id}/refuse", tags=["service decisions"])
async def refuse_service(patient_id: UUID, decision_id: UUID, body: RefuseBody,
                         w: ServicesWrite):
    command = ep.RefuseService(decision_id=decision_id, reason=body.reason)
    return await w.apply(lambda p: ep.refuse_service(p, command, w.now),
                         body={"decision_id": str(decision_id)}, status=200)


class EndServiceBody(BaseModel):
    ended_on: Day | None = None
    reason: str | None = Field(default=None, max_length=2000)


@router.post("/patients/{patient_id}/services/{decision_id}/end", tags=["service decisions"])
async def end_service(patient_id: UUID, decision_id: UUID, body: EndServiceBody,
                      w: ServicesWrite):
    command = ep.EndService(decision_id=decision_id, **body.model_dump())
    return await w.apply(lambda p: ep.end_service(p, command, w.now),
                         body={"decision_id": str(decision_id)}, status=200)
