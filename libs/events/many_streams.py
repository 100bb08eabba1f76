"""Appends to many streams in one statement (``EventStore.append_streams_in`` and
``append_written_in``), for writers with many small streams: the access log, welfare ingest.

Every stream is claimed (created at 0, or advanced from its expected version); the events and
their outbox rows go in only if all claims succeeded, and ``ehr_require_claimed`` (migration
0002) aborts the whole statement otherwise. One statement is atomic on its own, so it needs no
transaction; inside the caller's transaction, that transaction is aborted too.

**Written events.** A writer whose events are right by construction can hand the store their
``data`` as JSON (:class:`Written`) instead of payload models: :func:`envelope_json` writes the
envelope around it with orjson, the document ``Envelope.model_dump_json`` writes
(tests/events/test_many_streams.py compares the two). The access log does, one event per
request served: without validating each entry as ``AccessLogged``, dumping it for the
envelope, validating the envelope and dumping that, the writer's work per entry went from 33 to
20 µs (bench/RESULTS.md, issue 17).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any
from uuid import UUID

import asyncpg
import orjson
from opentelemetry import trace

from libs.events.envelope import Actor, Envelope, new_event_id
from libs.events.ports import ConcurrencyError, EventContext
from libs.events.registry import EventPayload
from libs.events.telemetry_hooks import child_span

NOTIFY_CHANNEL = "ehr_outbox"
"""A store's appends notify ``ehr_outbox:<schema>`` (:func:`channel_of`) with their schema as
the payload; relays also listen on ``ehr_outbox`` itself, where writers of an older version
notified (one channel for the whole database) during a roll-out."""
SCHEMA_CHARS = 48
"""A channel names at most 63 bytes: the schema's first 48 characters name its channels."""


def channel_of(base: str, schema: str) -> str:
    """``base``'s channel for one schema. PostgreSQL still wakes every listening connection of
    the database at every notification, but sends it (and so wakes the process) only where
    the channel is listened to: a relay or API was woken by every other schema's appends and
    batches, at every write (bench/RESULTS.md). Schemas alike in their first
    :data:`SCHEMA_CHARS` characters share a channel: a wake-up, the payload still decides."""
    return f"{base}:{schema[:SCHEMA_CHARS]}"


def channel_sql(base: str) -> str:
    """:func:`channel_of` in SQL, for the schema the statement runs in."""
    return f"'{base}:' || left(current_schema(), {SCHEMA_CHARS})"


NOTIFY_SQL = f"pg_notify({channel_sql(NOTIFY_CHANNEL)}, current_schema())"
"""An append's notification to its relay (its schema's channel, the schema as payload)."""
LATER = ":later"
"""Appended to the schema in the payload of an append nobody waits to see published (the access
log's, ``append_written_in(later=True)``): its relay drains it within ``relay_later_s``, with
whatever else came, instead of at once (``libs/events/relay.py``)."""
tracer = trace.get_tracer("ehr.events.store")

#   $1 stream ids  $2 expected  $3 counts  $4 patients (per stream); $5..$10 per event: ids,
#   stream ids, versions, types, schema versions, patients; $11 recorded_at; $12 envelopes;
#   $13 topics; $14 keys; $15/$16 trace
APPEND_STREAMS = f"""
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
       (SELECT count(*) FROM ob) AS outboxed, {NOTIFY_SQL} AS notified
"""
APPEND_STREAMS_LATER = APPEND_STREAMS.replace(
    NOTIFY_SQL, NOTIFY_SQL.replace("current_schema())", f"current_schema() || '{LATER}')"))
APPEND_STREAMS_QUIET = APPEND_STREAMS.replace(NOTIFY_SQL, "NULL")
"""An append that tells no one: rows of a writer that told its relay of its rows a moment ago
(the access log's, ``libs/audit/log.py``). Every notification wakes every listening connection
of the database, whatever its channel (about 15 µs of PostgreSQL's CPU each: bench/RESULTS.md)."""
assert len({APPEND_STREAMS, APPEND_STREAMS_LATER, APPEND_STREAMS_QUIET}) == 3


@dataclass(frozen=True)
class StreamAppend:
    stream_id: str
    expected_version: int
    payloads: Sequence[EventPayload]
    ctx: EventContext


@dataclass(frozen=True, slots=True)
class Written:
    """An event already in its JSON form: ``data`` is the object its payload model's JSON
    form would be (``kind.model_dump_json()``'s fields), written by a writer that built it
    right (the store does not validate it)."""

    kind: type[EventPayload]
    data: bytes


@dataclass(frozen=True)
class WrittenAppend:
    stream_id: str
    expected_version: int
    events: Sequence[Written]
    ctx: EventContext


