"""Replay: ``replay(ProjectionRunner(BenchProjection))`` rebuilding the read model from the
topic, against raw aiokafka consuming the same topic (same fetch settings and batch size) and
``copy_records_to_table`` of each batch, in its own transaction, into a table of the same shape.
Both clocks include connecting and starting the consumer."""

from __future__ import annotations

import asyncio
from time import perf_counter

from aiokafka import TopicPartition

from bench.infra import Deadline, pg_connect
from bench.model import EVENTS, ROWS_COLUMNS, ROWS_DDL, BenchProjection, raw_row
from bench.util import Counter, Throughput, phase_timeout
from libs.events.db import make_engine
from libs.events.projection import ProjectionRunner, consumer_for, replay


async def raw_replay(database_url: str, schema: str, bootstrap: str, topic: str,
                     partitions: int, n: int, batch: int, counter: Counter) -> Throughput:
    deadline = Deadline(phase_timeout(n), "raw consume")
    t0 = perf_counter()
    conn = await pg_connect(database_url, schema)
    consumer = consumer_for(bootstrap)
    try:
        await conn.execute(ROWS_DDL)
        await conn.execute("TRUNCATE bench_rows")
        await asyncio.wait_for(consumer.start(), 60)
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        done = 0
        while done < n:
            deadline.check()
            got = await consumer.getmany(timeout_ms=200, max_records=batch)
            rows = [raw_row(r.value) for recs in got.values() for r in recs]
            if rows:
                async with conn.transaction():
                    await conn.copy_records_to_table("bench_rows", records=rows,
                                                     columns=ROWS_COLUMNS, schema_name=schema)
                done += len(rows)
                counter.n = done
        elapsed = perf_counter() - t0
        stored = await conn.fetchval("SELECT count(*) FROM bench_rows")
    finally:
        await asyncio.wait_for(consumer.stop(), 30)
        await conn.close()
    if stored != n:
        raise RuntimeError(f"raw replay stored {stored} rows, expected {n}")
    return Throughput(n, elapsed)


async def projection_replay(database_url: str, schema: str, bootstrap: str, topic: str, n: int,
                            batch: int, counter: Counter) -> Throughput:
    engine = make_engine(database_url, schema, pool_size=2)
    runner = ProjectionRunner(BenchProjection(topic), engine, bootstrap, registry=EVENTS,
                              batch_size=batch)

    def on_progress(total: int | None = None, advance: int | None = None) -> None:
        if advance:
            counter.n += advance

    try:
        t0 = perf_counter()
        stats = await asyncio.wait_for(replay(runner, on_progress), phase_timeout(n))
        elapsed = perf_counter() - t0
        conn = await pg_connect(database_url, schema)
        try:
            stored = await conn.fetchval("SELECT count(*) FROM bench_rows")
        finally:
            await conn.close()
    finally:
        await engine.dispose()
    if stored != n or stats.applied != n or stats.dead_lettered:
        raise RuntimeError(f"replay applied {stats.applied}, stored {stored}, dead-lettered "
                           f"{stats.dead_lettered}; expected {n}")
    return Throughput(n, elapsed)
