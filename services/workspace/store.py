"""The workspace's own state: sign-ins under way and signed-in browsers, in PostgreSQL (any
replica serves any request; a restart signs no one out). It keeps no patient data.

- ``workspace_logins(state, verifier, nonce, return_to, expires_at)``: an OIDC sign-in under
  way (authorization code with PKCE), taken once by the callback (``libs/web/sign_in.py``);
- ``workspace_sessions(sid_hash, token, csrf, clinician, expires_at, idle_until)``: the cookie
  holds a random id and only its SHA-256 is stored; the session ends with the HelseID token,
  after ``idle`` without a request, or at sign-out (its row is deleted).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.events.db import setup_turn
from libs.web.sign_in import Pending, SignInStore

__all__ = ["Pending", "Session", "Sessions"]


@dataclass(frozen=True)
class Session:
    token: str
    csrf: str
    clinician: dict      # name, hpr, unit (what the header shows)


class Sessions(SignInStore):
    def __init__(self, engine: AsyncEngine, idle: timedelta):
        super().__init__(engine, idle, "workspace")

    async def setup(self) -> None:
        await self.setup_logins()
        async with self.engine.begin() as conn:
            await setup_turn(conn)
            await conn.execute(text("""CREATE TABLE IF NOT EXISTS workspace_sessions (
                sid_hash bytea PRIMARY KEY, token text NOT NULL, csrf text NOT NULL,
                clinician jsonb NOT NULL, expires_at timestamptz NOT NULL,
                idle_until timestamptz NOT NULL)"""))

    async def open(self, token: str, clinician: dict, expires_at: datetime,
                   now: datetime) -> str:
        return await self.insert("VALUES (:h, :t, :c, CAST(:w AS jsonb), :e, :i)",
                                 {"t": token, "w": json.dumps(clinician), "e": expires_at}, now)

    async def current(self, sid: str | None, now: datetime) -> Session | None:
        """The live session of this cookie, its idle time started again; or None."""
        row = await self.touch(sid, now, "token, csrf, clinician")
        return Session(*row) if row else None
