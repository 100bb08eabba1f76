"""The outbox relay: publishes committed events to Kafka, in order per stream.

* Rows are read in ``position`` order. Appends to one stream serialise on its ``streams`` row, so
  a later version always has a higher position: position order is stream order.
* The producer is idempotent with ``acks=all``; a row is marked published only after Kafka
  acknowledged it. A crash between the ack and the mark publishes the event again; consumers
  dedupe by ``event_id``.
* A published row is kept ``keep_published_s`` (``EHR_RELAY_KEEP_PUBLISHED_S``, a day: when an
  event went out is there to see), then deleted, at most ``PRUNE_AT_ONCE`` rows a statement and
  a statement every ``PRUNE_EVERY_S`` while there are fewer: the events table is the record,
  and the outbox no longer grows with every event ever appended.
* One relay per store is active: it holds a PostgreSQL advisory lock on a dedicated connection;
  the others stand by and take over when that connection dies.
* It wakes on LISTEN/NOTIFY and also polls, so a lost notification delays nothing for long.
  Appends notify their schema's channel (``ehr_outbox:<schema>``), so a relay is not sent, and
  not woken by, the writes of every service sharing the database; it also listens on
  ``ehr_outbox``, where writers of an older version notified, and the payload (the writer's
  schema) still decides.
* After a drain that emptied the outbox it lingers ``linger_s`` (``EHR_RELAY_LINGER_S``, 20 ms)
  before it looks again, so on a busy outbox what came meanwhile goes in one batch (a drain per
  group commit was a third of a core for the access log: bench/RESULTS.md). Then it sleeps
  until the next notification, so the first row after a quiet spell goes at once.
* Rows nobody waits to see published (the access log's: ``many_streams.LATER`` in the
  notification) do not wake it: the first of them sets a wake-up ``later_s`` ahead
  (``EHR_RELAY_LATER_S``), and a drain meanwhile takes them along. Under reads the log's rows
  thus go a few hundred at a time, not a few each 20 ms (bench/RESULTS.md).
* While the broker is down, writes go on being acknowledged (they only touch PostgreSQL); the
  relay retries with back-off and drains the backlog in order when the broker returns.
"""

from __future__ import annotations

import asyncio
import logging
import time
import zlib
from dataclasses import dataclass
from functools import lru_cache

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError
from aiokafka.partitioner import DefaultPartitioner, murmur2
from opentelemetry import propagate, trace

from libs.events.db import asyncpg_dsn, check_schema
from libs.events.kafka_client import KafkaAccessError, access_error, client_options
from libs.events.many_streams import LATER, channel_of
from libs.events.store import NOTIFY_CHANNEL
from libs.events.telemetry_hooks import instruments, traced

log = logging.getLogger(__name__)
tracer = trace.get_tracer("ehr.events.relay")


@dataclass
class RelayStats:
    published: int = 0
    batches: int = 0
    send_failures: int = 0
    backlog: int = 0
    leader: bool = False
    drains: int = 0   # times it looked into the outbox
    pruned: int = 0   # published rows deleted after keep_published_s


def producer_for(bootstrap: str) -> AIOKafkaProducer:
    """The relay's producer; ``bootstrap`` carries the security (libs/events/kafka_client.py).
    No linger: a drain hands the producer all its rows before it waits for one, so they are
    batched anyway, and the relay's own linger gathers drains under load; the producer's 5 ms
    only delayed every write's visibility (bench/RESULTS.md)."""
    return AIOKafkaProducer(
        **client_options(bootstrap), acks="all", enable_idempotence=True,
        linger_ms=0, max_batch_size=256 * 1024, request_timeout_ms=15000,
        retry_backoff_ms=200, metadata_max_age_ms=30000, partitioner=partition_for)


@lru_cache(maxsize=65_536)
def _key_hash(key: bytes) -> int:
    return murmur2(key) & 0x7FFFFFFF


