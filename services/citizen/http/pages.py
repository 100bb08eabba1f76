"""The portal's pages, server-rendered (Jinja2, plain forms, no script): my record, my
medicines, who looked at my record, my choices. A page reads only this service's read models,
after the one policy decided and logged the read as the citizen. A choice is written to the
consent service through its API with the citizen's own token; the next page waits (bounded)
until the write is in the local access facts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode
from uuid import UUID

import httpx
from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from libs.access.model import Action, Citizen
from libs.access.policy import not_found_safe
from libs.access.tokens import TokenError
from libs.events.consistency import ConsistencyToken, InvalidToken, NotCaughtUp
from libs.kernel.identifiers import InvalidIdentifier, parse_hpr
from libs.kernel.time import OSLO
from libs.web.guard import AccessDenied, get_access
from libs.web.routing import PathRouter
from services.citizen import notifications
from services.citizen.http.api import Contact
from services.citizen.http.auth import (
    LANG_COOKIE, SignInFailed, SignInRequired, check_csrf, current_session,
)
from services.citizen.domain import record
from services.citizen.http.deps import citizen_grant
from services.citizen.http.texts import texts
from services.citizen.http.views import choices as choices_view
from services.citizen.store import Session

HERE = Path(__file__).parent
# compiled once: a template is not looked for on disk again on each page (auto_reload)
ENV = Environment(loader=FileSystemLoader(HERE / "templates"),
                  autoescape=select_autoescape(["html"]), auto_reload=False)


def _local(iso: str, with_time: bool = True) -> str:
    """An instant as Oslo time, the way a Norwegian reads it: ``03.12.2026 14:05``."""
    try:
        at = datetime.fromisoformat(iso).astimezone(OSLO)
    except (TypeError, ValueError):
        return str(iso)
    return at.strftime("%d.%m.%Y %H:%M" if with_time else "%d.%m.%Y")


ENV.filters["local"] = _local
HEADERS = {"Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; "
                                      "form-action 'self'; frame-ancestors 'none'; "
                                      "base-uri 'none'",
           "Cache-Control": "no-store", "Referrer-Policy": "no-referrer",
           "X-Content-Type-Options": "nosniff"}
router = PathRouter(include_in_schema=False)


def lang_of(request: Request) -> str:
    asked = request.query_params.get("lang")
    if asked in ("nb", "en"):
        return asked
    return "en" if request.cookies.get(LANG_COOKIE) == "en" else "nb"


def render(request: Request, template: str, title_key: str, status: int = 200,
           **context: Any) -> HTMLResponse:
    lang = lang_of(request)
    t = texts(lang)
    html = ENV.get_template(template).render(lang=lang, t=t, title=t[title_key], page=title_key,
                                             **context)
    response = HTMLResponse(html, status_code=status, headers=HEADERS)
    if request.query_params.get("lang") in ("nb", "en"):
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, path="/", secure=True,
                            samesite="lax")
    return response


@dataclass(frozen=True)
class Visit:
    session: Session
    subject: Citizen

    @property
    def patient_id(self) -> UUID | None:
        """Whose record is open: the citizen's own, or the person they act for."""
        return self.subject.acting_for or self.subject.patient_id


async def visit(request: Request) -> Visit:
    session = await current_session(request)
    if session is None:
        raise SignInRequired(request.url.path)
    try:
        subject = await get_access(request).subject(
            f"Bearer {session.token}",
            str(session.acting_for) if session.acting_for else None)
    except TokenError:
        raise SignInRequired(request.url.path) from None
    if not isinstance(subject, Citizen):
        raise SignInRequired(request.url.path)
    return Visit(session, subject)


async def _caught_up(request: Request) -> None:
    """After a choice: wait (bounded) until the access facts have the write."""
    raw = request.query_params.get("consistency_token")
    if raw:
        try:
            await get_access(request).caught_up(ConsistencyToken.decode(raw))
        except (InvalidToken, NotCaughtUp):
            pass


