"""Sign-in as a person would: OIDC authorization code with PKCE (S256) against ID-porten (the
development issuer outside production), a server-side session in a ``__Host-`` cookie (Secure,
HttpOnly, SameSite=Lax), a CSRF token in every form, and log-out.

The tokens come straight from the issuer's token endpoint over the back channel (TLS in
production), so the ID token's nonce and audience are checked and the access token is
validated like any bearer token (signature, issuer, lifetime, LoA high: ``libs/access/tokens``).
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import urlencode

import httpx
import jwt
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from libs.access.tokens import CitizenLogin, TokenError
from libs.web.dev_login import s256
from libs.web.guard import get_access
from services.citizen.store import Session, Sessions

SESSION_COOKIE = "__Host-ehr-session"
LOGIN_COOKIE = "__Host-ehr-login"
LANG_COOKIE = "ehr-lang"


@dataclass(frozen=True)
class OidcClient:
    issuer_url: str        # /authorize and /token below it
    client_id: str
    redirect_uri: str
    client_secret: str | None
    http: httpx.AsyncClient


class SignInRequired(Exception):
    def __init__(self, return_to: str):
        self.return_to = return_to


class SignInFailed(Exception):
    """The sign-in could not be completed (expired, replayed, refused by the issuer)."""


def safe_return(path: str | None) -> str:
    """Only a path of this site: never another host (no open redirect)."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path \
            or len(path) > 300:
        return "/record"
    return path


def cookie(response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/", secure=True, httponly=True,
                        samesite="lax")


def sessions(request: Request) -> Sessions:
    return request.app.state.sessions


def now(request: Request) -> datetime:
    return get_access(request).now()


async def current_session(request: Request) -> Session | None:
    return await sessions(request).get(request.cookies.get(SESSION_COOKIE), now(request))


def check_csrf(session: Session, sent: str | None) -> bool:
    return bool(sent) and hmac.compare_digest(session.csrf.encode(), sent.encode())


router = APIRouter(include_in_schema=False)


@router.get("/login")
async def login(request: Request, next: Annotated[str | None, Query(max_length=300)] = None):
    oidc: OidcClient = request.app.state.oidc
    state, nonce, verifier = (secrets.token_urlsafe(32) for _ in range(3))
    await sessions(request).begin_login(state, verifier, nonce, safe_return(next),
                                        now(request))
    lang = request.cookies.get(LANG_COOKIE, "nb")
    query = urlencode({"client_id": oidc.client_id, "redirect_uri": oidc.redirect_uri,
                       "response_type": "code", "scope": "openid", "state": state,
                       "nonce": nonce, "code_challenge": s256(verifier),
                       "code_challenge_method": "S256", "acr_values": "idporten-loa-high",
                       "ui_locales": "en" if lang == "en" else "nb"})
    response = RedirectResponse(f"{oidc.issuer_url}/authorize?{query}", status_code=303)
    cookie(response, LOGIN_COOKIE, state, 600)
    return response


async def _exchange(oidc: OidcClient, code: str, verifier: str) -> dict:
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": oidc.redirect_uri,
            "client_id": oidc.client_id, "code_verifier": verifier}
    if oidc.client_secret:
        form["client_secret"] = oidc.client_secret
    try:
        r = await oidc.http.post(f"{oidc.issuer_url}/token", data=form, timeout=10)
    except httpx.HTTPError:
        raise SignInFailed("issuer unreachable") from None
    if r.status_code != 200:
        raise SignInFailed("code refused")
    body = r.json()
    if not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
        raise SignInFailed("no access token")
    return body


@router.get("/callback")
async def callback(request: Request, state: Annotated[str, Query(max_length=300)] = "",
                   code: Annotated[str, Query(max_length=300)] = ""):
    at = now(request)
    expected = request.cookies.get(LOGIN_COOKIE, "")
    if not state or not code or not hmac.compare_digest(expected.encode(), state.encode()):
        raise SignInFailed("state does not match this browser")
    pending = await sessions(request).take_login(state, at)
    if pending is None:
        raise SignInFailed("sign-in expired or already used")
    oidc: OidcClient = request.app.state.oidc
    body = await _exchange(oidc, code, pending.verifier)
    try:
        claims = jwt.decode(body.get("id_token") or "", options={"verify_signature": False})
    except jwt.PyJWTError:
        raise SignInFailed("no ID token") from None
    if claims.get("nonce") != pending.nonce or claims.get("aud") not in (
            oidc.client_id, [oidc.client_id]):
        raise SignInFailed("ID token nonce or audience does not match")
    token = body["access_token"]
    try:
        who = get_access(request).validator.validate(token)
    except TokenError:
        raise SignInFailed("access token refused") from None
    if not isinstance(who, CitizenLogin):
        raise SignInFailed("not a citizen")
    exp = jwt.decode(token, options={"verify_signature": False})["exp"]
    sid = await sessions(request).create(token, datetime.fromtimestamp(exp, UTC), at)
    response = RedirectResponse(pending.return_to, status_code=303)
    cookie(response, SESSION_COOKIE, sid, max(1, int(exp - at.timestamp())))
    response.delete_cookie(LOGIN_COOKIE, path="/", secure=True, httponly=True, samesite="lax")
    return response


@router.post("/logout")
async def logout(request: Request, csrf: Annotated[str, Form(max_length=100)] = ""):
    session = await current_session(request)
    if session is not None and check_csrf(session, csrf):
        await sessions(request).end(request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/?signed_out=1", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", secure=True, httponly=True,
                           samesite="lax")
    return response