def partition_for(key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
    """aiokafka's default partitioner (Kafka's murmur2 of the key, as the Java client's), with
    each key's hash remembered: the key is the patient, whose events a relay sends again and
    again, and aiokafka's murmur2 is pure Python (5 µs a key, 3.7 % of the consent relay and
    projections process under logged reads: bench/RESULTS.md)."""
    if key is None:
        return DefaultPartitioner()(key, all_partitions, available)
    return all_partitions[_key_hash(key) % len(all_partitions)]


PRUNE_AT_ONCE = 5_000   # published rows deleted by one statement (a short lock, little WAL)
PRUNE_EVERY_S = 60.0    # how often the relay looks for rows to prune, unless the last was full
# rows go out in position order, so what may go is a prefix: the statement reads up to the
# first row still to send or sent within the time kept, never the day's rows behind it
_PRUNE = """
    WITH kept AS (SELECT now() - make_interval(secs => $1) AS since),
    first_kept AS (
        SELECT position FROM outbox, kept
         WHERE published_at IS NULL OR published_at >= kept.since
         ORDER BY position LIMIT 1)
    DELETE FROM outbox WHERE position IN (
        SELECT position FROM outbox, kept
         WHERE published_at < kept.since
           AND position < coalesce((SELECT position FROM first_kept), 9223372036854775807)
         ORDER BY position LIMIT $2)"""


class OutboxRelay:
    def __init__(self, database_url: str, schema: str, bootstrap: str, batch_size: int = 500,
                 poll_interval_s: float = 1.0, standby_retry_s: float = 2.0,
                 linger_s: float = 0.0, keep_published_s: float = 86_400.0,
                 later_s: float = 0.0):
        self.dsn = asyncpg_dsn(database_url)
        self.schema = check_schema(schema)
        self.bootstrap = bootstrap
        self.batch_size = batch_size
        self.poll_interval_s = poll_interval_s
        self.standby_retry_s = standby_retry_s
        self.linger_s = linger_s
        self.later_s = later_s
        self._later: asyncio.TimerHandle | None = None   # the wake-up rows appended later set
        self.keep_published_s = keep_published_s
        self._prune_due = 0.0   # monotonic time of the next prune: the first drain prunes
        self.lock_key = zlib.crc32(f"ehr.relay.{schema}".encode())
        self.stats = RelayStats()
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        self._producer: AIOKafkaProducer | None = None
        self._backlog_at = 0.0

    @classmethod
    def from_settings(cls, settings, schema: str) -> OutboxRelay:
        """The relay of ``schema`` as the platform's settings (``libs/config.py``) say."""
        s = settings
        return cls(s.effective_database_url, schema, s.effective_kafka, s.relay_batch_size,
                   s.relay_poll_interval_s, s.relay_standby_retry_s, s.relay_linger_s,
                   s.relay_keep_published_s, s.relay_later_s)

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    async def run(self) -> None:
        """Run until :meth:`stop`; survives database and broker outages."""
        instruments().register_backlog(self.schema, lambda: self.stats.backlog)
        while not self._stop.is_set():
            try:
                await self._run_session()
            except Exception as exc:  # noqa: BLE001 - a session ended from the server side can
                # raise more than OSError/PostgresError/InterfaceError; the relay must come back
                self.stats.leader = False
                log.warning("relay %s: session ended (%s); retrying", self.schema,
                            type(exc).__name__)
                await self._sleep(self.standby_retry_s)
        await self._close_producer()

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._wake.wait(), seconds)
        except asyncio.TimeoutError:
            pass
        self._wake.clear()

    async def _linger(self) -> None:
        """Wait ``linger_s`` unless stopped; a wake-up in between is kept for the next drain."""
        try:
            await asyncio.wait_for(self._stop.wait(), self.linger_s)
        except asyncio.TimeoutError:
            pass

    async def _run_session(self) -> None:
        conn = await asyncpg.connect(self.dsn, server_settings={
            "search_path": self.schema, "application_name": f"ehr-relay-{self.schema}"})
        try:
            while not self._stop.is_set():
                if await conn.fetchval("SELECT pg_try_advisory_lock($1)", self.lock_key):
                    break
                self.stats.leader = False
                await self._sleep(self.standby_retry_s)
            if self._stop.is_set():
                return
            self.stats.leader = True
            log.info("relay %s: active", self.schema)

            unhurried = self.schema + LATER

            def notified(_conn, _pid, _channel, payload: str) -> None:
                # an append's payload is its current_schema(): this schema (checked lower-case,
                # so PostgreSQL names it as written); "": a writer that does not name its schema
                if payload in (self.schema, ""):
                    self._wake.set()
                elif payload == unhurried:
                    self._wake_later()
            for channel in (channel_of(NOTIFY_CHANNEL, self.schema), NOTIFY_CHANNEL):
                await conn.add_listener(channel, notified)   # (the second: older writers)
            while not self._stop.is_set():
                moved = await self._drain_once(conn)
                await self._prune(conn)
                if moved >= self.batch_size or (moved and self.stats.backlog):
                    continue   # more waiting (a full batch, or the rest of one cut short)
                if moved and self.linger_s:
                    # caught up: the next rows wait up to linger_s and go in one batch. Idle,
                    # the first row goes at once; busy, a batch per linger_s
                    await self._linger()
                await self._sleep(self.poll_interval_s)   # a wake-up kept meanwhile: at once
        finally:
            self.stats.leader = False
            if self._later is not None:
                self._later.cancel()
                self._later = None
            await _close_quietly(conn)

    def _wake_later(self) -> None:
        """Rows no one waits for were appended: drain within ``later_s`` (at once without)."""
        if not self.later_s:
            self._wake.set()
        elif self._later is None:
            def due() -> None:
                self._later = None
                self._wake.set()
            self._later = asyncio.get_running_loop().call_later(self.later_s, due)

    async def _drain_once(self, conn: asyncpg.Connection) -> int:
        self.stats.drains += 1
        # pick the batch from the outbox first: a plain join lets the planner scan the events
        # from the start, which grows with every published row (measured in bench/)
        rows = await conn.fetch("""
            WITH batch AS (
                SELECT position, topic, key, traceparent, tracestate FROM outbox
                 WHERE published_at IS NULL ORDER BY position LIMIT $1)
            SELECT b.position, b.topic, b.key, b.traceparent, b.tracestate, e.envelope::text
              FROM batch b JOIN events e USING (position) ORDER BY b.position""",
            self.batch_size)
        if not rows:
            self.stats.backlog = 0
            return 0
        acked = await self._publish(rows)
        if acked:
            await conn.execute("UPDATE outbox SET published_at = now() "
                               "WHERE position = ANY($1::bigint[])", acked)
            self.stats.published += len(acked)
            instruments().published.add(len(acked), {"store": self.schema})
        self.stats.batches += 1
        if len(rows) < self.batch_size:  # all unpublished rows were in this batch
            self.stats.backlog = len(rows) - len(acked)
        elif time.monotonic() - self._backlog_at > self.poll_interval_s:  # counting costs a scan
            self.stats.backlog = await conn.fetchval(
                "SELECT count(*) FROM outbox WHERE published_at IS NULL")
            self._backlog_at = time.monotonic()
        if len(acked) < len(rows):  # the broker failed part-way: back off, then resend the rest
            await self._close_producer()
            await self._sleep(min(5.0, 0.5 * (1 + self.stats.send_failures % 8)))
        return len(acked)

    async def _prune(self, conn: asyncpg.Connection) -> None:
        """Delete rows published more than ``keep_published_s`` ago, ``PRUNE_AT_ONCE`` at
        most; again at the next drain when that many went, else ``PRUNE_EVERY_S`` later."""
        if time.monotonic() < self._prune_due:
            return
        status = await conn.execute(_PRUNE, self.keep_published_s, PRUNE_AT_ONCE)
        deleted = int(status.split()[-1])   # "DELETE <n>"
        self.stats.pruned += deleted
        self._prune_due = 0.0 if deleted >= PRUNE_AT_ONCE else time.monotonic() + PRUNE_EVERY_S

    async def _publish(self, rows) -> list[int]:
        """Send rows in order; return the positions of the acknowledged prefix."""
        futures = []
        try:
            producer = await self._get_producer()
            for row in rows:
                headers = []
                if row["traceparent"]:   # the write was traced: continue its trace
                    carrier = {k: v for k, v in (("traceparent", row["traceparent"]),
                                                 ("tracestate", row["tracestate"])) if v}
                    parent = propagate.extract(carrier)
                    if traced(parent):   # else no span: the write's own trace goes on
                        with tracer.start_as_current_span(
                                f"{row['topic']} publish", context=parent,
                                kind=trace.SpanKind.PRODUCER,
                                attributes={"messaging.system": "kafka",
                                            "messaging.destination.name": row["topic"]}):
                            carrier = {}
                            propagate.inject(carrier)
                    headers = [(k, v.encode()) for k, v in carrier.items()]
                futures.append(await producer.send(row["topic"], row["envelope"].encode(),
                                                   key=row["key"], headers=headers))
        except Exception as exc:  # noqa: BLE001 - broker unreachable before anything was queued
            self.stats.send_failures += 1
            log.warning("relay %s: cannot send (%s)", self.schema,
                        exc if isinstance(exc, KafkaAccessError) else type(exc).__name__)
            for f in futures:
                f.cancel()
            return []
        acked: list[int] = []
        for row, fut in zip(rows, futures):
            try:
                await fut
            except Exception as exc:  # noqa: BLE001
                self.stats.send_failures += 1
                log.warning("relay %s: send not acknowledged (%s); will resend from position %d",
                            self.schema, type(exc).__name__, row["position"])
                break
            acked.append(row["position"])
        return acked

    async def _get_producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = producer_for(self.bootstrap)
            try:
                await producer.start()
            except Exception as exc:
                await producer.stop()
                if isinstance(exc, KafkaConnectionError):   # say why: refused, TLS, nothing
                    raise await access_error(self.bootstrap) from exc
                raise
            self._producer = producer
        return self._producer

    async def _close_producer(self) -> None:
        if self._producer is not None:
            producer, self._producer = self._producer, None
            try:
                await asyncio.wait_for(producer.stop(), 10)
            except Exception:  # noqa: BLE001 - closing a producer to a dead broker may fail
                pass


async def _close_quietly(conn: asyncpg.Connection) -> None:
    try:
        await asyncio.wait_for(conn.close(), 5)
    except Exception:  # noqa: BLE001
        conn.terminate()
