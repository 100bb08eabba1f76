"""Processes of the lag benchmark, each in its own interpreter (two cores: the writer, the relay
and the consumer must not share one GIL and one event loop).

    python -m bench.workers relay URL SCHEMA BOOTSTRAP
    python -m bench.workers projection URL SCHEMA BOOTSTRAP TOPIC OUT_JSON
    python -m bench.workers rawconsumer URL SCHEMA BOOTSTRAP TOPIC PARTITIONS OUT_JSON

Each prints READY on stdout once it is serving, runs until SIGTERM, then exits. The consumers
first write ``{event_id: [sent, received, visible]}`` to OUT_JSON (unix times): *sent* is the
record's Kafka CreateTime (stamped by the producer at ``send()``), *received* is when the batch
holding it reached the apply step, *visible* is right after the transaction that applied it
committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
import time

from aiokafka import TopicPartition

from bench.model import EVENTS, ROWS_COLUMNS, ROWS_DDL, BenchProjection, raw_row
from libs.events.projection import consumer_for
from bench.infra import pg_connect
from libs.config import Settings
from libs.events.db import make_engine
from libs.events.projection import ProjectionRunner
from libs.events.relay import OutboxRelay
from libs.kernel.heap import settle_heap
from libs.kernel.loop import run_on_uvloop


def ready() -> None:
    sys.stdout.write("READY\n")
    sys.stdout.flush()


class StampingRunner(ProjectionRunner):
    """The library's runner, unchanged, noting when each batch's transaction has committed."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.visible: dict[str, list[float]] = {}

    async def apply_records(self, records, *decoded) -> None:
        received = time.time()
        await super().apply_records(records, *decoded)
        now = time.time()
        for r in records:
            self.visible[json.loads(r.value)["event_id"]] = [r.timestamp / 1000, received, now]


async def _until_term() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    await stop.wait()


async def _cancel(task: asyncio.Task) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await asyncio.wait_for(task, 10)


async def relay(url: str, schema: str, bootstrap: str) -> None:
    s = Settings()
    r = OutboxRelay(url, schema, bootstrap, batch_size=s.relay_batch_size,   # as deployed
                    poll_interval_s=s.relay_poll_interval_s, linger_s=s.relay_linger_s,
                    later_s=s.relay_later_s)
    task = asyncio.create_task(r.run())
    deadline = time.monotonic() + 60
    while not r.stats.leader:
        if task.done() or time.monotonic() > deadline:
            raise SystemExit("relay did not become active")
        await asyncio.sleep(0.02)
    ready()
    await _until_term()
    r.stop()
    await asyncio.wait_for(task, 30)


async def projection(url: str, schema: str, bootstrap: str, topic: str, out: str) -> None:
    engine = make_engine(url, schema, pool_size=2)
    runner = StampingRunner(BenchProjection(topic), engine, bootstrap, registry=EVENTS,
                            batch_size=Settings().projection_batch_size)
    await asyncio.wait_for(runner.start(), 60)
    task = asyncio.create_task(runner.run())
    ready()
    await _until_term()
    await _cancel(task)
    await asyncio.wait_for(runner.stop(), 30)
    await engine.dispose()
    with open(out, "w") as f:
        json.dump(runner.visible, f)


async def rawconsumer(url: str, schema: str, bootstrap: str, topic: str, partitions: str,
                      out: str) -> None:
    conn = await pg_connect(url, schema)
    await conn.execute(ROWS_DDL)
    consumer = consumer_for(bootstrap)
    await asyncio.wait_for(consumer.start(), 60)
    tps = [TopicPartition(topic, p) for p in range(int(partitions))]
    consumer.assign(tps)
    await consumer.seek_to_beginning(*tps)
    visible: dict[str, list[float]] = {}
    batch = Settings().projection_batch_size

    async def loop() -> None:
        while True:
            got = await consumer.getmany(timeout_ms=200, max_records=batch)
            received = time.time()
            recs = [r for rs in got.values() for r in rs]
            rows = [raw_row(r.value) for r in recs]
            if rows:
                async with conn.transaction():
                    await conn.copy_records_to_table("bench_rows", records=rows,
                                                     columns=ROWS_COLUMNS, schema_name=schema)
                now = time.time()
                for row, r in zip(rows, recs):
                    visible[str(row[0])] = [r.timestamp / 1000, received, now]

    task = asyncio.create_task(loop())
    ready()
    await _until_term()
    await _cancel(task)
    await asyncio.wait_for(consumer.stop(), 30)
    await conn.close()
    with open(out, "w") as f:
        json.dump(visible, f)


def main(argv: list[str]) -> None:
    kinds = {"relay": relay, "projection": projection, "rawconsumer": rawconsumer}
    if not argv or argv[0] not in kinds:
        raise SystemExit(__doc__)
    settle_heap()   # as `ehr run relay` / `ehr run projections` do
    run_on_uvloop(kinds[argv[0]](*argv[1:]))   # as they do, ours and the baseline's alike


if __name__ == "__main__":
    main(sys.argv[1:])
