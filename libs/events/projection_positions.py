"""What a projection has applied, in its read model's database (``projection.py``): the id of
every applied event (``projection_events``: a redelivered or republished event is applied once)
and the next offset of every partition (``projection_positions``: where a restarted runner
seeks). Both are written in the batch's own transaction, so they commit with the read model's
changes or not at all. The same statement tells the service's API processes which events the
batch applied (``NOTIFY ehr_applied:<schema>``, delivered when the transaction commits;
:mod:`libs.events.applied_listener`), so a read-your-writes wait there need not poll."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

import asyncpg
from aiokafka import ConsumerRecord, TopicPartition
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.events.many_streams import channel_sql

APPLIED_CHANNEL = "ehr_applied"
"""A batch notifies ``ehr_applied:<schema>`` (``many_streams.channel_of``); API processes also
listen on ``ehr_applied``, where runners of an older version notified, during a roll-out."""
NAMED_AT_MOST = 200   # event ids a notification names (its payload holds < 8,000 bytes)

_CLAIM = f"""
    WITH moved AS (
        INSERT INTO projection_positions (projection, topic, partition, next_offset)
        SELECT $1::text, t, pa, o FROM unnest($2::text[], $3::int[], $4::bigint[]) AS x(t, pa, o)
        ON CONFLICT (projection, topic, partition)
        DO UPDATE SET next_offset = EXCLUDED.next_offset, updated_at = now()),
    fresh AS (
        INSERT INTO projection_events (projection, event_id)
        SELECT $1::text, e FROM unnest($5::uuid[]) AS e
        ON CONFLICT DO NOTHING RETURNING event_id),
    told AS (SELECT pg_notify({channel_sql(APPLIED_CHANNEL)},
                              current_schema() || ' ' || $1::text || $6::text))
    SELECT fresh.event_id FROM fresh, told"""

# an idempotent projection's batch (``Projection.idempotent``): its positions alone
_MOVE = """
    INSERT INTO projection_positions (projection, topic, partition, next_offset)
    SELECT $1::text, t, pa, o FROM unnest($2::text[], $3::int[], $4::bigint[]) AS x(t, pa, o)
    ON CONFLICT (projection, topic, partition)
    DO UPDATE SET next_offset = EXCLUDED.next_offset, updated_at = now()"""


def _named(event_ids: Sequence[UUID]) -> str:
    """The notification names its schema, projection and event ids (hex), space-separated;
    no ids when there are more than ``NAMED_AT_MOST`` (every waiter of the projection asks
    again, ``libs.events.applied_listener``)."""
    if len(event_ids) > NAMED_AT_MOST:
        return ""
    return "".join(f" {e.hex}" for e in event_ids)


def _next_offsets(records: Sequence[ConsumerRecord]) -> dict[tuple[str, int], int]:
    nxt: dict[tuple[str, int], int] = {}
    for r in records:
        nxt[(r.topic, r.partition)] = max(nxt.get((r.topic, r.partition), 0), r.offset + 1)
    return nxt


async def claim(conn: AsyncConnection | asyncpg.Connection, projection: str,
                event_ids: Sequence[UUID], records: Sequence[ConsumerRecord], *,
                idempotent: bool = False) -> set[UUID]:
    """In one statement: move the positions past ``records``, record ``event_ids`` as
    applied, and notify (at commit) that the new ones are; returns the ids not applied before
    (the others are duplicates). On the driver's connection where the caller has it (the
    runner's batches: no SQLAlchemy work per statement), else through SQLAlchemy. For an
    ``idempotent`` projection only the positions move, and every id is returned: the read
    model's own keys make a duplicate do nothing."""
    nxt = _next_offsets(records)
    moved = (projection, [k[0] for k in nxt], [k[1] for k in nxt], list(nxt.values()))
    if idempotent:
        if isinstance(conn, AsyncConnection):
            await conn.exec_driver_sql(_MOVE, moved)
        else:
            await conn.execute(_MOVE, *moved)
        return set(event_ids)
    args = (*moved, list(event_ids), _named(event_ids))
    if isinstance(conn, AsyncConnection):
        rows = (await conn.exec_driver_sql(_CLAIM, args)).all()
    else:
        rows = await conn.fetch(_CLAIM, *args)
    return {r[0] for r in rows}


async def stored(conn: AsyncConnection, projection: str) -> dict[TopicPartition, int]:
    """Where the runner goes on: the next offset of every partition it has applied."""
    rows = await conn.execute(text(
        "SELECT topic, partition, next_offset FROM projection_positions WHERE projection = :p"),
        {"p": projection})
    return {TopicPartition(t, p): o for t, p, o in rows}


async def forget_events(conn: AsyncConnection, projection: str, event_ids: Sequence[UUID]) -> None:
    """Refused events are not applied: a fixed projection may apply them later."""
    if event_ids:
        await conn.execute(text("""
            DELETE FROM projection_events WHERE projection = :p
               AND event_id = ANY(CAST(:ids AS uuid[]))"""),
            {"p": projection, "ids": list(event_ids)})


async def forget_all(conn: AsyncConnection, projection: str) -> None:
    """Before a rebuild from offset 0."""
    await conn.execute(text("DELETE FROM projection_positions WHERE projection = :p"),
                       {"p": projection})
    await conn.execute(text("DELETE FROM projection_events WHERE projection = :p"),
                       {"p": projection})
