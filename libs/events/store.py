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

import asyncpg
from opentelemetry import trace
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from libs.events.db import pooled, setup_turn
from libs.events.envelope import Envelope, utcnow
from libs.events.ports import (AppendResult, CommitPosition, ConcurrencyError, EventContext,
                               Snapshot, StoredEvent, build_envelopes, check_append,
                               claims_table, data_field, trace_carrier)
from libs.events.registry import EventPayload, Registry

# the values crossing the store's boundary live in ports.py (the in-memory store shares them)
__all__ = ["AppendResult", "CommitPosition", "ConcurrencyError", "EventContext", "EventStore",
           "StoredEvent", "StreamAppend", "claims_ddl"]

NOTIFY_CHANNEL = "ehr_outbox"
"""Every store's appends notify this channel with their schema as the payload: the channel is
the database's, so a relay wakes only for its own schema's payload."""
tracer = trace.get_tracer("ehr.events.store")


# One statement per append: claim the stream version, insert the events and their outbox rows,
# and notify the relay. A single statement is atomic on its own, so an append that owns its
# transaction costs one round trip. When the claim finds no row (someone else changed the
# stream first) nothing is inserted and ``version`` comes back NULL.
#   $1 stream_id  $2 n  $3 patient_id  $4 expected  $5 event ids  $6 versions  $7 types
#   $8 schema versions  $9 recorded_at  $10 envelopes  $11 topics  $12 key  $13/$14 trace
_CLAIMS = {
    "create": """INSERT INTO streams (stream_id, version, patient_id) VALUES ($1, $2, $3)
                 ON CONFLICT (stream_id) DO NOTHING RETURNING version""",
    "advance": """UPDATE streams SET version = $4::int + $2::int, updated_at = now()
                   WHERE stream_id = $1 AND version = $4::int RETURNING version""",
    # expected_version=None: the version was claimed by an upsert just before, in the same
    # transaction, and is passed in as $4 + $2
    "claimed": """SELECT $4::int + $2::int AS version""",
}
_APPEND = """
WITH claim AS ({claim}),
ev AS (
    INSERT INTO events (event_id, stream_id, stream_version, type, schema_version, patient_id,
                        recorded_at, envelope)
    SELECT x.id, $1, x.v, x.t, x.sv, $3::uuid, $9::timestamptz, x.e::jsonb
      FROM unnest($5::uuid[], $6::int[], $7::text[], $8::int[], $10::text[]) AS x(id, v, t, sv, e)
     WHERE EXISTS (SELECT 1 FROM claim)
    RETURNING position, stream_version),
ob AS (
    INSERT INTO outbox (position, topic, key, traceparent, tracestate)
    SELECT ev.position, y.topic, $12::bytea, $13::text, $14::text
      FROM ev JOIN unnest($6::int[], $11::text[]) AS y(v, topic) ON y.v = ev.stream_version
    RETURNING position)
SELECT (SELECT version FROM claim) AS version,
       (SELECT array_agg(position ORDER BY stream_version) FROM ev) AS positions,
       (SELECT count(*) FROM ob) AS outboxed, $4::int AS base,
       CASE WHEN EXISTS (SELECT 1 FROM claim) THEN pg_notify('{channel}', current_schema())
            END AS notified
"""
_SQL = {mode: _APPEND.format(claim=claim, channel=NOTIFY_CHANNEL) for mode, claim in _CLAIMS.items()}
_UPSERT_STREAM = """INSERT INTO streams (stream_id, version, patient_id) VALUES ($1, $2, $3)
                    ON CONFLICT (stream_id) DO UPDATE
                       SET version = streams.version + $2, updated_at = now()
                    RETURNING version"""