@dataclass
class Rows:
    """The per-event arrays of :data:`APPEND_STREAMS` ($5–$10, $12–$14)."""

    id: list[UUID] = field(default_factory=list)
    s: list[str] = field(default_factory=list)
    v: list[int] = field(default_factory=list)
    t: list[str] = field(default_factory=list)
    sv: list[int] = field(default_factory=list)
    p: list[UUID | None] = field(default_factory=list)
    e: list[str] = field(default_factory=list)
    topic: list[str] = field(default_factory=list)
    key: list[bytes] = field(default_factory=list)

    def add(self, event_id: UUID, stream_id: str, version: int, event_type: str,
            schema_version: int, patient_id: UUID | None, envelope: str, topic: str,
            key: bytes) -> None:
        self.id.append(event_id)
        self.s.append(stream_id)
        self.v.append(version)
        self.t.append(event_type)
        self.sv.append(schema_version)
        self.p.append(patient_id)
        self.e.append(envelope)
        self.topic.append(topic)
        self.key.append(key)


@lru_cache(maxsize=256)
def _actor(actor: Actor) -> dict[str, Any]:
    return actor.model_dump(mode="json")


def _text(value: UUID | None) -> str | None:
    return None if value is None else str(value)


def envelope_json(event_id: UUID, kind: type[EventPayload], stream_id: str, version: int,
                  ctx: EventContext, now: datetime, traceparent: str | None,
                  data: bytes) -> bytes:
    """The envelope of a :class:`Written` event, as ``Envelope.model_dump_json`` writes it."""
    return orjson.dumps({
        "event_id": str(event_id), "type": kind.event_type,
        "schema_version": kind.schema_version, "stream_id": stream_id,
        "stream_version": version, "patient_id": _text(ctx.patient_id),
        "occurred_at": ctx.occurred_at or now, "recorded_at": now, "actor": _actor(ctx.actor),
        "purpose": ctx.purpose, "correlation_id": _text(ctx.correlation_id),
        "causation_id": _text(ctx.causation_id), "traceparent": traceparent,
        "data": orjson.Fragment(data)}, option=orjson.OPT_UTC_Z)


def written_rows(batch: Sequence[WrittenAppend], topic_names: Mapping[str, str],
                 now: datetime, traceparent: str | None) -> Rows:
    rows = Rows()
    for item in batch:
        key = (str(item.ctx.patient_id) if item.ctx.patient_id else item.stream_id).encode()
        for i, w in enumerate(item.events):
            event_id, version = new_event_id(), item.expected_version + 1 + i
            rows.add(event_id, item.stream_id, version, w.kind.event_type,
                     w.kind.schema_version, item.ctx.patient_id,
                     envelope_json(event_id, w.kind, item.stream_id, version, item.ctx, now,
                                   traceparent, w.data).decode(),
                     topic_names.get(w.kind.topic, w.kind.topic), key)
    return rows


def envelope_rows(batch: Sequence[StreamAppend], envelopes: Sequence[Sequence[Envelope]],
                  topic_names: Mapping[str, str]) -> Rows:
    rows = Rows()
    for item, envs in zip(batch, envelopes, strict=True):
        for env, p in zip(envs, item.payloads, strict=True):
            rows.add(env.event_id, env.stream_id, env.stream_version, env.type,
                     env.schema_version, env.patient_id, env.model_dump_json(),
                     topic_names.get(p.topic, p.topic), env.key())
    return rows


async def insert(conn: asyncpg.Connection, streams: Sequence[tuple[str, int, int, UUID | None]],
                 rows: Rows, now: datetime, carrier: Mapping[str, str],
                 later: bool = False, tell: bool = True) -> None:
    """Run :data:`APPEND_STREAMS` for ``streams`` (id, expected version, events, patient);
    ``later``: :data:`APPEND_STREAMS_LATER`, whose notification does not hurry the relay;
    ``tell=False``: :data:`APPEND_STREAMS_QUIET`, no notification at all."""
    with child_span(
            tracer, "event store append", kind=trace.SpanKind.CLIENT,
            attributes={"db.system.name": "postgresql", "db.operation.name": "append",
                        "ehr.events": len(rows.id), "ehr.streams": len(streams)}):
        try:
            await conn.fetchrow(
                APPEND_STREAMS_QUIET if not tell else APPEND_STREAMS_LATER if later
                else APPEND_STREAMS,
                [s[0] for s in streams], [s[1] for s in streams],
                [s[2] for s in streams], [s[3] for s in streams], rows.id, rows.s, rows.v,
                rows.t, rows.sv, rows.p, now, rows.e, rows.topic, rows.key,
                carrier.get("traceparent"), carrier.get("tracestate"))
        except (asyncpg.SerializationError, asyncpg.UniqueViolationError) as exc:
            raise ConcurrencyError(",".join(s[0] for s in streams[:3]), None, -1) from exc
