"""A message being written when the session ends is kept over the sign-in (server-side: the
portal runs no script).

A form sent after the session ended is checked against that session (its CSRF token; the row
stays until a later sign-in sweeps it away); only then is the draft kept, in
``citizen_drafts(draft_id, owner, doc, expires_at)``, for a day at most. ``owner`` is the SHA-256
of the ID-porten ``sub`` (pairwise, never the national id) of the ended session's token, and the
browser gets the random ``draft_id`` in an HttpOnly cookie. After signing in, the messages page
takes the draft once, and only for the same person; a stranger's form (no matching CSRF
token) keeps nothing.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import datetime, timedelta

import jwt
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.events.db import setup_turn

DRAFT_COOKIE = "__Host-ehr-draft"
KEPT_FOR = timedelta(days=1)


def owner_of(sub: str) -> bytes:
    return hashlib.sha256(sub.encode()).digest()


def sub_of(token: str) -> str | None:
    """The ``sub`` of a token this service validated when the session began (it is read from
    our own table, so its signature is not checked again; it may have expired)."""
    try:
        sub = jwt.decode(token, options={"verify_signature": False, "verify_exp": False}).get(
            "sub")
    except jwt.PyJWTError:
        return None
    return sub if isinstance(sub, str) else None


class Drafts:
    def __init__(self, engine: AsyncEngine):
        self.engine = engine

    async def setup(self) -> None:
        async with self.engine.begin() as conn:
            await setup_turn(conn)
            await conn.execute(text("""CREATE TABLE IF NOT EXISTS citizen_drafts (
                draft_id text PRIMARY KEY, owner bytea NOT NULL, doc jsonb NOT NULL,
                expires_at timestamptz NOT NULL)"""))

    async def keep(self, sub: str, doc: dict, now: datetime) -> str:
        draft_id = secrets.token_urlsafe(24)
        async with self.engine.begin() as conn:
            await conn.execute(text("DELETE FROM citizen_drafts WHERE expires_at < :now"),
                               {"now": now})
            await conn.execute(text("INSERT INTO citizen_drafts VALUES "
                                    "(:d, :o, CAST(:doc AS jsonb), :e)"),
                               {"d": draft_id, "o": owner_of(sub), "doc": json.dumps(doc),
                                "e": now + KEPT_FOR})
        return draft_id

    async def take(self, draft_id: str | None, sub: str, now: datetime) -> dict | None:
        """The draft, once, if it is this person's and not too old."""
        if not draft_id or len(draft_id) > 100:
            return None
        async with self.engine.begin() as conn:
            row = (await conn.execute(text("""
                DELETE FROM citizen_drafts WHERE draft_id = :d AND owner = :o
                RETURNING doc, expires_at"""), {"d": draft_id, "o": owner_of(sub)})).first()
        return row[0] if row and row[1] > now else None
