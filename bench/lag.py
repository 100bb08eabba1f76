"""End-to-end lag: commit → row visible in the projection, at a fixed offered load.

System: this process appends with ``EventStore.append`` on an open-loop schedule (event i is
due at t0 + i/rate, up to ``concurrency`` appends in flight); ``OutboxRelay`` and a
``ProjectionRunner`` run each in their own process (``bench.workers``), as they would deploy.
Lag = time the runner's batch transaction committed − time ``append`` returned (both
``time.time()`` on the same machine).

Baseline (the floor of the infrastructure, no outbox): the same raw asyncpg commit, then the
writer itself produces the event to Kafka (a dual write) and a raw aiokafka consumer process
copies batches into the same table. Same schedule, same consumer settings.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter

import asyncpg

from bench.append import ACTOR, raw_commit
from bench.infra import Deadline, PARTITIONS, Resources, pg_connect, unique
from bench.model import BASE_TOPIC, Slot, payload_of, plan
from libs.events.relay import producer_for
from bench.util import Child, Counter, CpuMeter, pct
from libs.events.db import asyncpg_dsn, make_engine
from libs.events.store import EventContext, EventStore
from bench.model import EVENTS as BENCH_EVENTS


@dataclass
class LagFigures:
    lags: list[float]  # seconds, commit → visible, measured window only
    from_due: list[float]  # seconds, the time the event was due (schedule) → visible
    segments: dict[str, list[float]]  # the same events' lag split at send and receive
    offered: float
    achieved: float
    max_slip_ms: float
    warmup_s: float
    seconds: float
    cpu: dict[str, float]

    def p(self, q: float) -> float:
        return pct(self.lags, q) * 1000

    def p_due(self, q: float) -> float:
        return pct(self.from_due, q) * 1000

    def split(self) -> str:
        return "; ".join(f"{k} p50 {pct(v, 50) * 1000:.1f} / p99 {pct(v, 99) * 1000:.1f} ms"
                         for k, v in self.segments.items())


async def open_loop(slots: list[Slot], rate: float, concurrency: int, counter: Counter,
                    one: Callable[[Slot], Awaitable[tuple[str, float]]],
                    ) -> tuple[dict[str, float], dict[str, float], float, float]:
    """Run ``one`` on schedule (it returns the event id and the time its commit returned);
    return {event_id: commit time}, {event_id: time it was due}, the achieved rate and the
    worst lateness of a start (s). A start is late when ``concurrency`` appends are already in
    flight or the process is short of CPU: the lag from the due time counts that wait."""
    committed: dict[str, float] = {}
    due_at: dict[str, float] = {}
    sem = asyncio.Semaphore(concurrency)
    tasks: set[asyncio.Task] = set()
    slip = 0.0

    async def run(s: Slot, due_wall: float) -> None:
        try:
            event_id, at = await one(s)
            committed[event_id] = at
            due_at[event_id] = due_wall
            counter.n += 1
        finally:
            sem.release()

    start = perf_counter() + 0.05
    start_wall = time.time() + (start - perf_counter())
    for i, s in enumerate(slots):
        due = start + i / rate
        delay = due - perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        await asyncio.wait_for(sem.acquire(), 30)
        slip = max(slip, perf_counter() - due)
        t = asyncio.create_task(run(s, start_wall + i / rate))
        tasks.add(t)
        t.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.wait_for(asyncio.gather(*tasks), 60)
    elapsed = perf_counter() - start
    return committed, due_at, len(slots) / elapsed, slip


async def _wait_rows(database_url: str, schema: str, n: int, timeout_s: float = 120) -> None:
    deadline = Deadline(timeout_s, f"waiting for {n} rows in {schema}.bench_rows")
    conn = await pg_connect(database_url, schema)
    try:
        while True:
            exists = await conn.fetchval("SELECT to_regclass('bench_rows') IS NOT NULL")
            if exists and await conn.fetchval("SELECT count(*) FROM bench_rows") >= n:
                return
            deadline.check()
            await asyncio.sleep(0.25)
    finally:
        await conn.close()


def _figures(committed: dict[str, float], due_at: dict[str, float],
             visible: dict[str, list[float]], slots: list[Slot], rate: float, warmup_s: float,
             seconds: float, achieved: float, slip: float, ids: dict[int, str], first: str,
             cpu: dict[str, float]) -> LagFigures:
    skip = int(warmup_s * rate)
    missing = [i for i in committed if i not in visible]
    if missing:
        raise RuntimeError(f"{len(missing)} committed events never became visible")
    measured = [ids[s.seq] for s in slots[skip:]]
    lags = [visible[i][2] - committed[i] for i in measured]
    from_due = [visible[i][2] - due_at[i] for i in measured]
    segments = {
        first: [visible[i][0] - committed[i] for i in measured],
        "send→received": [visible[i][1] - visible[i][0] for i in measured],
        "received→applied": [visible[i][2] - visible[i][1] for i in measured],
    }
    return LagFigures(lags, from_due, segments, rate, achieved, slip * 1000, warmup_s, seconds,
                      cpu)


async def system_lag(res: Resources, workdir: Path, rate: float, seconds: float,
                     warmup_s: float, concurrency: int, counter: Counter) -> LagFigures:
    uid = unique()
    schema = await res.schema(f"bench_lag_{uid}")
    topic = await res.topic(f"bench.lag.{uid}")
    n = int(rate * (seconds + warmup_s))
    slots = plan(n, 1)[0]
    out = workdir / f"lag-{uid}.json"
    relay = Child("relay", ["relay", res.database_url, schema, res.bootstrap],
                  workdir / f"relay-{uid}.log")
    proj = Child("projection", ["projection", res.database_url, schema, res.bootstrap, topic,
                                str(out)], workdir / f"projection-{uid}.log")
    engine = make_engine(res.database_url, schema, pool_size=concurrency)
    store = EventStore(engine, BENCH_EVENTS, topic_names={BASE_TOPIC: topic})
    ids: dict[int, str] = {}

    async def one(s: Slot) -> tuple[str, float]:
        r = await store.append(s.stream_id, s.expected, [payload_of(s.seq)],
                               EventContext(patient_id=s.patient_id, actor=ACTOR))
        at = time.time()
        ids[s.seq] = str(r.envelopes[0].event_id)
        return ids[s.seq], at

    try:
        await relay.start()
        await proj.start()
        meter = CpuMeter({os.getpid(): "writer (bench process)", relay.pid: "relay process",
                          proj.pid: "projection process"})
        committed, due_at, achieved, slip = await open_loop(slots, rate, concurrency, counter,
                                                            one)
        cpu = meter.stop()
        await _wait_rows(res.database_url, schema, n)
    finally:
        await proj.stop()
        await relay.stop()
        await engine.dispose()
    visible = json.loads(out.read_text())
    return _figures(committed, due_at, visible, slots, rate, warmup_s, seconds, achieved, slip,
                    ids, "commit→relay send", cpu)


async def raw_lag(res: Resources, workdir: Path, rate: float, seconds: float, warmup_s: float,
                  concurrency: int, counter: Counter) -> LagFigures:
    uid = unique()
    schema = await res.schema(f"bench_lagraw_{uid}")
    topic = await res.topic(f"bench.lagraw.{uid}")
    n = int(rate * (seconds + warmup_s))
    slots = plan(n, 1)[0]
    out = workdir / f"lagraw-{uid}.json"
    consumer = Child("raw consumer", ["rawconsumer", res.database_url, schema, res.bootstrap,
                                      topic, str(PARTITIONS), str(out)],
                     workdir / f"rawconsumer-{uid}.log")
    pool = await asyncpg.create_pool(asyncpg_dsn(res.database_url), min_size=concurrency,
                                     max_size=concurrency, timeout=30,
                                     server_settings={"search_path": schema})
    producer = producer_for(res.bootstrap)
    acks: list[asyncio.Future] = []
    ids: dict[int, str] = {}

    async def one(s: Slot) -> tuple[str, float]:
        async with pool.acquire() as conn:
            event_id, envelope, key = await raw_commit(conn, s, topic)
        at = time.time()
        ids[s.seq] = str(event_id)
        acks.append(await producer.send(topic, envelope.encode(), key=key))
        return ids[s.seq], at

    try:
        await asyncio.wait_for(producer.start(), 60)
        await consumer.start()
        meter = CpuMeter({os.getpid(): "writer (bench process)",
                          consumer.pid: "raw consumer process"})
        committed, due_at, achieved, slip = await open_loop(slots, rate, concurrency, counter,
                                                            one)
        cpu = meter.stop()
        await asyncio.wait_for(asyncio.gather(*acks), 60)
        await _wait_rows(res.database_url, schema, n)
    finally:
        await consumer.stop()
        await asyncio.wait_for(producer.stop(), 30)
        await asyncio.wait_for(pool.close(), 30)
    visible = json.loads(out.read_text())
    return _figures(committed, due_at, visible, slots, rate, warmup_s, seconds, achieved, slip,
                    ids, "commit→send", cpu)
