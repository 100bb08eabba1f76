"""The citizen service's own state. It keeps no event streams (its writes land in the consent
service); it keeps the portal's sign-ins in PostgreSQL, so any replica serves any request and a
restart signs no one out:

- ``citizen_logins(state, verifier, nonce, return_to, expires_at)``: an OIDC sign-in under way
  (authorization code with PKCE); taken once, by the callback.
- ``citizen_sessions(sid_hash, token, csrf, expires_at, idle_until, acting_for)``: a signed-in
  browser, and whose record it shows (their own, or a child's or mandate giver's).
  The cookie holds a random session id; only its SHA-256 is stored. The session ends when the
  ID-porten token expires, after ``idle`` without a request, or at log-out.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

LOGIN_TTL = timedelta(minutes=10)


def _hash(sid: str) -> bytes:
    return hashlib.sha256(sid.encode()).digest()


@dataclass(frozen=True)
class PendingLogin:
    verifier: str
    nonce: str
    return_to: str


@dataclass(frozen=True)
class Session:
    token: str
    csrf: str
    expires_at: datetime
    acting_for: UUID | None = None


class Sessions:
    def __init__(self, engine: AsyncEngine, idle: timedelta):
        self.engine, self.idle = engine, idle

    async def setup(self) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(text("""CREATE TABLE IF NOT EXISTS citizen_logins (
                state text PRIMARY KEY, verifier text NOT NULL, nonce text NOT NULL,
                return_to text NOT NULL, expires_at timestamptz NOT NULL)"""))
            await conn.execute(text("""CREATE TABLE IF NOT EXISTS citizen_sessions (
                sid_hash bytea PRIMARY KEY, token text NOT NULL, csrf text NOT NULL,
                expires_at timestamptz NOT NULL, idle_until timestamptz NOT NULL,
                acting_for uuid)"""))

    async def begin_login(self, state: str, verifier: str, nonce: str, return_to: str,
                          now: datetime) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(text("DELETE FROM citizen_logins WHERE expires_at < :now"),
                               {"now": now})
            await conn.execute(text("INSERT INTO citizen_logins VALUES (:s, :v, :n, :r, :e)"),
                               {"s": state, "v": verifier, "n": nonce, "r": return_to,
                                "e": now + LOGIN_TTL})

    async def take_login(self, state: str, now: datetime) -> PendingLogin | None:
        """The sign-in for ``state``, once: a replayed callback finds nothing."""
        async with self.engine.begin() as conn:
            row = (await conn.execute(text("""DELETE FROM citizen_logins WHERE state = :s
                RETURNING verifier, nonce, return_to, expires_at"""), {"s": state})).first()
        if row is None or row[3] < now:
            return None
        return PendingLogin(row[0], row[1], row[2])

    async def create(self, token: str, expires_at: datetime, now: datetime) -> str:
        sid = secrets.token_urlsafe(32)
        async with self.engine.begin() as conn:
            await conn.execute(text("DELETE FROM citizen_sessions WHERE expires_at < :now "
                                    "OR idle_until < :now"), {"now": now})
            await conn.execute(text("INSERT INTO citizen_sessions VALUES (:h, :t, :c, :e, :i, "
                                    "NULL)"),
                               {"h": _hash(sid), "t": token, "c": secrets.token_urlsafe(32),
                                "e": expires_at, "i": min(expires_at, now + self.idle)})
        return sid

    async def get(self, sid: str | None, now: datetime) -> Session | None:
        """The live session of this cookie (and its idle time starts again), or None."""
        if not sid or len(sid) > 100:
            return None
        async with self.engine.begin() as conn:
            row = (await conn.execute(text("""
                UPDATE citizen_sessions SET idle_until = LEAST(expires_at, :idle)
                 WHERE sid_hash = :h AND expires_at > :now AND idle_until > :now
             RETURNING token, csrf, expires_at, acting_for"""),
                {"h": _hash(sid), "now": now, "idle": now + self.idle})).first()
        return Session(row[0], row[1], row[2], row[3]) if row else None

    async def ended(self, sid: str | None) -> Session | None:
        """The session of this cookie even if it has ended (not after log-out, and not once a
        later sign-in has swept it away): a form sent after the end is checked against it."""
        if not sid or len(sid) > 100:
            return None
        async with self.engine.connect() as conn:
            row = (await conn.execute(text(
                "SELECT token, csrf, expires_at, acting_for FROM citizen_sessions "
                "WHERE sid_hash = :h"), {"h": _hash(sid)})).first()
        return Session(row[0], row[1], row[2], row[3]) if row else None

    async def act_for(self, sid: str, patient_id: UUID | None) -> None:
        """Whose record the session shows: someone the citizen acts for, or (None) their own."""
        async with self.engine.begin() as conn:
            await conn.execute(text("UPDATE citizen_sessions SET acting_for = :p "
                                    "WHERE sid_hash = :h"), {"h": _hash(sid), "p": patient_id})

    async def end(self, sid: str | None) -> None:
        if sid and len(sid) <= 100:
            async with self.engine.begin() as conn:
                await conn.execute(text("DELETE FROM citizen_sessions WHERE sid_hash = :h"),
                                   {"h": _hash(sid)})
