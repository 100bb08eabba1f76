"""Signing in to a service's own pages, shared by the citizen portal (ID-porten) and the
clinician workspace (HelseID): OIDC authorization code with PKCE (S256, ``libs/web/oidc.py``),
a server-side session behind a random id in a ``__Host-`` cookie (Secure, HttpOnly,
SameSite=Lax; only the id's SHA-256 is stored), a CSRF token in every form, and sign-out.

- ``SignInStore``: the sign-ins under way (``<prefix>_logins``, taken once by the callback) and
  the sweeping, hashing and ending of sessions (``<prefix>_sessions``); a service's subclass
  adds its own session columns, ``setup`` and ``open`` / ``current``.
- ``sign_in_router(flow)``: ``GET /login``, ``GET /callback`` and ``POST /logout``. The service
  says how to ask the issuer (``authorize_params``) and who may have a session (``open``: it
  validates the access token like any bearer token and raises ``SignInFailed`` otherwise).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import jwt
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.events.db import setup_turn
from libs.web.oidc import OidcClient, SignInFailed, drop_cookie, local_path, set_cookie
from libs.web.routing import PathRouter

__all__ = ["Pending", "SignIn", "SignInFailed", "SignInStore", "csrf_ok", "sid_hash",
           "sign_in_router"]

LOGIN_TTL = timedelta(minutes=10)
MAX_SID = 100


@dataclass(frozen=True)
class Pending:
    """A sign-in under way: the PKCE verifier, the nonce and where to go back to."""

    verifier: str
    nonce: str
    return_to: str


def sid_hash(sid: str) -> bytes:
    return hashlib.sha256(sid.encode()).digest()


def usable(sid: str | None) -> bool:
    return bool(sid) and len(sid) <= MAX_SID


def csrf_ok(session: Any, sent: str | None) -> bool:
    """The form's CSRF token is the session's (compared in constant time)."""
    return bool(sent) and hmac.compare_digest(session.csrf.encode(), sent.encode())


class SignInStore:
    """``<prefix>_logins`` and the common half of ``<prefix>_sessions`` (``sid_hash``,
    ``expires_at``, ``idle_until``)."""

    def __init__(self, engine: AsyncEngine, idle: timedelta, prefix: str):
        self.engine, self.idle = engine, idle
        self.logins, self.sessions = f"{prefix}_logins", f"{prefix}_sessions"

    async def setup_logins(self) -> None:
        async with self.engine.begin() as conn:
            await setup_turn(conn)
            await conn.execute(text(f"""CREATE TABLE IF NOT EXISTS {self.logins} (
                state text PRIMARY KEY, verifier text NOT NULL, nonce text NOT NULL,
                return_to text NOT NULL, expires_at timestamptz NOT NULL)"""))

    async def begin(self, state: str, pending: Pending, now: datetime) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(text(f"DELETE FROM {self.logins} WHERE expires_at < :now"),
                               {"now": now})
            await conn.execute(text(f"INSERT INTO {self.logins} VALUES (:s, :v, :n, :r, :e)"),
                               {"s": state, "v": pending.verifier, "n": pending.nonce,
                                "r": pending.return_to, "e": now + LOGIN_TTL})

    async def take(self, state: str, now: datetime) -> Pending | None:
        """The sign-in under way for ``state``, once (a replayed callback finds nothing)."""
        async with self.engine.begin() as conn:
            row = (await conn.execute(text(
                f"DELETE FROM {self.logins} WHERE state = :s AND expires_at >= :now "
                "RETURNING verifier, nonce, return_to"), {"s": state, "now": now})).first()
        return Pending(*row) if row else None

    async def insert(self, values: str, params: Mapping[str, Any], now: datetime) -> str:
        """A new session (sweeping ended ones): ``values`` is the service's ``VALUES (...)``
        with ``:h`` (the id's hash), ``:c`` (a new CSRF token) and ``:i`` (idle until)
        besides its own ``params``, which carry ``e`` (expires at)."""
        sid = secrets.token_urlsafe(32)
        async with self.engine.begin() as conn:
            await conn.execute(text(f"DELETE FROM {self.sessions} WHERE expires_at < :now "
                                    "OR idle_until < :now"), {"now": now})
            await conn.execute(text(f"INSERT INTO {self.sessions} {values}"), {
                "h": sid_hash(sid), "c": secrets.token_urlsafe(32),
                "i": min(params["e"], now + self.idle)} | dict(params))
        return sid

    async def touch(self, sid: str | None, now: datetime, columns: str) -> Any:
        """The live session's ``columns`` (its idle time started again), or None."""
        if not usable(sid):
            return None
        async with self.engine.begin() as conn:
            return (await conn.execute(text(f"""
                UPDATE {self.sessions} SET idle_until = LEAST(expires_at, :idle)
                 WHERE sid_hash = :h AND expires_at > :now AND idle_until > :now
             RETURNING {columns}"""),
                {"h": sid_hash(sid), "now": now, "idle": now + self.idle})).first()

    async def close(self, sid: str | None) -> None:
        if usable(sid):
            async with self.engine.begin() as conn:
                await conn.execute(text(f"DELETE FROM {self.sessions} WHERE sid_hash = :h"),
                                   {"h": sid_hash(sid)})


@dataclass(frozen=True)
class SignIn:
    """How a service signs its users in (see the module)."""

    session_cookie: str
    login_cookie: str
    default_path: str
    store: Callable[[Request], Any]        # the request's SignInStore (subclass)
    now: Callable[[Request], datetime]
    authorize_params: Callable[[Request], dict[str, str]]
    open: Callable[[Request, str, datetime, datetime], Awaitable[str]]  # token, expires, now
    logout_headers: Mapping[str, str] = field(default_factory=dict)


def sign_in_router(flow: SignIn) -> APIRouter:
    router = PathRouter(include_in_schema=False)

    @router.get("/login")
    async def login(request: Request,
                    next: Annotated[str | None, Query(max_length=300)] = None):
        client: OidcClient = request.app.state.oidc
        state, nonce, verifier = (secrets.token_urlsafe(32) for _ in range(3))
        await flow.store(request).begin(
            state, Pending(verifier, nonce, local_path(next, flow.default_path)),
            flow.now(request))
        response = RedirectResponse(client.authorize_url(state, nonce, verifier,
                                                         **flow.authorize_params(request)),
                                    status_code=303)
        set_cookie(response, flow.login_cookie, state, 600)
        return response

    @router.get("/callback")
    async def callback(request: Request, state: Annotated[str, Query(max_length=300)] = "",
                       code: Annotated[str, Query(max_length=300)] = ""):
        at = flow.now(request)
        expected = request.cookies.get(flow.login_cookie, "")
        if not state or not code or not hmac.compare_digest(expected.encode(), state.encode()):
            raise SignInFailed("state does not match this browser")
        pending = await flow.store(request).take(state, at)
        if pending is None:
            raise SignInFailed("sign-in expired or already used")
        token, _ = await request.app.state.oidc.redeem(code, pending.verifier, pending.nonce)
        try:   # read here for the cookie's lifetime; ``open`` validates the token
            exp = int(jwt.decode(token, options={"verify_signature": False})["exp"])
        except (jwt.PyJWTError, KeyError, TypeError, ValueError):
            raise SignInFailed("access token refused") from None
        sid = await flow.open(request, token, datetime.fromtimestamp(exp, UTC), at)
        response = RedirectResponse(pending.return_to, status_code=303)
        set_cookie(response, flow.session_cookie, sid, max(1, int(exp - at.timestamp())))
        drop_cookie(response, flow.login_cookie)
        return response

    @router.post("/logout")
    async def logout(request: Request, csrf: Annotated[str, Form(max_length=100)] = ""):
        store, sid = flow.store(request), request.cookies.get(flow.session_cookie)
        session = await store.current(sid, flow.now(request))
        if session is not None and csrf_ok(session, csrf):
            await store.close(sid)
        response = RedirectResponse("/?signed_out=1", status_code=303)
        drop_cookie(response, flow.session_cookie)
        response.headers.update(flow.logout_headers)
        return response

    return router
