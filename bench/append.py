"""Append: ``EventStore.append`` (one event per append, its own transaction) from N concurrent
writers, against raw asyncpg doing the same commit on N connections: claim the stream row
(``INSERT ... ON CONFLICT DO NOTHING`` for a new stream, ``UPDATE ... WHERE version =
expected`` after), insert the event, insert its outbox row, ``NOTIFY``, commit."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from time import perf_counter

from sqlalchemy import text

from bench.infra import pg_connect
from bench.model import BASE_TOPIC, Measured, Slot, payload_of, plan, raw_envelope
from bench.util import Counter, pct
from libs.events.db import make_engine
from libs.events.envelope import Actor, new_event_id, utcnow
from libs.events.store import NOTIFY_CHANNEL, EventContext, EventStore
from bench.model import EVENTS as BENCH_EVENTS

ACTOR = Actor(kind="system", id="bench")


@dataclass
class AppendFigures:
    events: int
    seconds: float
    latencies: list[float]

    @property
    def rate(self) -> float:
        return self.events / self.seconds

    def p(self, q: float) -> float:
        return pct(self.latencies, q) * 1000  # ms


def _timeout(n: int) -> float:
    return 120 + n / 100  # far beyond any plausible rate; only a hang trips it


async def store_append(database_url: str, schema: str, topic: str, n: int, writers: int,
                       counter: Counter) -> AppendFigures:
    engine = make_engine(database_url, schema, pool_size=writers)
    store = EventStore(engine, BENCH_EVENTS, topic_names={BASE_TOPIC: topic})
    slots = plan(n, writers)
    latencies: list[float] = []

    async def hold() -> None:  # open every pooled connection before the clock starts
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
            await asyncio.sleep(0.1)

    async def writer(mine: list[Slot]) -> None:
        for s in mine:
            payload = payload_of(s.seq)
            ctx = EventContext(patient_id=s.patient_id, actor=ACTOR)
            t0 = perf_counter()
            await store.append(s.stream_id, s.expected, [payload], ctx)
            latencies.append(perf_counter() - t0)
            counter.n += 1

    try:
        await asyncio.wait_for(asyncio.gather(*(hold() for _ in range(writers))), 60)
        t0 = perf_counter()
        await asyncio.wait_for(asyncio.gather(*(writer(m) for m in slots)), _timeout(n))
        elapsed = perf_counter() - t0
    finally:
        await engine.dispose()
    return AppendFigures(n, elapsed, latencies)


CLAIM_NEW = """INSERT INTO streams (stream_id, version, patient_id) VALUES ($1, $2, $3)
               ON CONFLICT (stream_id) DO NOTHING RETURNING version"""
CLAIM_NEXT = """UPDATE streams SET version = $2, updated_at = now()
                 WHERE stream_id = $1 AND version = $3 RETURNING version"""
INSERT_EVENT = """INSERT INTO events (event_id, stream_id, stream_version, type, schema_version,
                                      patient_id, recorded_at, envelope)
                  VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING position"""
INSERT_OUTBOX = "INSERT INTO outbox (position, topic, key) VALUES ($1, $2, $3)"
NOTIFY = f"NOTIFY {NOTIFY_CHANNEL}"


async def raw_commit(conn, s: Slot, topic: str) -> tuple:
    """One append the raw way; returns (event_id, envelope JSON, key) for a dual write."""
    event_id, now = new_event_id(), utcnow()
    envelope = raw_envelope(event_id, s, now)
    key = str(s.patient_id).encode()
    async with conn.transaction():
        if s.expected == 0:
            v = await conn.fetchval(CLAIM_NEW, s.stream_id, 1, s.patient_id)
        else:
            v = await conn.fetchval(CLAIM_NEXT, s.stream_id, s.expected + 1, s.expected)
        if v is None:
            raise RuntimeError(f"{s.stream_id} is not at version {s.expected}")
        position = await conn.fetchval(INSERT_EVENT, event_id, s.stream_id, s.expected + 1,
                                       Measured.event_type, Measured.schema_version,
                                       s.patient_id, now, envelope)
        await conn.execute(INSERT_OUTBOX, position, topic, key)
        await conn.execute(NOTIFY)
    return event_id, envelope, key


async def raw_append(database_url: str, schema: str, topic: str, n: int, writers: int,
                     counter: Counter) -> AppendFigures:
    slots = plan(n, writers)
    latencies: list[float] = []
    conns = await asyncio.wait_for(
        asyncio.gather(*(pg_connect(database_url, schema) for _ in range(writers))), 60)

    async def writer(conn, mine: list[Slot]) -> None:
        for s in mine:
            t0 = perf_counter()
            await raw_commit(conn, s, topic)
            latencies.append(perf_counter() - t0)
            counter.n += 1

    try:
        t0 = perf_counter()
        await asyncio.wait_for(asyncio.gather(*(writer(c, m) for c, m in zip(conns, slots))),
                               _timeout(n))
        elapsed = perf_counter() - t0
    finally:
        for c in conns:
            await asyncio.wait_for(c.close(), 10)
    return AppendFigures(n, elapsed, latencies)


async def verify(database_url: str, schema: str, n: int) -> None:
    conn = await pg_connect(database_url, schema)
    try:
        got = await conn.fetchval("SELECT count(*) FROM events")
        out = await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
    finally:
        await conn.close()
    if got != n or out != n:
        raise RuntimeError(f"{schema}: {got} events, {out} unpublished outbox rows; expected {n}")


