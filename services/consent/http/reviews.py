"""Log control: the unit leader reviews flagged accesses (AC13)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal
from uuid import UUID

from fastapi import Query, Request
from sqlalchemy import text

from libs.access.model import Action, Basis, Resource
from libs.access.policy import may_review
from libs.events.envelope import new_event_id
from libs.kernel.errors import Forbidden
from libs.web.guard import AccessDep, CurrentSubject, declared
from services.consent.domain import commands as c
from services.consent.domain import decisions as d
from libs.web.guard import practitioner
from libs.web.routing import PathRouter
from services.consent.http.deps import ReviewWrite

router = PathRouter()


@router.get("/reviews", tags=["review"])
async def reviews(request: Request, who: CurrentSubject, access: AccessDep,
                  status: Literal["open", "reviewed", "all"] = "open",
                  limit: Annotated[int, Query(ge=1, le=1000)] = 100):
    """Emergency accesses, self-declared care relations, restricted entries opened on
    necessity, attempts without need-to-know (a refused care relation among them) and accesses
    to patients with the user's own surname, in the leader's unit, for log control (AC13)."""
    pro = practitioner(who)
    if not may_review(pro, pro.unit):
        raise Forbidden("Only the unit leader reviews the access log of the unit.")
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


@router.post("/reviews/{item_id}", status_code=201, tags=["review"])
async def review(item_id: UUID, body: c.ReviewBody, request: Request, w: ReviewWrite):
    """Close a review item of your unit: the access was justified, or it is escalated."""
    async with request.app.state.engine.connect() as conn:
        row = (await conn.execute(text(
            "SELECT patient_id, unit, reviewed_at FROM review_items WHERE item_id = :i"),
            {"i": item_id})).first()
    mine = row is not None and may_review(w.actor, row.unit)
    item = c.ReviewItem(unit=row.unit, reviewed_at=row.reviewed_at) if mine else None
    events = d.review_access(new_event_id(), item_id, item, body, w.actor, w.now)
    return await w.apply(lambda f: events, patient_id=row.patient_id,
                         access_purpose="log_control",
                         body={"review_id": str(events[0].review_id)})
