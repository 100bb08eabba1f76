"""Relay: ``OutboxRelay`` draining a pre-filled outbox to Kafka (from ``run()`` until
``stats.published == N``), against raw aiokafka producing the same keys and values with the
relay's producer settings (idempotent, acks=all, linger 5 ms, 256 KiB batches): ``send()`` a
batch of the relay's size, then await its futures."""

from __future__ import annotations

import asyncio
from time import perf_counter


from bench.infra import Deadline, pg_connect
from bench.util import Counter, Throughput, phase_timeout
from libs.events.relay import OutboxRelay, producer_for


async def load_outbox(database_url: str, schema: str) -> list[tuple[bytes, bytes]]:
    """The (key, value) pairs the relay will send, in outbox order (read before the clock)."""
    conn = await pg_connect(database_url, schema)
    try:
        rows = await conn.fetch("""
            SELECT o.key, e.envelope::text FROM outbox o JOIN events e USING (position)
             WHERE o.published_at IS NULL ORDER BY o.position""", timeout=600)
    finally:
        await conn.close()
    return [(r[0], r[1].encode()) for r in rows]


async def raw_publish(bootstrap: str, topic: str, messages: list[tuple[bytes, bytes]],
                      batch: int, counter: Counter) -> Throughput:
    deadline = Deadline(phase_timeout(len(messages)), "raw produce")
    t0 = perf_counter()
    producer = producer_for(bootstrap)
    await asyncio.wait_for(producer.start(), 60)
    try:
        for i in range(0, len(messages), batch):
            futures = [await producer.send(topic, value, key=key)
                       for key, value in messages[i:i + batch]]
            await asyncio.wait_for(asyncio.gather(*futures), max(1.0, deadline.left()))
            counter.n += len(futures)
        elapsed = perf_counter() - t0
    finally:
        await asyncio.wait_for(producer.stop(), 30)
    return Throughput(len(messages), elapsed)


async def relay_publish(database_url: str, schema: str, bootstrap: str, n: int, batch: int,
                        counter: Counter) -> Throughput:
    deadline = Deadline(phase_timeout(n), "relay")
    relay = OutboxRelay(database_url, schema, bootstrap, batch_size=batch, poll_interval_s=0.2)
    t0 = perf_counter()
    task = asyncio.create_task(relay.run())
    try:
        while relay.stats.published < n:
            if task.done():
                task.result()  # raises what stopped it
                raise RuntimeError("relay stopped before publishing everything")
            deadline.check()
            counter.n = relay.stats.published
            await asyncio.sleep(0.005)
        elapsed = perf_counter() - t0
        counter.n = relay.stats.published
    finally:
        relay.stop()
        await asyncio.wait_for(task, 60)
    if relay.stats.published != n or relay.stats.send_failures:
        raise RuntimeError(f"relay published {relay.stats.published} of {n} "
                           f"({relay.stats.send_failures} send failures)")
    return Throughput(n, elapsed)
