"""Sign-in as HelseID does it: OIDC authorization code with PKCE (S256) against HelseID (the
development issuer's clinician picker outside production), a server-side session in a
``__Host-`` cookie (Secure, HttpOnly, SameSite=Lax), a CSRF token in every form, and sign-out
that ends the session, its cookie and (in the browser) the offline copy. The flow is the one
the citizen portal uses too (``libs/web/sign_in.py``).

The access token comes over the back channel from the token endpoint; the ID token's nonce and
audience are checked, and the access token is validated like any bearer token (signature,
issuer, lifetime, security level 4, HPR number): only health personnel get a session.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import Request

from libs.access.model import Practitioner
from libs.access.tokens import TokenError
from libs.web import oidc
from libs.web.oidc import OidcClient, SignInFailed
from libs.web.sign_in import SignIn, csrf_ok, sign_in_router
from services.workspace.store import Session, Sessions

__all__ = ["OidcClient", "SignInFailed", "SignInRequired", "csrf_ok", "local_path", "router"]

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


def _authorize(request: Request) -> dict[str, str]:
    lang = "en" if request.cookies.get("ehr-lang") == "en" else "nb"
    return {"scope": HELSEID_SCOPES, "ui_locales": lang}


async def _open(request: Request, token: str, expires_at: datetime, at: datetime) -> str:
    """Only health personnel of a unit get a session."""
    try:
        who = request.app.state.validator.validate(token)
    except TokenError:
        raise SignInFailed("access token refused") from None
    if not isinstance(who, Practitioner) or not who.hpr or not who.unit:
        raise SignInFailed("not health personnel of a unit")
    clinician = {"name": who.name or who.hpr, "hpr": who.hpr, "unit": who.unit,
                 "roles": sorted(str(r) for r in who.roles)}
    return await sessions(request).open(token, clinician, expires_at, at)


router = sign_in_router(SignIn(
    session_cookie=SESSION_COOKIE, login_cookie=LOGIN_COOKIE, default_path="/worklist",
    store=sessions, now=now, authorize_params=_authorize, open=_open,
    logout_headers={"Clear-Site-Data": '"cache", "storage"'}))