async def _page(request: Request, v: Visit, key: str, category: str,
                action: Action = Action.read, named: bool = True
                ) -> tuple[dict, Any] | HTMLResponse:
    """Decide and log the page's read as the citizen: (context, grant), or the page that says
    why not (no record here, or the policy's refusal). ``named=False``: the page's own query
    reads whose record it is (``ctx["whose"]``)."""
    if v.patient_id is None:
        return render(request, "message.html", key, message=texts(lang_of(request))["no_record"],
                      csrf=v.session.csrf)
    await _caught_up(request)
    reader = request.app.state.reader
    ctx = {"csrf": v.session.csrf}
    try:
        grant = await citizen_grant(get_access(request), v.subject, v.patient_id, action,
                                    category)
    except AccessDenied as denied:   # e.g. a parent's limited view (12–16)
        return render(request, "message.html", key, status=403,
                      error=denied.decision.message, whose=await reader.name(v.patient_id),
                      **ctx)
    if named:
        ctx["whose"] = await reader.name(v.patient_id)
    return ctx, grant


@router.get("/")
async def home(request: Request):
    if await current_session(request) is not None:
        return RedirectResponse("/record", status_code=303)
    signed_out = request.query_params.get("signed_out")
    return render(request, "landing.html", "site",
                  message=texts(lang_of(request))["signed_out"] if signed_out else None)


@router.get("/record")
async def record_page(request: Request):
    v = await visit(request)
    got = await _page(request, v, "record", "record", named=False)
    if isinstance(got, Response):
        return got
    ctx, grant = got
    access, reader = get_access(request), request.app.state.reader
    ctx["whose"], rec = await reader.record_page(v.patient_id, access.now(), lang_of(request))
    rec = record.limited(rec, grant.decision.hidden, grant.decision.categories)
    locked = {c["target"] for c in choices_view(grant.facts, access.now())["locked"]}
    saved = texts(lang_of(request))["saved"] if request.query_params.get("saved") else None
    return render(request, "record.html", "record", record=rec, locked=locked,
                  hold_back_h=request.app.state.hold_back_h, message=saved, **ctx)


@router.get("/visits")
async def visits_page(request: Request):
    v = await visit(request)
    got = await _page(request, v, "visits", "tasks")
    if isinstance(got, Response):
        return got
    planned = await request.app.state.reader.visits(v.patient_id, get_access(request).now())
    return render(request, "visits.html", "visits", visits=planned, **got[0])


@router.get("/medicines")
async def medicines_page(request: Request):
    v = await visit(request)
    got = await _page(request, v, "medicines", "medication", named=False)
    if isinstance(got, Response):
        return got
    ctx = got[0]
    ctx["whose"], meds = await request.app.state.reader.medicines_page(v.patient_id,
                                                                      lang_of(request))
    return render(request, "medicines.html", "medicines", meds=meds, **ctx)


@router.get("/looked")
async def looked_page(request: Request):
    v = await visit(request)
    got = await _page(request, v, "looked", "access_log")
    if isinstance(got, Response):
        return got
    entries = await request.app.state.reader.looked(v.patient_id, lang_of(request))
    return render(request, "looked.html", "looked", entries=entries, **got[0])


async def _choices(request: Request, v: Visit, status: int = 200, **extra) -> Response:
    got = await _page(request, v, "choices", "consents", Action.manage)
    if isinstance(got, Response):
        return got
    ctx, grant = got
    access, reader = get_access(request), request.app.state.reader
    chosen = choices_view(grant.facts, access.now())
    names = await reader.names({b["target"] for b in chosen["blocks"]}
                               | {c["recipient_org"] for c in chosen["consents"]})
    notes = {n["note_id"]: f'{_local(n["signed_at"], False)}: {n["text"][:60]}'
             for n in (await reader.record(v.patient_id, access.now()))["notes"]}
    contact = await notifications.contact_of(request.app.state.engine, v.patient_id)
    return render(request, "choices.html", "choices", status=status, choices=chosen,
                  names=names, note_titles=notes, contact=contact, **ctx, **extra)


@router.get("/choices")
async def choices_page(request: Request):
    v = await visit(request)
    saved = request.query_params.get("saved")
    return await _choices(request, v, message=texts(lang_of(request))["saved"] if saved
                          else None)


