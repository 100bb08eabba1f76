"""Sign-in as a person would: OIDC authorization code with PKCE (S256) against ID-porten (the
development issuer outside production), a server-side session in a ``__Host-`` cookie (Secure,
HttpOnly, SameSite=Lax), a CSRF token in every form, and log-out: the flow the clinician
workspace uses too (``libs/web/sign_in.py``, ``libs/web/oidc.py``).

The tokens come straight from the issuer's token endpoint over the back channel (TLS in
production), so the ID token's nonce and audience are checked and the access token is
validated like any bearer token (signature, issuer, lifetime, LoA high: ``libs/access/tokens``).
"""

from __future__ import annotations

from datetime import datetime

from fastapi import Request

from libs.access.tokens import CitizenLogin, TokenError
from libs.web.guard import get_access
from libs.web.oidc import OidcClient, SignInFailed, local_path
from libs.web.oidc import set_cookie as cookie
from libs.web.sign_in import SignIn, sign_in_router
from libs.web.sign_in import csrf_ok as check_csrf
from services.citizen.store import Session, Sessions

__all__ = ["LANG_COOKIE", "OidcClient", "SESSION_COOKIE", "SignInFailed", "SignInRequired",
           "check_csrf", "cookie", "current_session", "router", "safe_return", "sessions"]

SESSION_COOKIE = "__Host-ehr-session"
LOGIN_COOKIE = "__Host-ehr-login"
LANG_COOKIE = "ehr-lang"


class SignInRequired(Exception):
    def __init__(self, return_to: str):
        self.return_to = return_to


def safe_return(path: str | None) -> str:
    """Only a path of this site: never another host (no open redirect)."""
    return local_path(path, "/record")


def sessions(request: Request) -> Sessions:
    return request.app.state.sessions


def now(request: Request) -> datetime:
    return get_access(request).now()


async def current_session(request: Request) -> Session | None:
    return await sessions(request).current(request.cookies.get(SESSION_COOKIE), now(request))


def _authorize(request: Request) -> dict[str, str]:
    lang = request.cookies.get(LANG_COOKIE, "nb")
    return {"acr_values": "idporten-loa-high", "ui_locales": "en" if lang == "en" else "nb"}


async def _open(request: Request, token: str, expires_at: datetime, at: datetime) -> str:
    """Only a citizen (ID-porten, LoA high) gets a session."""
    try:
        who = get_access(request).validator.validate(token)
    except TokenError:
        raise SignInFailed("access token refused") from None
    if not isinstance(who, CitizenLogin):
        raise SignInFailed("not a citizen")
    return await sessions(request).open(token, expires_at, at)


router = sign_in_router(SignIn(
    session_cookie=SESSION_COOKIE, login_cookie=LOGIN_COOKIE, default_path="/record",
    store=sessions, now=now, authorize_params=_authorize, open=_open))