# Many streams in one statement (append_streams_in). Every stream is claimed (created at 0, or
# advanced from its expected version); the events go in only if all claims succeeded, and
# ehr_require_claimed (migration 0002) aborts the whole statement otherwise.
#   $1 stream ids  $2 expected  $3 counts  $4 patients (per stream); $5..$10 per event: ids,
#   stream ids, versions, types, schema versions, patients; $11 recorded_at; $12 envelopes;
#   $13 topics; $14 keys; $15/$16 trace
_APPEND_STREAMS = f"""
WITH req AS (
    SELECT * FROM unnest($1::text[], $2::int[], $3::int[], $4::uuid[]) AS r(s, expected, n, p)),
created AS (
    INSERT INTO streams (stream_id, version, patient_id)
    SELECT s, n, p FROM req WHERE expected = 0
    ON CONFLICT (stream_id) DO NOTHING RETURNING stream_id),
advanced AS (
    UPDATE streams SET version = req.expected + req.n, updated_at = now() FROM req
     WHERE streams.stream_id = req.s AND req.expected > 0 AND streams.version = req.expected
    RETURNING streams.stream_id),
ok AS (SELECT (SELECT count(*) FROM created) + (SELECT count(*) FROM advanced)
              = (SELECT count(*) FROM req) AS claimed),
ev AS (
    INSERT INTO events (event_id, stream_id, stream_version, type, schema_version, patient_id,
                        recorded_at, envelope)
    SELECT x.id, x.s, x.v, x.t, x.sv, x.p, $11::timestamptz, x.e::jsonb
      FROM unnest($5::uuid[], $6::text[], $7::int[], $8::text[], $9::int[], $10::uuid[],
                  $12::text[], $13::text[], $14::bytea[]) AS x(id, s, v, t, sv, p, e, topic, key)
     WHERE (SELECT claimed FROM ok)
    RETURNING position, stream_id, stream_version),
ob AS (
    INSERT INTO outbox (position, topic, key, traceparent, tracestate)
    SELECT ev.position, y.topic, y.key, $15::text, $16::text
      FROM ev JOIN unnest($6::text[], $7::int[], $13::text[], $14::bytea[]) AS y(s, v, topic, key)
        ON y.s = ev.stream_id AND y.v = ev.stream_version
    RETURNING position)
SELECT ehr_require_claimed((SELECT claimed FROM ok)) AS claimed,
       (SELECT count(*) FROM ob) AS outboxed, pg_notify('{NOTIFY_CHANNEL}', current_schema())
           AS notified
"""


@dataclass(frozen=True)
class StreamAppend:
    stream_id: str
    expected_version: int
    payloads: Sequence[EventPayload]
    ctx: EventContext


def entries_query(field: str) -> str:
    """``load_entries``' statement, naming the partial index's predicate: without it PostgreSQL
    read the whole stream (0.45 ms a FHIR create, growing with the record; bench/RESULTS.md)."""
    name = data_field(field)
    return f"""SELECT envelope::text FROM events WHERE stream_id = $1
        AND envelope->'data' ? '{name}' AND (envelope->'data'->>'{name}') = ANY($2::text[])
        ORDER BY stream_version"""


