"""Sign-in as HelseID does it: OIDC authorization code with PKCE (S256) against HelseID (the
development issuer's clinician picker outside production), a server-side session in a
``__Host-`` cookie (Secure, HttpOnly, SameSite=Lax), a CSRF token in every form, and sign-out
that ends the session, its cookie and (in the browser) the offline copy.

The access token comes over the back channel from the token endpoint; the ID token's nonce and
audience are checked, and the access token is validated like any bearer token (signature,
issuer, lifetime, security level 4, HPR number): only health personnel get a session.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import UTC, datetime
from typing import Annotated

import jwt
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse

from libs.access.model import Practitioner
from libs.access.tokens import TokenError
from libs.web import oidc
from libs.web.oidc import OidcClient, SignInFailed, drop_cookie, set_cookie
from services.workspace.store import Pending, Session, Sessions

__all__ = ["OidcClient", "SignInFailed", "SignInRequired", "local_path", "router"]

SESSION_COOKIE = "__Host-ehr-workspace"
LOGIN_COOKIE = "__Host-ehr-workspace-login"
HELSEID_SCOPES = "openid profile helseid://scopes/identity/hpr_number"


class SignInRequired(Exception):
    def __init__(self, return_to: str):
        self.return_to = return_to


def local_path(path: str | None) -> str:
    """A path of this site only (no open redirect); the worklist otherwise."""
    return oidc.local_path(path, "/worklist")


def sessions(request: Request) -> Sessions:
    return request.app.state.sessions


def now(request: Request) -> datetime:
    return request.app.state.clock()


async def session_of(request: Request) -> Session | None:
    return await sessions(request).current(request.cookies.get(SESSION_COOKIE), now(request))


async def signed_in(request: Request) -> Session:
    """The page's session, or a redirect to sign in and come back."""
    session = await session_of(request)
    if session is None:
        raise SignInRequired(request.url.path)
    return session


def csrf_ok(session: Session, sent: str | None) -> bool:
    return bool(sent) and hmac.compare_digest(session.csrf.encode(), sent.encode())


router = APIRouter(include_in_schema=False)


@router.get("/login")
async def login(request: Request, next: Annotated[str | None, Query(max_length=300)] = None):
    client: OidcClient = request.app.state.oidc
    state, nonce, verifier = (secrets.token_urlsafe(32) for _ in range(3))
    await sessions(request).begin(state, Pending(verifier, nonce, local_path(next)),
                                  now(request))
    lang = "en" if request.cookies.get("ehr-lang") == "en" else "nb"
    response = RedirectResponse(client.authorize_url(state, nonce, verifier,
                                                     scope=HELSEID_SCOPES, ui_locales=lang),
                                status_code=303)
    set_cookie(response, LOGIN_COOKIE, state, 600)
    return response


@router.get("/callback")
async def callback(request: Request, state: Annotated[str, Query(max_length=300)] = "",
                   code: Annotated[str, Query(max_length=300)] = ""):
    at = now(request)
    expected = request.cookies.get(LOGIN_COOKIE, "")
    if not state or not code or not hmac.compare_digest(expected.encode(), state.encode()):
        raise SignInFailed("state does not match this browser")
    pending = await sessions(request).take(state, at)
    if pending is None:
        raise SignInFailed("sign-in expired or already used")
    token, _ = await request.app.state.oidc.redeem(code, pending.verifier, pending.nonce)
    try:
        who = request.app.state.validator.validate(token)
    except TokenError:
        raise SignInFailed("access token refused") from None
    if not isinstance(who, Practitioner) or not who.hpr or not who.unit:
        raise SignInFailed("not health personnel of a unit")
    exp = jwt.decode(token, options={"verify_signature": False})["exp"]
    clinician = {"name": who.name or who.hpr, "hpr": who.hpr, "unit": who.unit,
                 "roles": sorted(str(r) for r in who.roles)}
    sid = await sessions(request).open(token, clinician, datetime.fromtimestamp(exp, UTC), at)
    response = RedirectResponse(pending.return_to, status_code=303)
    set_cookie(response, SESSION_COOKIE, sid, max(1, int(exp - at.timestamp())))
    drop_cookie(response, LOGIN_COOKIE)
    return response


@router.post("/logout")
async def logout(request: Request, csrf: Annotated[str, Form(max_length=100)] = ""):
    session = await session_of(request)
    if session is not None and csrf_ok(session, csrf):
        await sessions(request).close(request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/?signed_out=1", status_code=303)
    drop_cookie(response, SESSION_COOKIE)
    response.headers["Clear-Site-Data"] = '"cache", "storage"'
    return response
