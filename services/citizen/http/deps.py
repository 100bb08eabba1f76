"""What the citizen's routes share: only citizens (or their proxies) are served here, every
read is decided by the one policy and logged as the citizen (``libs/web/guard.py``), and a
denial reads the same whether the patient exists or not."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from fastapi import Depends, Query, Request

from libs.access.model import Action, Citizen, Resource
from libs.access.policy import not_found_safe
from libs.web.guard import Access, AccessDenied, CurrentSubject, Grant, Subject, get_access
from services.citizen.projections.reader import Reader

Lang = Annotated[Literal["nb", "en"], Query(description="nb (bokmål) or en")]


def reader(request: Request) -> Reader:
    return request.app.state.reader


async def citizen_grant(access: Access, subject: Subject, patient_id: UUID, action: Action,
                        category: str) -> Grant:
    """Decide and log; anyone but a citizen gets the generic denial (logged too)."""
    resource = Resource(patient_id=patient_id, category=category)
    if not isinstance(subject, Citizen):
        decision = not_found_safe()
        await access.record(subject, action, resource, decision, resources=(category,))
        raise AccessDenied(decision)
    return await access.require(subject, action, resource, resources=(category,))


def citizen_guard(action: Action, category: str):
    async def guard(patient_id: UUID, request: Request, subject: CurrentSubject) -> Grant:
        return await citizen_grant(get_access(request), subject, patient_id, action, category)

    guard.__name__ = f"citizen_{action}_{category}"
    guard.ehr_access_guard = True
    return guard


def now(request: Request) -> datetime:
    return get_access(request).now()


ReaderDep = Annotated[Reader, Depends(reader)]