class EventStore:
    def __init__(self, engine: AsyncEngine, registry: Registry,
                 topic_names: Mapping[str, str] | None = None):
        """``topic_names`` renames catalogue topics (a shared cluster's prefix, a test's own
        topics); events go to their payload's catalogue topic otherwise."""
        self.engine = engine
        self.registry = registry
        self.topic_names = dict(topic_names or {})

    async def append(self, stream_id: str, expected_version: int | None,
                     payloads: Sequence[EventPayload], ctx: EventContext) -> AppendResult:
        """Append events to a stream. ``expected_version`` 0 creates the stream; ``None`` appends
        at whatever version the stream has (for streams nobody decides against, such as logs).
        Returns when the events are durable."""
        check_append(payloads, expected_version)
        # the driver connection directly: the append is one statement, and SQLAlchemy's
        # per-statement cost was most of an append's CPU (bench/RESULTS.md)
        async with pooled(self.engine) as conn:
            if expected_version is None:
                async with conn.transaction():
                    return await self._append(conn.fetchrow, stream_id, None, payloads, ctx)
            return await self._append(conn.fetchrow, stream_id, expected_version, payloads, ctx)

    async def append_in(self, conn: AsyncConnection, stream_id: str,
                        expected_version: int | None, payloads: Sequence[EventPayload],
                        ctx: EventContext) -> AppendResult:
        """Append inside a transaction the caller owns (to write several streams atomically)."""
        check_append(payloads, expected_version)

        async def fetchrow(sql: str, *args):
            return (await conn.exec_driver_sql(sql, args)).mappings().first()

        return await self._append(fetchrow, stream_id, expected_version, payloads, ctx)

    async def append_on(self, conn: asyncpg.Connection, stream_id: str,
                        expected_version: int | None, payloads: Sequence[EventPayload],
                        ctx: EventContext) -> AppendResult:
        """``append_in`` on the asyncpg connection ``conn``, in a transaction the caller owns
        (a writer that does its own claims on the driver connection, such as welfare ingest)."""
        check_append(payloads, expected_version)
        return await self._append(conn.fetchrow, stream_id, expected_version, payloads, ctx)

    async def _append(self, fetchrow, stream_id: str, expected: int | None,
                      payloads: Sequence[EventPayload], ctx: EventContext) -> AppendResult:
        n = len(payloads)
        if expected is None:
            claimed = (await fetchrow(_UPSERT_STREAM, stream_id, n, ctx.patient_id))["version"]
            mode, base = "claimed", claimed - n
        else:
            mode, base = ("create" if expected == 0 else "advance"), expected
        carrier = trace_carrier()
        traceparent = carrier.get("traceparent")
        now = utcnow()
        envelopes = build_envelopes(stream_id, base, payloads, ctx, now, traceparent)
        try:
            with tracer.start_as_current_span(
                    "event store append", kind=trace.SpanKind.CLIENT,
                    attributes={"db.system.name": "postgresql", "db.operation.name": "append",
                                "ehr.events": n, "ehr.event_type": envelopes[0].type}):
                row = await fetchrow(
                    _SQL[mode], stream_id, n, ctx.patient_id, base,
                    [e.event_id for e in envelopes], [e.stream_version for e in envelopes],
                    [e.type for e in envelopes], [e.schema_version for e in envelopes], now,
                    [e.model_dump_json() for e in envelopes],
                    [self.topic_names.get(p.topic, p.topic) for p in payloads],
                    envelopes[0].key(), traceparent, carrier.get("tracestate"))
        except (IntegrityError, asyncpg.UniqueViolationError) as exc:
            # (stream_id, stream_version) taken: only an append at expected_version=None that
            # raced a stream created without the streams row could get here
            raise ConcurrencyError(stream_id, expected, -1) from exc
        if row["version"] is None:
            actual = await fetchrow("SELECT version FROM streams WHERE stream_id = $1", stream_id)
            raise ConcurrencyError(stream_id, expected, actual["version"] if actual else 0)
        return AppendResult(stream_id, row["version"], envelopes, tuple(row["positions"]))

    async def append_streams_in(self, conn: asyncpg.Connection,
                                batch: Sequence[StreamAppend]) -> list[AppendResult]:
        """Append to many streams in one statement on the asyncpg connection ``conn`` (for
        writers with many small streams, such as the access log). All or nothing: if any stream
        is not at its expected version the statement aborts and ConcurrencyError is raised.
        Atomic on its own, so it needs no transaction; inside the caller's transaction, that
        transaction is aborted too.
        """
        if not batch:
            return []
        for item in batch:
            check_append(item.payloads, item.expected_version)
            if item.expected_version is None:
                raise ValueError("append_streams_in needs an expected version per stream")
        carrier = trace_carrier()
        traceparent = carrier.get("traceparent")
        now = utcnow()
        results, rows = [], {k: [] for k in ("id", "s", "v", "t", "sv", "p", "e", "topic", "key")}
        for item in batch:
            envs = build_envelopes(item.stream_id, item.expected_version, item.payloads,
                                   item.ctx, now, traceparent)
            for env, p in zip(envs, item.payloads, strict=True):
                for k, v in (("id", env.event_id), ("s", env.stream_id), ("v", env.stream_version),
                             ("t", env.type), ("sv", env.schema_version), ("p", env.patient_id),
                             ("e", env.model_dump_json()),
                             ("topic", self.topic_names.get(p.topic, p.topic)),
                             ("key", env.key())):
                    rows[k].append(v)
            results.append(AppendResult(item.stream_id, item.expected_version + len(envs), envs,
                                        ()))
        with tracer.start_as_current_span(
                "event store append", kind=trace.SpanKind.CLIENT,
                attributes={"db.system.name": "postgresql", "db.operation.name": "append",
                            "ehr.events": len(rows["id"]), "ehr.streams": len(batch)}):
            try:
                await conn.fetchrow(
                    _APPEND_STREAMS, [b.stream_id for b in batch],
                    [b.expected_version for b in batch], [len(b.payloads) for b in batch],
                    [b.ctx.patient_id for b in batch], rows["id"], rows["s"], rows["v"],
                    rows["t"], rows["sv"], rows["p"], now, rows["e"], rows["topic"],
                    rows["key"], traceparent, carrier.get("tracestate"))
            except (asyncpg.SerializationError, asyncpg.UniqueViolationError) as exc:
                raise ConcurrencyError(",".join(b.stream_id for b in batch[:3]), None,
                                       -1) from exc
        return results

    async def version(self, stream_id: str) -> int:
        async with pooled(self.engine) as conn:
            return await conn.fetchval("SELECT version FROM streams WHERE stream_id = $1",
                                       stream_id) or 0

    async def load(self, stream_id: str, after_version: int = 0,
                   up_to_version: int | None = None) -> list[tuple[Envelope, EventPayload]]:
        """The stream's events in order, each upcast to the current schema version. One
        statement on the driver's connection: every decision reads its stream's new events
        here, and through SQLAlchemy that was three round trips (BEGIN, the query, ROLLBACK)."""
        async with pooled(self.engine) as conn:
            rows = await conn.fetch("""
                SELECT envelope::text FROM events
                 WHERE stream_id = $1 AND stream_version > $2
                   AND ($3::int IS NULL OR stream_version <= $3)
                 ORDER BY stream_version""", stream_id, after_version, up_to_version)
        return [self.registry.decode(r[0]) for r in rows]

    async def load_until(self, stream_id: str, as_of: datetime | None = None,
                         ) -> list[tuple[Envelope, EventPayload]]:
        """The stream from its start, up to ``as_of`` (recorded time, inclusive) when given:
        what the store held then, for a record as it stood at a point in time."""
        sql = ("SELECT envelope::text FROM events WHERE stream_id = :s"
               + (" AND recorded_at <= :t" if as_of is not None else "")
               + " ORDER BY stream_version")
        async with self.engine.connect() as conn:
            rows = await conn.execute(text(sql), {"s": stream_id, "t": as_of})
            return [self.registry.decode(r[0]) for r in rows]

    async def load_newest(self, stream_id: str, limit: int, before_version: int | None = None,
                          as_of: datetime | None = None) -> list[Envelope]:
        """At most ``limit`` envelopes of the stream, newest first, below ``before_version`` and
        recorded by ``as_of`` when given: one page of a stream's history, read backwards over
        the ``(stream_id, stream_version)`` key, so a page costs the same however long the
        stream is."""
        async with pooled(self.engine) as conn:
            rows = await conn.fetch("""
                SELECT envelope::text FROM events
                 WHERE stream_id = $1 AND stream_version < $2
                   AND ($3::timestamptz IS NULL OR recorded_at <= $3)
                 ORDER BY stream_version DESC LIMIT $4""",
                stream_id, min(before_version or 2**31 - 1, 2**31 - 1), as_of, limit)
        return [Envelope.model_validate_json(r[0]) for r in rows]

    async def load_entries(self, stream_id: str, field: str, values: Sequence[str],
                           ) -> list[tuple[Envelope, EventPayload]]:
        """The stream's events whose data ``field`` is one of ``values``, in order (an entry and
        its corrections, not the rest of the stream), by the field's ``index_entries``."""
        if not values:
            return []
        async with pooled(self.engine) as conn:
            rows = await conn.fetch(entries_query(field), stream_id, [str(v) for v in values])
        return [self.registry.decode(r[0]) for r in rows]

    async def index_entries(self, field: str) -> None:
        """The index ``load_entries`` by ``field`` uses (created once, by the service's setup)."""
        name = data_field(field)
        async with self.engine.begin() as conn:
            await setup_turn(conn)
            await conn.execute(text(f"""
                CREATE INDEX IF NOT EXISTS events_entry_{name}
                    ON events (stream_id, (envelope->'data'->>'{name}'))
                 WHERE envelope->'data' ? '{name}'"""))

    # --- snapshots: a long stream's state, so a cold load reads only what came after -----------

    async def save_snapshot(self, snapshot: Snapshot) -> None:
        """Keep ``snapshot`` as the stream's newest (an older one than stored is ignored)."""
        async with pooled(self.engine) as conn:
            await conn.execute("""
                INSERT INTO snapshots (stream_id, version, schema, doc)
                VALUES ($1, $2, $3, $4::jsonb)
                ON CONFLICT (stream_id) DO UPDATE
                   SET version = excluded.version, schema = excluded.schema,
                       doc = excluded.doc, taken_at = now()
                 WHERE snapshots.version < excluded.version
                    OR snapshots.schema <> excluded.schema""",
                snapshot.stream_id, snapshot.version, snapshot.schema, snapshot.doc)

    async def load_snapshot(self, stream_id: str, schema: str) -> Snapshot | None:
        async with pooled(self.engine) as conn:
            row = await conn.fetchrow(
                "SELECT version, doc::text FROM snapshots WHERE stream_id = $1 AND schema = $2",
                stream_id, schema)
        return None if row is None else Snapshot(stream_id, row[0], schema, row[1])

    # --- claims: unique keys (national id numbers) claimed with an append ----------------------

    async def create_claims(self, table: str) -> None:
        async with self.engine.begin() as conn:
            await setup_turn(conn)
            await conn.execute(text(claims_ddl(table)))

    async def append_claiming(self, table: str, key: str, owner: UUID, stream_id: str,
                              expected_version: int | None, payloads: Sequence[EventPayload],
                              ctx: EventContext) -> AppendResult | None:
        """Claim ``key`` for ``owner`` and append, in one transaction: ``None``, and nothing
        appended, when the key (or the owner) already has a claim; a ConcurrencyError leaves no
        claim behind."""
        async with pooled(self.engine) as conn, conn.transaction():   # a registration's path
            if await conn.fetchval(f"""INSERT INTO {claims_table(table)} VALUES ($1, $2)
                    ON CONFLICT DO NOTHING RETURNING patient_id""", key, owner) is None:
                return None   # (nothing was written)
            return await self.append_on(conn, stream_id, expected_version, payloads, ctx)

    async def owner_of(self, table: str, key: str) -> UUID | None:
        async with pooled(self.engine) as conn:
            return await conn.fetchval(
                f"SELECT patient_id FROM {claims_table(table)} WHERE national_id = $1", key)

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


def claims_ddl(table: str) -> str:
    """A claims table: each key (national id) has one owner, and each owner one key."""
    return (f"CREATE TABLE IF NOT EXISTS {claims_table(table)} ("
            "national_id text PRIMARY KEY, patient_id uuid NOT NULL UNIQUE)")