async def _write(request: Request, v: Visit, csrf: str, method: str, path: str,
                 back: str, body: dict | None = None) -> Response:
    """A choice, written where it belongs: the consent service, with the citizen's token."""
    t = texts(lang_of(request))
    if not check_csrf(v.session, csrf):
        return await _choices(request, v, status=403, error=t["form_expired"])
    if v.patient_id is None:
        raise AccessDenied(not_found_safe())
    consent: httpx.AsyncClient = request.app.state.consent
    try:
        acting = {"X-Acting-For": str(v.subject.acting_for)} if v.subject.acting_for else {}
        r = await consent.request(method, f"/patients/{v.patient_id}{path}", json=body,
                                  headers={"Authorization": f"Bearer {v.session.token}"}
                                  | acting)
    except httpx.HTTPError:
        return await _choices(request, v, status=503, error=t["unavailable"])
    if r.status_code >= 400:
        return await _choices(request, v, status=422 if r.status_code < 500 else 503,
                              error=_outcome_text(r) or t["error"])
    token = r.headers.get("X-Consistency-Token", "")
    return RedirectResponse(f"{back}?saved=1&consistency_token={token}", status_code=303)


def _outcome_text(r: httpx.Response) -> str | None:
    try:
        issue = r.json()["issue"][0]
        return str(issue.get("diagnostics") or issue["details"]["text"])[:300]
    except (ValueError, KeyError, IndexError, TypeError):
        return None


Csrf = Annotated[str, Form(max_length=100)]


@router.post("/choices/locks")
async def lock(request: Request, csrf: Csrf, target: Annotated[str, Form(max_length=200)],
               notify_on_open: Annotated[str | None, Form(max_length=5)] = None):
    v = await visit(request)
    return await _write(request, v, csrf, "POST", "/restrictions", "/record", {
        "kind": "locked", "target": target, "notify_on_open": bool(notify_on_open)})


@router.post("/choices/locks/{restriction_id}/lift")
async def lift_lock(request: Request, restriction_id: UUID, csrf: Csrf):
    v = await visit(request)
    return await _write(request, v, csrf, "DELETE", f"/restrictions/{restriction_id}",
                        "/choices")


@router.post("/choices/blocks")
async def block(request: Request, csrf: Csrf, hpr: Annotated[str, Form(max_length=20)] = ""):
    v = await visit(request)
    try:
        number = parse_hpr(hpr.strip())
    except InvalidIdentifier:
        return await _choices(request, v, status=422, error=texts(lang_of(request))["bad_hpr"])
    return await _write(request, v, csrf, "POST", "/blocks", "/choices",
                        {"target_kind": "practitioner", "target": number})


@router.post("/choices/blocks/{block_id}/lift")
async def lift_block(request: Request, block_id: UUID, csrf: Csrf):
    v = await visit(request)
    return await _write(request, v, csrf, "DELETE", f"/blocks/{block_id}", "/choices")


@router.post("/choices/consents/{consent_id}/withdraw")
async def withdraw(request: Request, consent_id: UUID, csrf: Csrf):
    v = await visit(request)
    return await _write(request, v, csrf, "POST", f"/consents/{consent_id}/withdraw",
                        "/choices")


@router.post("/choices/notifications")
async def choose_notifications(
        request: Request, csrf: Csrf, email: Annotated[str, Form(max_length=254)] = "",
        restricted_opened: Annotated[str | None, Form(max_length=5)] = None,
        emergency_access: Annotated[str | None, Form(max_length=5)] = None,
        opted_out: Annotated[str | None, Form(max_length=5)] = None):
    """Where notices go (kept here) and which ones (the consent service's choice)."""
    v = await visit(request)
    if v.patient_id is None or v.subject.acting_for or not check_csrf(v.session, csrf):
        return await _choices(request, v, status=403,
                              error=texts(lang_of(request))["form_expired"])
    try:
        contact = Contact(email=email.strip() or None, opted_out=bool(opted_out))
    except ValueError:
        return await _choices(request, v, status=422,
                              error=texts(lang_of(request))["bad_email"])
    await citizen_grant(get_access(request), v.subject, v.patient_id, Action.manage,
                        "consents")
    await notifications.set_contact(request.app.state.engine, v.patient_id, contact.email,
                                    contact.opted_out, get_access(request).now())
    return await _write(request, v, csrf, "PUT", "/notifications", "/choices", {
        "restricted_opened": bool(restricted_opened),
        "emergency_access": bool(emergency_access)})


def install_page_handlers(app: FastAPI) -> None:
    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, exc: SignInRequired):
        # a form sent after the session ended: sign in, then back to the choices
        back = exc.return_to if request.method == "GET" else "/choices"
        return RedirectResponse(f"/login?{urlencode({'next': back})}", status_code=303)

    @app.exception_handler(SignInFailed)
    async def _failed(request: Request, exc: SignInFailed):
        return render(request, "landing.html", "site", status=400,
                      error=texts(lang_of(request))["signin_failed"])
