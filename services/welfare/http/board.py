"""The live alert board for the response centre and the home-care unit (``/board``).

Sign-in as HelseID does it: OIDC authorization code with PKCE (``libs/web/oidc.py``) against
HelseID, outside production against the development issuer's clinician picker. The access
token is kept in a ``__Host-`` cookie (Secure, HttpOnly, SameSite=Lax) and validated on every
request like any bearer token; only health personnel of a unit get the board. The sign-in under
way (state, nonce, PKCE verifier) waits in a short-lived cookie of its own, so no table is kept.

The page shows the unit's open alerts from the feed (``board_feed``, Server-Sent Events). Each
button posts here with a header no other site can send without asking (CSRF), and is sent on
to the service's own guarded, logged API (``/patients/{id}/alerts/{id}/...``) with the
clinician's token, so every step is an event in the record and the access log as them."""

from __future__ import annotations

import hmac
import secrets
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal
from uuid import UUID

import httpx
import jwt
from fastapi import FastAPI, Header, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel, ConfigDict, Field

from libs.access.dev_issuer import DevIssuer
from libs.access.model import Action, Practitioner, Resource
from libs.access.tokens import TokenError
from libs.web import oidc
from libs.web.dev_login import TestClinician, dev_helseid_router
from libs.web.errors import FhirJSONResponse, outcome_response
from libs.web.guard import AccessDenied, get_access
from libs.web.oidc import SignInFailed, drop_cookie, set_cookie
from libs.web.routing import PrefixRouter
from services.welfare.http import board_feed
from services.welfare.http.deps import CATEGORY

HERE = Path(__file__).parent
DEV_PATH = "/dev-helseid"
TOKEN_COOKIE = "__Host-ehr-board"
LOGIN_COOKIE = "__Host-ehr-board-login"
HELSEID_SCOPES = "openid profile helseid://scopes/identity/hpr_number"
CSRF_HEADER = "ehr-board"
NOBODY = UUID(int=0)
# the development sign-in's clinicians: a nurse of the home-care unit, a physician elsewhere
CLINICIANS = (
    TestClinician("Nina Sykepleier", "sykepleier, hjemmetjenesten", "9144889", "123456785",
                  "974600978", ("nurse",)),
    TestClinician("Lege Legevakt", "lege, legevakten", "1112223", "999999999", "987654325",
                  ("physician",)),
)
_pages = Environment(loader=FileSystemLoader(HERE / "templates"),
                     autoescape=select_autoescape(["html"]))
router = PrefixRouter(prefix="/board", include_in_schema=False)


def sign_in_first() -> FhirJSONResponse:
    return outcome_response(401, "login", "Sign in to the alert board first.")


