"""Log control: the unit leader reviews flagged accesses (AC13)."""

from __future__ import annotations

import asyncio

from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import text

from libs.access import events as ev
from libs.access.guard import AccessDep, CurrentSubject, actor_of, declared
from libs.access.model import Action, Basis, Resource
from libs.access.policy import may_review
from libs.events.envelope import new_event_id
from libs.web.consistency import written
from services.consent import domain as d
from services.consent.routes.common import Patients, practitioner

router = APIRouter()


@router.get("/reviews", tags=["review"])
async def reviews(request: Request, who: CurrentSubject, access: AccessDep,
                  status: Literal["open", "reviewed", "all"] = "open",
                  limit: Annotated[int, Query(ge=1, le=1000)] = 100):
    """Emergency accesses, restricted entries opened on necessity and attempts without
    need-to-know in the leader's unit, for log control (AC13)."""
    pro = practitioner(who)
    if not may_review(pro, pro.unit):
        raise d.Refused(403, "Only the unit leader reviews the access log of the unit.")
    async with request.app.state.engine.connect() as conn:
        rows = await conn.execute(text("""
            SELECT item_id, patient_id, unit, kind, created_at, summary, reviewed_at, outcome,
                   reviewer, note FROM review_items
             WHERE unit = ANY(:units) AND (:st = 'all' OR (:st = 'open') = (reviewed_at IS NULL))
             ORDER BY created_at DESC LIMIT :n"""),
            {"units": [pro.unit, pro.org_parent], "st": status, "n": limit})
        items = [dict(r._mapping) for r in rows]
    # the list names patients: one log-control entry per patient shown, written together
    control = declared("log_control", Basis.log_control)
    await asyncio.gather(*(access.record(pro, Action.read, Resource(
        patient_id=p, category="access_log"), control, purpose="log_control",
        resources=("review_items",)) for p in {i["patient_id"] for i in items}))
    return items


class ReviewBody(BaseModel):
    outcome: Literal["justified", "escalated"]
    note: str | None = Field(default=None, max_length=2000)


@router.post("/reviews/{item_id}", status_code=201, tags=["review"])
async def review(item_id: UUID, body: ReviewBody, request: Request, who: CurrentSubject,
                 response: Response, access: AccessDep, store: Patients):
    pro = practitioner(who)
    async with request.app.state.engine.connect() as conn:
        row = (await conn.execute(text(
            "SELECT patient_id, unit, reviewed_at FROM review_items WHERE item_id = :i"),
            {"i": item_id})).first()
    if row is None or not may_review(pro, row.unit):
        raise d.Refused(404, "No such review item in your unit.")
    if row.reviewed_at is not None:
        raise d.Refused(409, "This item is already reviewed.")
    event = ev.AccessReviewed(review_id=new_event_id(), access_event_id=item_id,
                              reviewer_hpr=pro.hpr, unit=row.unit, outcome=body.outcome,
                              note=body.note, reviewed_at=access.now())
    await access.record(pro, Action.read, Resource(patient_id=row.patient_id,
                                                   category="access_log"),
                        declared("log_control", Basis.log_control), purpose="log_control")
    result = await store.execute(row.patient_id, lambda f: [event], actor_of(pro))
    return written(response, result, {"review_id": str(event.review_id)})
