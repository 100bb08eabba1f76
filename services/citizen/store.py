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

from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.events.db import setup_turn
from libs.web.sign_in import SignInStore, sid_hash, usable


@dataclass(frozen=True)
class Session:
    token: str
    csrf: str
    expires_at: datetime
    acting_for: UUID | None = None


class Sessions(SignInStore):
    """The logins and the sessions' common half are ``libs/web/sign_in.py``'s."""

    def __init__(self, engine: AsyncEngine, idle: timedelta):
        super().__init__(engine, idle, "citizen")

    async def setup(self) -> None:
        await self.setup_logins()
        async with self.engine.begin() as conn:
            await setup_turn(conn)
            await conn.execute(text("""CREATE TABLE IF NOT EXISTS citizen_sessions (
                sid_hash bytea PRIMARY KEY, token text NOT NULL, csrf text NOT NULL,
                expires_at timestamptz NOT NULL, idle_until timestamptz NOT NULL,
                acting_for uuid)"""))

    async def open(self, token: str, expires_at: datetime, now: datetime) -> str:
        return await self.insert("VALUES (:h, :t, :c, :e, :i, NULL)",
                                 {"t": token, "e": expires_at}, now)

    async def current(self, sid: str | None, now: datetime) -> Session | None:
        """The live session of this cookie (and its idle time starts again), or None."""
        row = await self.touch(sid, now, "token, csrf, expires_at, acting_for")
        return Session(row[0], row[1], row[2], row[3]) if row else None

    async def ended(self, sid: str | None) -> Session | None:
        """The session of this cookie even if it has ended (not after log-out, and not once a
        later sign-in has swept it away): a form sent after the end is checked against it."""
        if not usable(sid):
            return None
        async with self.engine.connect() as conn:
            row = (await conn.execute(text(
                "SELECT token, csrf, expires_at, acting_for FROM citizen_sessions "
                "WHERE sid_hash = :h"), {"h": sid_hash(sid)})).first()
        return Session(row[0], row[1], row[2], row[3]) if row else None

    async def act_for(self, sid: str, patient_id: UUID | None) -> None:
        """Whose record the session shows: someone the citizen acts for, or (None) their own."""
        async with self.engine.begin() as conn:
            await conn.execute(text("UPDATE citizen_sessions SET acting_for = :p "
                                    "WHERE sid_hash = :h"),
                               {"h": sid_hash(sid), "p": patient_id})
