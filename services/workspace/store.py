"""The workspace's own state: sign-ins under way and signed-in browsers, in PostgreSQL (any
replica serves any request; a restart signs no one out). It keeps no patient data.

- ``workspace_logins(state, verifier, nonce, return_to, expires_at)``: an OIDC sign-in under
  way (authorization code with PKCE), taken once by the callback;
- ``workspace_commands(key, hpr, location, at)``: a command sent with an ``Idempotency-Key``
  (a visit's command queued offline): claimed before it is sent to the owning service, kept
  with where its answer led once it is done, released if the owner refused it;
- ``workspace_sessions(sid_hash, token, csrf, clinician, expires_at, idle_until)``: the cookie
  holds a random id and only its SHA-256 is stored; the session ends with the HelseID token,
  after ``idle`` without a request, or at sign-out (its row is deleted).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

LOGIN_TTL = timedelta(minutes=10)
MAX_SID = 100


@dataclass(frozen=True)
class Pending:
    verifier: str
    nonce: str
    return_to: str


@dataclass(frozen=True)
class Session:
    token: str
    csrf: str
    clinician: dict      # name, hpr, unit (what the header shows)


def _digest(sid: str) -> bytes:
    return hashlib.sha256(sid.encode()).digest()


class Sessions:
    def __init__(self, engine: AsyncEngine, idle: timedelta):
        self.engine, self.idle = engine, idle

    async def setup(self) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(text("""CREATE TABLE IF NOT EXISTS workspace_logins (
                state text PRIMARY KEY, verifier text NOT NULL, nonce text NOT NULL,
                return_to text NOT NULL, expires_at timestamptz NOT NULL)"""))
            await conn.execute(text("""CREATE TABLE IF NOT EXISTS workspace_commands (
                key text NOT NULL, hpr text NOT NULL, location text, at timestamptz NOT NULL,
                PRIMARY KEY (hpr, key))"""))
            await conn.execute(text("""CREATE TABLE IF NOT EXISTS workspace_sessions (
                sid_hash bytea PRIMARY KEY, token text NOT NULL, csrf text NOT NULL,
                clinician jsonb NOT NULL, expires_at timestamptz NOT NULL,
                idle_until timestamptz NOT NULL)"""))

    async def begin(self, state: str, pending: Pending, now: datetime) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(text("DELETE FROM workspace_logins WHERE expires_at < :now"),
                               {"now": now})
            await conn.execute(text("INSERT INTO workspace_logins VALUES (:s, :v, :n, :r, :e)"),
                               {"s": state, "v": pending.verifier, "n": pending.nonce,
                                "r": pending.return_to, "e": now + LOGIN_TTL})

    async def take(self, state: str, now: datetime) -> Pending | None:
        """The sign-in under way for ``state``, once (a replayed callback finds nothing)."""
        async with self.engine.begin() as conn:
            row = (await conn.execute(text(
                "DELETE FROM workspace_logins WHERE state = :s AND expires_at >= :now "
                "RETURNING verifier, nonce, return_to"), {"s": state, "now": now})).first()
        return Pending(*row) if row else None

    async def open(self, token: str, clinician: dict, expires_at: datetime,
                   now: datetime) -> str:
        sid = secrets.token_urlsafe(32)
        async with self.engine.begin() as conn:
            await conn.execute(text("DELETE FROM workspace_sessions WHERE expires_at < :now "
                                    "OR idle_until < :now"), {"now": now})
            await conn.execute(text(
                "INSERT INTO workspace_sessions VALUES (:h, :t, :c, CAST(:w AS jsonb), :e, :i)"),
                {"h": _digest(sid), "t": token, "c": secrets.token_urlsafe(32),
                 "w": json.dumps(clinician), "e": expires_at,
                 "i": min(expires_at, now + self.idle)})
        return sid

    async def current(self, sid: str | None, now: datetime) -> Session | None:
        """The live session of this cookie, its idle time started again; or None."""
        if not sid or len(sid) > MAX_SID:
            return None
        async with self.engine.begin() as conn:
            row = (await conn.execute(text("""
                UPDATE workspace_sessions SET idle_until = LEAST(expires_at, :idle)
                 WHERE sid_hash = :h AND expires_at > :now AND idle_until > :now
             RETURNING token, csrf, clinician"""),
                {"h": _digest(sid), "now": now, "idle": now + self.idle})).first()
        return Session(*row) if row else None

    async def close(self, sid: str | None) -> None:
        if sid and len(sid) <= MAX_SID:
            async with self.engine.begin() as conn:
                await conn.execute(text("DELETE FROM workspace_sessions WHERE sid_hash = :h"),
                                   {"h": _digest(sid)})


class Commands:
    """Each command a clinician sends with an idempotency key is passed on once: a repeat finds
    the first one's answer (or that it is still under way)."""

    def __init__(self, engine: AsyncEngine):
        self.engine = engine

    async def claim(self, hpr: str, key: str, now: datetime) -> tuple[bool, str | None]:
        """(True, None) when this key is new and now ours; else (False, where the first
        answer led, or None while it is under way)."""
        async with self.engine.begin() as conn:
            won = (await conn.execute(text(
                "INSERT INTO workspace_commands VALUES (:k, :h, NULL, :at) "
                "ON CONFLICT DO NOTHING RETURNING key"),
                {"k": key, "h": hpr, "at": now})).first()
            if won:
                return True, None
            row = (await conn.execute(text(
                "SELECT location FROM workspace_commands WHERE hpr = :h AND key = :k"),
                {"k": key, "h": hpr})).first()
        return False, row[0] if row else None

    async def done(self, hpr: str, key: str, location: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(text("UPDATE workspace_commands SET location = :l "
                                    "WHERE hpr = :h AND key = :k"),
                               {"k": key, "h": hpr, "l": location})

    async def release(self, hpr: str, key: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(text("DELETE FROM workspace_commands WHERE hpr = :h AND key = :k"),
                               {"k": key, "h": hpr})
