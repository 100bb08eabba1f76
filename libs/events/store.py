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
from datetime import datetime
from uuid import UUID

import asyncpg
from opentelemetry import trace
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from libs.events.db import pooled, setup_turn
from libs.events import many_streams
from libs.events.envelope import Envelope, utcnow
from libs.events.many_streams import NOTIFY_CHANNEL, StreamAppend, WrittenAppend
from libs.events.ports import (AppendResult, CommitPosition, ConcurrencyError, EventContext,
                               Snapshot, StoredEvent, build_envelopes, check_append,
                               claims_table, data_field, trace_carrier)
from libs.events.registry import EventPayload, Registry
from libs.events.telemetry_hooks import child_span

# the values crossing the store's boundary live in ports.py (the in-memory store shares them)
__all__ = ["NOTIFY_CHANNEL", "AppendResult", "CommitPosition", "ConcurrencyError",
           "EventContext", "EventStore", "StoredEvent", "StreamAppend", "WrittenAppend",
           "claims_ddl"]

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
       CASE WHEN EXISTS (SELECT 1 FROM claim) THEN {notify} END AS notified
"""
_SQL = {mode: _APPEND.format(claim=claim, notify=many_streams.NOTIFY_SQL)
        for mode, claim in _CLAIMS.items()}
_UPSERT_STREAM = """INSERT INTO streams (stream_id, version, patient_id) VALUES ($1, $2, $3)
                    ON CONFLICT (stream_id) DO UPDATE
                       SET version = streams.version + $2, updated_at = now()
                    RETURNING version"""


def entries_query(field: str, several: bool = True) -> str:
    """``load_entries``' statement, naming the partial index's predicate: without it PostgreSQL
    read the whole stream (0.45 ms a FHIR create, growing with the record; bench/RESULTS.md).
    One value (a single create's observation) is compared with ``=``, not ``= ANY``: PostgreSQL
    costs a generic plan for an array of unknown length as for ten values, so a statement first
    run with one kept being planned again at every call (156 µs of the server's CPU a create
    against 20 of execution, ``pg_stat_statements``); with ``=`` it keeps one plan."""
    name = data_field(field)
    match = "= ANY($2::text[])" if several else "= $2::text"
    return f"""SELECT envelope::text FROM events WHERE stream_id = $1
        AND envelope->'data' ? '{name}' AND (envelope->'data'->>'{name}') {match}
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
            with child_span(
                    tracer, "event store append", kind=trace.SpanKind.CLIENT,
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
        """Append to many streams in one statement on the asyncpg connection ``conn``, all or
        nothing (:mod:`libs.events.many_streams`): ConcurrencyError if any stream is not at its
        expected version."""
        if not batch:
            return []
        for item in batch:
            check_append(item.payloads, item.expected_version)
            if item.expected_version is None:
                raise ValueError("append_streams_in needs an expected version per stream")
        carrier, now = trace_carrier(), utcnow()
        envelopes = [build_envelopes(item.stream_id, item.expected_version, item.payloads,
                                     item.ctx, now, carrier.get("traceparent"))
                     for item in batch]
        await many_streams.insert(
            conn, [(b.stream_id, b.expected_version, len(b.payloads), b.ctx.patient_id)
                   for b in batch],
            many_streams.envelope_rows(batch, envelopes, self.topic_names), now, carrier)
        return [AppendResult(b.stream_id, b.expected_version + len(envs), envs, ())
                for b, envs in zip(batch, envelopes, strict=True)]

    async def append_written_in(self, conn: asyncpg.Connection,
                                batch: Sequence[WrittenAppend], later: bool = False,
                                tell: bool = True) -> None:
        """``append_streams_in`` for events already in their JSON form (the access log's);
        ``later``: nobody waits to see them published, so the relay takes them within
        ``relay_later_s`` with what else came (``many_streams.LATER``); ``tell=False``: no
        notification at all (the writer told the relay a moment ago)."""
        if not batch:
            return
        for item in batch:
            check_append(item.events, item.expected_version)
            if item.expected_version is None:
                raise ValueError("append_written_in needs an expected version per stream")
        carrier, now = trace_carrier(), utcnow()
        await many_streams.insert(
            conn, [(b.stream_id, b.expected_version, len(b.events), b.ctx.patient_id)
                   for b in batch],
            many_streams.written_rows(batch, self.topic_names, now, carrier.get("traceparent")),
            now, carrier, later, tell)

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
        several = len(values) > 1
        wanted = [str(v) for v in values] if several else str(values[0])
        async with pooled(self.engine) as conn:
            rows = await conn.fetch(entries_query(field, several), stream_id, wanted)
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

