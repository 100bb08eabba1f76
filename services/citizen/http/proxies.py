"""Acting for someone else in the portal (requirement 51): a parent for a child under 12 who
shares their address, the limited view from 12 to 16, nothing from 16, and mandates (fullmakt).
The policy decides (``libs/access/policy.py``); the banner always says whose record is open."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Form, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import text

from libs.access.model import Action, Resource
from libs.access.policy import decide
from libs.web.guard import AccessDenied, get_access
from libs.web.routing import PathRouter
from services.citizen.http.auth import SESSION_COOKIE, check_csrf, sessions
from services.citizen.http.deps import citizen_grant
from services.citizen.http.pages import Visit, lang_of, render, visit
from services.citizen.http.texts import texts

router = PathRouter(include_in_schema=False)


async def _candidates(request: Request, v: Visit) -> list[dict]:
    """The people the citizen may act for now, each decided (and the permitted ones logged)."""
    me = v.subject.patient_id
    access, reader = get_access(request), request.app.state.reader
    async with access.reader.engine.connect() as conn:
        rows = await conn.execute(text("""
            SELECT patient_id FROM access_facts
             WHERE doc->'guardians' @> CAST(:g AS jsonb) OR doc->'mandates' @> CAST(:m AS jsonb)
        """), {"g": f'[{{"guardian": "{me}"}}]', "m": f'[{{"representative": "{me}"}}]'})
        ids = [r[0] for r in rows]
    out, now = [], access.now()
    for pid in ids:
        proxy = v.subject.model_copy(update={"acting_for": pid})
        decision = decide(proxy, Action.read, Resource(patient_id=pid), await
                          access.reader.facts(pid), now)
        if decision.permit:
            await access.record(proxy, Action.read, Resource(patient_id=pid, category="proxy"),
                                decision, resources=("proxy",))
            out.append({"patient_id": str(pid), "name": await reader.name(pid),
                        "limited": decision.categories is not None})
    return out


async def _who(request: Request, v: Visit, status: int = 200, error: str | None = None):
    me = v.subject.patient_id
    reader = request.app.state.reader
    return render(request, "who.html", "whose_record", status=status, error=error,
                  csrf=v.session.csrf,
                  me={"patient_id": str(me), "name": await reader.name(me)} if me else None,
                  people=await _candidates(request, v) if me else [],
                  whose=await reader.name(v.patient_id) if v.patient_id else None)


@router.get("/who")
async def who_page(request: Request):
    return await _who(request, await visit(request))


@router.post("/who")
async def choose_who(request: Request, csrf: Annotated[str, Form(max_length=100)],
                     patient_id: Annotated[str, Form(max_length=40)]):
    v = await visit(request)
    t = texts(lang_of(request))
    if not check_csrf(v.session, csrf) or v.subject.patient_id is None:
        return await _who(request, v, 403, t["form_expired"])
    sid = request.cookies.get(SESSION_COOKIE, "")
    own = v.subject.model_copy(update={"acting_for": None})
    try:
        chosen = UUID(patient_id)
    except ValueError:
        return await _who(request, own_visit(v, own), 422, t["error"])
    if chosen == v.subject.patient_id:
        await sessions(request).act_for(sid, None)
        return RedirectResponse("/record", status_code=303)
    proxy = v.subject.model_copy(update={"acting_for": chosen})
    try:   # decided and logged like any read; a refusal reads the same for any id
        await citizen_grant(get_access(request), proxy, chosen, Action.read, "record")
    except AccessDenied as denied:
        return await _who(request, own_visit(v, own), 403, denied.decision.message)
    await sessions(request).act_for(sid, chosen)
    return RedirectResponse("/record", status_code=303)


def own_visit(v: Visit, own) -> Visit:
    return Visit(v.session, own)
