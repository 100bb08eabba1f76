"""Replay: ``replay(ProjectionRunner(BenchProjection))`` rebuilding the read model from the
topic, against raw aiokafka consuming the same topic (same fetch settings and batch size) and
``copy_records_to_table`` of each batch, in its own transaction, into a table of the same shape.
Both clocks include connecting and starting the consumer."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from time import perf_counter

from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.infra import Deadline, pg_connect
from bench.model import ROWS_COLUMNS, ROWS_DDL, BenchProjection, raw_row
from bench.util import Counter
from libs.events.db import make_engine
from libs.events.projection import ProjectionRunner, replay


@dataclass
class ReplayFigures:
    events: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds


def _timeout(n: int) -> float:
    return 120 + n / 200


def raw_consumer(bootstrap: str) -> AIOKafkaConsumer:
    """The runner's consumer settings."""
    return AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                            auto_offset_reset="earliest", isolation_level="read_committed",
                            max_partition_fetch_bytes=4 * 1024 * 1024, fetch_max_wait_ms=100)


async def raw_replay(database_url: str, schema: str, bootstrap: str, topic: str,
                     partitions: int, n: int, batch: int, counter: Counter) -> ReplayFigures:
    deadline = Deadline(_timeout(n), "raw consume")
    t0 = perf_counter()
    conn = await pg_connect(database_url, schema)
    consumer = raw_consumer(bootstrap)
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
    return ReplayFigures(n, elapsed)


async def projection_replay(database_url: str, schema: str, bootstrap: str, topic: str, n: int,
                            batch: int, counter: Counter) -> ReplayFigures:
    engine = make_engine(database_url, schema, pool_size=2)
    runner = ProjectionRunner(BenchProjection(topic), engine, bootstrap, batch_size=batch)

    def on_progress(total: int | None = None, advance: int | None = None) -> None:
        if advance:
            counter.n += advance

    try:
        t0 = perf_counter()
        stats = await asyncio.wait_for(replay(runner, on_progress), _timeout(n))
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
    return ReplayFigures(n, elapsed)
