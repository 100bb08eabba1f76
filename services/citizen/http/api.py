"""The citizen API, for the portal and for third-party citizen apps: an ID-porten-shaped token
at LoA high (``EHR_CITIZEN_ACR``), the citizen's own record or one they may act for
(``X-Acting-For``). Every read is logged as the citizen; asking for anyone else is the same
403 as asking for an id that does not exist."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from libs.access.model import Action, Citizen
from libs.access.policy import not_found_safe
from libs.web.guard import AccessDep, CurrentSubject, Grant
from libs.kernel.errors import Forbidden
from libs.web.routing import PathRouter
from services.citizen import notifications
from services.citizen.domain import record
from services.citizen.http.deps import Lang, ReaderDep, citizen_guard, now
from services.citizen.http.views import choices

router = PathRouter(tags=["citizens"])


@router.get("/me")
async def me(who: CurrentSubject, reader: ReaderDep):
    """The signed-in citizen's patient id and name."""
    if not isinstance(who, Citizen) or who.patient_id is None:
        raise Forbidden(not_found_safe().message)
    return {"patient_id": str(who.patient_id), "name": await reader.name(who.patient_id)}


@router.get("/patients/{patient_id}/record")
async def my_record(patient_id: UUID, request: Request, reader: ReaderDep,
                    grant: Annotated[Grant, Depends(citizen_guard(Action.read, "record"))],
                    lang: Lang = "nb"):
    """What is shared with me: signed notes (after the hold-back), vital signs (a chart's
    series), conditions and critical information (CAVE)."""
    name, view = await reader.record_page(patient_id, now(request), lang)
    return {"patient_id": str(patient_id), "name": name} | (
        record.limited(view, grant.decision.hidden, grant.decision.categories))


@router.get("/patients/{patient_id}/visits")
async def my_visits(
        patient_id: UUID, request: Request, reader: ReaderDep,
        grant: Annotated[Grant, Depends(citizen_guard(Action.read, "tasks"))]):
    """Home-care visits planned for this week (Oslo), with the unit and, when named, who."""
    return await reader.visits(patient_id, now(request))


@router.get("/patients/{patient_id}/medicines")
async def my_medicines(
        patient_id: UUID, reader: ReaderDep,
        grant: Annotated[Grant, Depends(citizen_guard(Action.read, "medication"))],
        lang: Lang = "nb"):
    """The current list with doses, what was stopped, and every change and who made it."""
    return await reader.medicines(patient_id, lang)


@router.get("/patients/{patient_id}/access-log")
async def who_looked(
        patient_id: UUID, reader: ReaderDep,
        grant: Annotated[Grant, Depends(citizen_guard(Action.read, "access_log"))],
        lang: Lang = "nb", limit: Annotated[int, Query(ge=1, le=500)] = 200):
    """Who looked at my record: time, name, organisation, unit, basis, and whether anything
    was changed (requirement 49)."""
    return await reader.looked(patient_id, lang, limit)


@router.get("/patients/{patient_id}/choices")
async def my_choices(
        patient_id: UUID, access: AccessDep,
        grant: Annotated[Grant, Depends(citizen_guard(Action.manage, "consents"))]):
    """Locked entries, blocked clinicians and units, consents and notification choices."""
    return choices(grant.facts, access.now())


class Contact(BaseModel):
    """Where notifications go, or that none should (this service's own record of it)."""

    model_config = ConfigDict(extra="forbid")
    email: str | None = Field(default=None, max_length=254,
                              pattern=r"^[^@\s<>(),;:\"\[\]]+@[^@\s<>(),;:\"\[\]]+\.[A-Za-z]{2,}$")
    opted_out: bool = False


@router.get("/patients/{patient_id}/contact")
async def my_contact(
        patient_id: UUID, request: Request,
        grant: Annotated[Grant, Depends(citizen_guard(Action.manage, "consents"))]):
    return await notifications.contact_of(request.app.state.engine, patient_id)


@router.put("/patients/{patient_id}/contact")
async def choose_contact(
        patient_id: UUID, body: Contact, request: Request,
        grant: Annotated[Grant, Depends(citizen_guard(Action.manage, "consents"))]):
    """The e-mail address for notifications, or ``opted_out``: none is sent."""
    if grant.subject.acting_for not in (None, patient_id) or \
            grant.subject.patient_id != patient_id:
        raise Forbidden("Only the person themself chooses where their notifications go.")
    await notifications.set_contact(request.app.state.engine, patient_id, body.email,
                                    body.opted_out, now(request))
    return body.model_dump()