class Step(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str | None = Field(default=None, min_length=1, max_length=2000)


def _now(request: Request) -> datetime:
    return request.app.state.clock()


def clinician_of(request: Request) -> tuple[str, Practitioner] | None:
    """The signed-in clinician's token and who they are; None when there is none, or it no
    longer holds (expired, not health personnel of a unit)."""
    token = request.cookies.get(TOKEN_COOKIE, "")
    who = _practitioner(request, token) if token and len(token) <= 8000 else None
    return None if who is None else (token, who)


def _practitioner(request: Request, token: str) -> Practitioner | None:
    """Who ``token`` names, when it holds and names health personnel of a unit."""
    try:
        who = request.app.state.validator.validate(token)
    except TokenError:
        return None
    return who if isinstance(who, Practitioner) and who.hpr and who.unit else None


def _page(name: str, status: int = 200, **values) -> HTMLResponse:
    return HTMLResponse(_pages.get_template(name).render(**values), status_code=status,
                        headers={"Cache-Control": "no-store",
                                 "Content-Security-Policy": "default-src 'self'; "
                                 "frame-ancestors 'none'; form-action 'self'"})


@router.get("")
async def page(request: Request):
    signed = clinician_of(request)
    if signed is None:
        return RedirectResponse("/board/login", status_code=303)
    return _page("board.html", who=signed[1])


@router.get("/login")
async def login(request: Request, next: Annotated[str | None, Query(max_length=300)] = None):
    state, nonce, verifier = (secrets.token_urlsafe(32) for _ in range(3))
    url = request.app.state.board_oidc.authorize_url(state, nonce, verifier,
                                                     scope=HELSEID_SCOPES, ui_locales="nb")
    response = RedirectResponse(url, status_code=303)
    back = oidc.local_path(next, "/board")
    set_cookie(response, LOGIN_COOKIE, ".".join((state, nonce, verifier, back)), 600)
    return response


@router.get("/callback")
async def callback(request: Request, state: Annotated[str, Query(max_length=300)] = "",
                   code: Annotated[str, Query(max_length=300)] = ""):
    parts = request.cookies.get(LOGIN_COOKIE, "").split(".", 3)
    if len(parts) != 4 or not state or not code or not hmac.compare_digest(
            parts[0].encode(), state.encode()):
        raise SignInFailed("state does not match this browser")
    _, nonce, verifier, back = parts
    token, _ = await request.app.state.board_oidc.redeem(code, verifier, nonce)
    if _practitioner(request, token) is None:
        raise SignInFailed("access token refused: not health personnel of a unit")
    exp = jwt.decode(token, options={"verify_signature": False})["exp"]
    response = RedirectResponse(oidc.local_path(back, "/board"), status_code=303)
    set_cookie(response, TOKEN_COOKIE, token, max(1, int(exp - _now(request).timestamp())))
    drop_cookie(response, LOGIN_COOKIE)
    return response


@router.post("/logout")
async def logout():
    response = _page("signed_out.html")
    drop_cookie(response, TOKEN_COOKIE)
    return response


@router.get("/feed")
async def feed(request: Request,
               last_event_id: Annotated[str | None, Header(max_length=100)] = None):
    signed = clinician_of(request)
    if signed is None:
        return sign_in_first()
    token, who = signed
    expires = jwt.decode(token, options={"verify_signature": False})["exp"]
    access, decided = get_access(request), {}

    async def alive() -> bool:
        return _now(request).timestamp() < expires and not await request.is_disconnected()

    async def allowed(patient_id: str) -> bool:
        """Decided and logged once per person and connection, like any read of their data."""
        if patient_id not in decided:
            try:
                await access.require(who, Action.read, Resource(
                    patient_id=UUID(patient_id), category=CATEGORY), resources=(CATEGORY,))
                decided[patient_id] = True
            except AccessDenied:
                decided[patient_id] = False
        return decided[patient_id]

    return StreamingResponse(
        board_feed.stream(request.app.state.engine, who.unit, last_event_id, alive, allowed,
                          lambda: _now(request)),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


@router.post("/alerts/{alert_id}/{step}")
async def act(request: Request, alert_id: UUID,
              step: Literal["acknowledge", "on-my-way", "resolve"], body: Step,
              x_requested_with: Annotated[str | None, Header(max_length=50)] = None):
    """One step on an alert, through the service's own guarded, logged API as the clinician:
    that call decides whether they may (an alert the read model does not know goes there
    with no one's id, so it gets the same refusal as an alert of someone they may not see)."""
    signed = clinician_of(request)
    if signed is None:
        return sign_in_first()
    if x_requested_with != CSRF_HEADER:
        return outcome_response(403, "forbidden", "Only the board itself can do this.")
    patient_id = await board_feed.patient_of(request.app.state.engine, alert_id) or NOBODY
    transport = httpx.ASGITransport(app=request.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://welfare") as api:
        r = await api.post(f"/patients/{patient_id}/alerts/{alert_id}/{step}",
                           headers={"Authorization": f"Bearer {signed[0]}"},
                           json={"note": body.note} if step == "resolve" else None)
    return Response(r.content, status_code=r.status_code,
                    media_type=r.headers.get("content-type"))


async def _refused(request: Request, exc: SignInFailed) -> HTMLResponse:
    return _page("refused.html", status=400, reason=str(exc))


def install(app: FastAPI, client_id: str, redirect_uri: str,
            dev_issuer: DevIssuer | None) -> None:
    """Mount the board on ``app`` (its OIDC client is ``app.state.board_oidc``): its routes,
    its static files, the sign-in's refusal page and, outside production without HelseID,
    the development issuer at ``DEV_PATH``."""
    app.include_router(router)
    app.mount("/board/static", StaticFiles(directory=HERE / "static"), name="board-static")
    app.add_exception_handler(SignInFailed, _refused)
    if dev_issuer is not None:
        app.include_router(dev_helseid_router(dev_issuer, {client_id: (redirect_uri,)},
                                              CLINICIANS, prefix=DEV_PATH))
