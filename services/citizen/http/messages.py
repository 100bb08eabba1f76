"""Messages with my care team (requirement 52), in the portal: only with consent level full
(helsenorge's samtykkenivå); otherwise the page says how to get it, and one button chooses it.
The level is written to the consent service and the message to the journal, each through its
API with the citizen's own token (the journal stores the message and the unit's worklist task
in one append; the form's ``message_id`` makes a repeated send one message). A message being
written when the session ends is kept over the sign-in (``services/citizen/drafts.py``)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode
from uuid import UUID, uuid4

import httpx
from fastapi import Form, Request
from fastapi.responses import RedirectResponse, Response

from libs.web.guard import get_access
from libs.web.routing import PathRouter
from services.citizen.drafts import DRAFT_COOKIE, sub_of
from services.citizen.http.auth import (
    SESSION_COOKIE, SignInRequired, check_csrf, cookie, sessions,
)
from services.citizen.http.pages import (
    Csrf, Visit, _outcome_text, _page, _write, lang_of, render, visit,
)
from services.citizen.http.texts import texts

router = PathRouter(include_in_schema=False)
Field200 = Annotated[str, Form(max_length=200)]


async def _messages(request: Request, v: Visit, status: int = 200, draft: dict | None = None,
                    **extra) -> Response:
    got = await _page(request, v, "messages", "messages")
    if isinstance(got, Response):
        return got
    ctx, grant = got
    reader, now = request.app.state.reader, get_access(request).now()
    units = sorted({r.unit for r in grant.facts.care_relations if r.active(now)})
    names = await reader.names(set(units))
    return render(request, "messages.html", "messages", status=status,
                  level=grant.facts.consent_level,
                  units=[{"unit": u, "name": names.get(u, u)} for u in units],
                  messages=await reader.messages(v.patient_id),
                  draft=draft or {"message_id": str(uuid4())}, **ctx, **extra)


@router.get("/messages")
async def messages_page(request: Request):
    v = await visit(request)
    t = texts(lang_of(request))
    kept = request.cookies.get(DRAFT_COOKIE)
    draft = (await request.app.state.drafts.take(kept, v.subject.person_id,
                                                 get_access(request).now()) if kept else None)
    response = await _messages(request, v, draft=draft,
                               message=t["draft_kept"] if draft else
                               t["sent"] if request.query_params.get("saved") else None)
    if kept:
        response.delete_cookie(DRAFT_COOKIE, path="/", secure=True, httponly=True,
                               samesite="lax")
    return response


@router.post("/messages/level")
async def choose_level(request: Request, csrf: Csrf,
                       level: Annotated[str, Form(pattern="^(basis|full)$")]):
    v = await visit(request)
    return await _write(request, v, csrf, "PUT", "/consent-level", "/messages",
                        {"level": level})


async def _kept_over_sign_in(request: Request, csrf: str, draft: dict) -> Response:
    """The session has ended: keep the draft if the form came from that session, then sign in
    and come back to the messages page."""
    sid = request.cookies.get(SESSION_COOKIE)
    ended = await sessions(request).ended(sid)
    response = RedirectResponse(f"/login?{urlencode({'next': '/messages'})}", status_code=303)
    sub = sub_of(ended.token) if ended is not None and check_csrf(ended, csrf) else None
    if sub is not None:
        draft_id = await request.app.state.drafts.keep(sub, draft, get_access(request).now())
        cookie(response, DRAFT_COOKIE, draft_id, 86400)
    return response


@router.post("/messages")
async def send_message(request: Request, csrf: Csrf, message_id: Annotated[str, Form(
        max_length=40)], unit: Annotated[str, Form(max_length=20)] = "",
        subject: Field200 = "", text: Annotated[str, Form(max_length=4000)] = ""):
    draft = {"message_id": message_id, "unit": unit, "subject": subject, "text": text}
    try:
        v = await visit(request)
    except SignInRequired:
        return await _kept_over_sign_in(request, csrf, draft)
    t = texts(lang_of(request))
    if not check_csrf(v.session, csrf):
        return await _messages(request, v, 403, draft, error=t["form_expired"])
    try:
        UUID(message_id)
    except ValueError:
        draft["message_id"] = str(uuid4())
        return await _messages(request, v, 422, draft, error=t["error"])
    acting = {"X-Acting-For": str(v.subject.acting_for)} if v.subject.acting_for else {}
    journal: httpx.AsyncClient = request.app.state.journal
    try:
        r = await journal.post(f"/patients/{v.patient_id}/care-team/messages", json=draft,
                               headers={"Authorization": f"Bearer {v.session.token}"} | acting)
    except httpx.HTTPError:
        return await _messages(request, v, 503, draft, error=t["unavailable"])
    if r.status_code >= 400:
        return await _messages(request, v, 422 if r.status_code < 500 else 503, draft,
                               error=_outcome_text(r) or t["error"])
    token = r.headers.get("X-Consistency-Token", "")
    return RedirectResponse(f"/messages?saved=1&consistency_token={token}", status_code=303)
