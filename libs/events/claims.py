"""Appending events that claim a unique key (a national id number for a patient) in the same
transaction, so one key never comes to belong to two streams."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from sqlalchemy import text

from libs.events.registry import EventPayload
from libs.events.store import AppendResult, EventContext, EventStore


def claims_ddl(table: str) -> str:
    return (f"CREATE TABLE IF NOT EXISTS {table} ("
            "national_id text PRIMARY KEY, patient_id uuid NOT NULL UNIQUE)")


async def create_claims_table(store: EventStore, table: str) -> None:
    async with store.engine.begin() as conn:
        await conn.execute(text(claims_ddl(table)))


async def append_claiming(store: EventStore, table: str, key: str, owner: UUID,
                          stream_id: str, expected_version: int,
                          payloads: Sequence[EventPayload],
                          ctx: EventContext) -> AppendResult | None:
    """Claim ``key`` for ``owner`` and append, all or nothing; ``None`` (and nothing appended)
    when the key already belongs to someone. ``table`` is a claims table of this module's."""
    async with store.engine.begin() as conn:
        claimed = await conn.execute(text(f"""
            INSERT INTO {table} VALUES (:n, :p) ON CONFLICT DO NOTHING
            RETURNING patient_id"""), {"n": key, "p": owner})
        if claimed.first() is None:
            await conn.rollback()
            return None
        return await store.append_in(conn, stream_id, expected_version, payloads, ctx)


async def owner_of(store: EventStore, table: str, key: str) -> UUID | None:
    async with store.engine.connect() as conn:
        found = await conn.execute(text(f"SELECT patient_id FROM {table} WHERE national_id = :n"),
                                   {"n": key})
        return found.scalar_one_or_none()
