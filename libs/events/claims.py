"""Appending events that claim a unique key (a national id number for a patient) in the same
transaction, so one key never comes to belong to two streams.

The claiming itself is the store's (``EventStore.append_claiming``, and the in-memory store's
twin), so the write side reaches no SQL; these functions are kept for callers that name them.
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from libs.events.ports import AppendResult, EventContext, EventStorePort
from libs.events.registry import EventPayload
from libs.events.store import claims_ddl

__all__ = ["append_claiming", "claims_ddl", "create_claims_table", "owner_of"]


async def create_claims_table(store: EventStorePort, table: str) -> None:
    await store.create_claims(table)


async def append_claiming(store: EventStorePort, table: str, key: str, owner: UUID,
                          stream_id: str, expected_version: int | None,
                          payloads: Sequence[EventPayload],
                          ctx: EventContext) -> AppendResult | None:
    """Claim ``key`` for ``owner`` and append, all or nothing; ``None`` (and nothing appended)
    when the key already belongs to someone."""
    return await store.append_claiming(table, key, owner, stream_id, expected_version,
                                       payloads, ctx)


async def owner_of(store: EventStorePort, table: str, key: str) -> UUID | None:
    return await store.owner_of(table, key)
