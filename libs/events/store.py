"""The event store: append with an expected version, load a stream, read in commit order.

``append`` writes the events, their outbox rows and the stream's new version in one PostgreSQL
transaction; when it returns, the write is durable and the relay will publish it. Two appends
with the same expected version cannot both win: the stream row is updated ``WHERE version =
expected``, so the loser finds no row and gets :class:`ConcurrencyError` (the unique
``(stream_id, stream_version)`` constraint backs this up).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from opentelemetry import propagate
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from libs.events.consistency import ConsistencyToken
from libs.events.envelope import SYSTEM, Actor, Envelope, new_event_id, utcnow
from libs.events.registry import REGISTRY, EventPayload, Registry

NOTIFY_CHANNEL = "ehr_outbox"


class ConcurrencyError(Exception):
    """The stream is not at the expected version: someone else changed it first."""

    def __init__(self, stream_id: str, expected: int | None, actual: int):
        self.stream_id, self.expected, self.actual = stream_id, expected, actual
        super().__init__(f"stream {stream_id} is at version {actual}, not {expected}")


@dataclass(frozen=True)
class EventContext:
    """What every event of one command shares: the patient, who acted, and why."""

    patient_id: UUID | None
    actor: Actor = SYSTEM
    purpose: str | None = None
    correlation_id: UUID | None = None
    causation_id: UUID | None = None
    occurred_at: datetime | None = None


@dataclass(frozen=True)
class AppendResult:
    stream_id: str
    version: int
    envelopes: tuple[Envelope, ...]
    positions: tuple[int, ...]

    @property
    def token(self) -> ConsistencyToken:
        return ConsistencyToken(self.envelopes[-1].event_id)


@dataclass(frozen=True)
class StoredEvent:
    position: int
    envelope: Envelope


_INSERT_EVENTS = text("""
    INSERT INTO events (event_id, stream_id, stream_version, type, schema_version, patient_id,
                        recorded_at, envelope)
    SELECT * FROM unnest(CAST(:ids AS uuid[]), CAST(:streams AS text[]), CAST(:versions AS int[]),
                         CAST(:types AS text[]), CAST(:schema_versions AS int[]),
                         CAST(:patients AS uuid[]), CAST(:recorded AS timestamptz[]),
                         CAST(:envelopes AS jsonb[]))
    RETURNING position""")

_INSERT_OUTBOX = text("""
    INSERT INTO outbox (position, topic, key, traceparent, tracestate)
    SELECT * FROM unnest(CAST(:positions AS bigint[]), CAST(:topics AS text[]),
                         CAST(:keys AS bytea[]), CAST(:traceparents AS text[]),
                         CAST(:tracestates AS text[]))""")


class EventStore:
    def __init__(self, engine: AsyncEngine, registry: Registry = REGISTRY,
                 topic_names: Mapping[str, str] | None = None):
        """``topic_names`` renames catalogue topics (a shared cluster's prefix, a test's own
        topics); events go to their payload's catalogue topic otherwise."""
        self.engine = engine
        self.registry = registry
        self.topic_names = dict(topic_names or {})

    async def append(self, stream_id: str, expected_version: int | None,
                     payloads: Sequence[EventPayload], ctx: EventContext) -> AppendResult:
        """Append events to a stream. ``expected_version`` 0 creates the stream; ``None`` appends
        at whatever version the stream has (for streams nobody decides against, such as logs)."""
        if not payloads:
            raise ValueError("append needs at least one event")
        async with self.engine.begin() as conn:
            return await self.append_in(conn, stream_id, expected_version, payloads, ctx)

    async def append_in(self, conn: AsyncConnection, stream_id: str,
                        expected_version: int | None, payloads: Sequence[EventPayload],
                        ctx: EventContext) -> AppendResult:
        """Append inside a transaction the caller owns (to write several streams atomically)."""
        n = len(payloads)
        version = await self._claim(conn, stream_id, expected_version, n, ctx.patient_id)
        first = version - n + 1
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        traceparent = carrier.get("traceparent")
        now = utcnow()
        envelopes = tuple(
            Envelope(
                event_id=new_event_id(),
                type=p.event_type,
                schema_version=p.schema_version,
                stream_id=stream_id,
                stream_version=first + i,
                patient_id=ctx.patient_id,
                occurred_at=ctx.occurred_at or now,
                recorded_at=now,
                actor=ctx.actor,
                purpose=ctx.purpose,
                correlation_id=ctx.correlation_id,
                causation_id=ctx.causation_id,
                traceparent=traceparent,
                data=p.model_dump(mode="json"),
            )
            for i, p in enumerate(payloads)
        )
        try:
            rows = await conn.execute(_INSERT_EVENTS, {
                "ids": [e.event_id for e in envelopes],
                "streams": [stream_id] * n,
                "versions": [e.stream_version for e in envelopes],
                "types": [e.type for e in envelopes],
                "schema_versions": [e.schema_version for e in envelopes],
                "patients": [e.patient_id for e in envelopes],
                "recorded": [now] * n,
                "envelopes": [e.model_dump_json() for e in envelopes],
            })
        except IntegrityError as exc:  # (stream_id, stream_version) taken: a lost race
            if "events_stream_version_key" in str(exc.orig):
                raise ConcurrencyError(stream_id, expected_version, -1) from exc
            raise
        positions = tuple(r[0] for r in rows)
        await conn.execute(_INSERT_OUTBOX, {
            "positions": list(positions),
            "topics": [self.topic_names.get(p.topic, p.topic) for p in payloads],
            "keys": [e.key() for e in envelopes],
            "traceparents": [traceparent] * n,
            "tracestates": [carrier.get("tracestate")] * n,
        })
        await conn.execute(text(f"NOTIFY {NOTIFY_CHANNEL}"))
        return AppendResult(stream_id, version, envelopes, positions)

    async def _claim(self, conn: AsyncConnection, stream_id: str, expected: int | None, n: int,
                     patient_id: UUID | None) -> int:
        if expected is None:
            row = await conn.execute(text("""
                INSERT INTO streams (stream_id, version, patient_id) VALUES (:s, :n, :p)
                ON CONFLICT (stream_id) DO UPDATE
                   SET version = streams.version + :n, updated_at = now()
                RETURNING version"""), {"s": stream_id, "n": n, "p": patient_id})
            return row.scalar_one()
        if expected == 0:
            row = await conn.execute(text("""
                INSERT INTO streams (stream_id, version, patient_id) VALUES (:s, :n, :p)
                ON CONFLICT (stream_id) DO NOTHING RETURNING version"""),
                {"s": stream_id, "n": n, "p": patient_id})
        else:
            row = await conn.execute(text("""
                UPDATE streams SET version = :new, updated_at = now()
                 WHERE stream_id = :s AND version = :expected RETURNING version"""),
                {"s": stream_id, "new": expected + n, "expected": expected})
        version = row.scalar_one_or_none()
        if version is None:
            actual = (await conn.execute(text("SELECT version FROM streams WHERE stream_id=:s"),
                                         {"s": stream_id})).scalar_one_or_none() or 0
            raise ConcurrencyError(stream_id, expected, actual)
        return version

    async def version(self, stream_id: str) -> int:
        async with self.engine.connect() as conn:
            v = await conn.execute(text("SELECT version FROM streams WHERE stream_id=:s"),
                                   {"s": stream_id})
            return v.scalar_one_or_none() or 0

    async def load(self, stream_id: str, after_version: int = 0,
                   up_to_version: int | None = None) -> list[tuple[Envelope, EventPayload]]:
        """The stream's events in order, each upcast to the current schema version."""
        sql = ("SELECT envelope::text FROM events WHERE stream_id = :s AND stream_version > :a"
               + (" AND stream_version <= :u" if up_to_version is not None else "")
               + " ORDER BY stream_version")
        async with self.engine.connect() as conn:
            rows = await conn.execute(text(sql), {"s": stream_id, "a": after_version,
                                                  "u": up_to_version})
            return [self.registry.decode(r[0]) for r in rows]

    async def read_all(self, after: CommitPosition | None = None,
                       limit: int = 1000) -> tuple[list[StoredEvent], CommitPosition | None]:
        """Events in global commit order after ``after``. Only rows below the oldest transaction
        still in flight are returned, so an event that commits later is never skipped."""
        after = after or CommitPosition(0, 0)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(text("""
                SELECT transaction_id::text::bigint, position, envelope::text FROM events
                 WHERE (transaction_id, position) > (CAST(CAST(:tx AS text) AS xid8), :pos)
                   AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
                 ORDER BY transaction_id, position LIMIT :limit"""),
                {"tx": str(after.transaction_id), "pos": after.position, "limit": limit})).all()
        if not rows:
            return [], None
        events = [StoredEvent(r[1], Envelope.model_validate(json.loads(r[2]))) for r in rows]
        return events, CommitPosition(rows[-1][0], rows[-1][1])


@dataclass(frozen=True, order=True)
class CommitPosition:
    """A point in the store's global commit order."""

    transaction_id: int
    position: int

    def __str__(self) -> str:
        return f"{self.transaction_id}:{self.position}"
