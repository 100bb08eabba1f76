"""Read models built from the stream.

A :class:`ProjectionRunner` consumes its projection's topics with aiokafka (no consumer group:
it assigns every partition itself) and applies records in batches. One database transaction
per batch holds the read-model changes, the ``event_id`` of every applied event (dedupe) and the
next offset of every partition, so a crash or a replay never applies an event twice and never
skips one. On start it seeks to the stored positions. A projection whose own keys make a second
application do nothing (``Projection.idempotent``) stores the positions only.

An event that cannot be parsed or applied is sent to ``<topic>.dlq`` with the error in its
headers, a counter goes up, and the runner goes on. Transient faults (the database or the broker
going away) are not poison: the batch is retried.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from libs.events import projection_positions as positions
from libs.events.consistency import applied_here
from libs.events.db import driver_transaction, is_transient, pooled, setup_turn
from libs.events.envelope import Envelope
from libs.events.kafka_client import (
    access_error, client_options, consumer_for, partitions_of, stopped,
)
from libs.events.read_model import Projection
from libs.events.registry import EventDecodeError, EventPayload, Registry
from libs.events.telemetry_hooks import batch_span, instruments
from libs.events.topics import dlq_of

log = logging.getLogger(__name__)


class ProjectionBusy(RuntimeError):
    pass


@dataclass
class Decoded:
    record: ConsumerRecord
    env: Envelope
    payload: EventPayload


@dataclass
class Poison:
    record: ConsumerRecord
    error: str


@dataclass
class RunnerStats:
    applied: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    batches: int = 0
    lag: dict[TopicPartition, int] = field(default_factory=dict)

    @property
    def total_lag(self) -> int:
        return sum(self.lag.values())


class ProjectionRunner:
    def __init__(self, projection: Projection, engine: AsyncEngine, bootstrap: str, *,
                 registry: Registry, batch_size: int = 500):
        self.projection, self.engine, self.bootstrap = projection, engine, bootstrap
        self.registry, self.batch_size = registry, batch_size
        self.stats = RunnerStats()
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._stopping = asyncio.Event()
        self._partitions: list[TopicPartition] = []
        self._lock_conn: AsyncConnection | None = None
        self._here = False   # announcing its batches to this process's waiters

    # -- lifecycle -------------------------------------------------------------------------------
    async def prepare(self) -> None:
        """The read model's tables, if missing; replicas starting together take turns per
        schema (two ``CREATE ... IF NOT EXISTS`` at once: a duplicate key in ``pg_type``)."""
        async with self.engine.begin() as conn:
            await setup_turn(conn)
            await self.projection.setup(conn)

    async def start(self, wait_for_lock: bool = True, reset: bool = False) -> None:
        """Become the one active runner of this projection (an advisory lock held on its own
        connection; a second runner waits, or with ``wait_for_lock=False`` gives up with
        :class:`ProjectionBusy`), optionally reset the read model, then seek to the stored
        positions. A start that fails gives back what it took (the lock, the clients)."""
        await self._lock(wait_for_lock)
        try:
            await self._begin(reset)
        except BaseException:
            await self.stop()
            raise

    async def _begin(self, reset: bool) -> None:
        if reset:
            await self.reset()
        await self.prepare()
        self._consumer = consumer_for(self.bootstrap, self.projection.gather_ms)
        try:
            await self._consumer.start()
        except KafkaError as exc:   # say why: credentials refused, TLS, nothing listening
            raise await access_error(self.bootstrap) from exc
        self._producer = AIOKafkaProducer(**client_options(self.bootstrap), acks="all",
                                          enable_idempotence=True)
        await self._producer.start()
        self._partitions = await self._discover()
        self._consumer.assign(self._partitions)
        await self._seek_to_stored()
        instruments().register_lag(self.projection.name, lambda: self.stats.total_lag)
        applied_here.running(self.projection.name)
        self._here = True

    async def stop(self) -> None:
        self._stopping.set()
        if self._here:
            self._here = False
            applied_here.running(self.projection.name, active=False)
        if self._consumer:
            await stopped(self._consumer)
        if self._producer:
            await stopped(self._producer)
        if self._lock_conn is not None:
            conn, self._lock_conn = self._lock_conn, None
            # the connection goes back to the pool: release the session-level lock first
            try:
                await conn.execute(text("SELECT pg_advisory_unlock_all()"))
                await conn.commit()
            finally:
                await conn.close()

    async def _lock(self, wait: bool) -> None:
        conn = await self.engine.connect()
        while True:  # advisory locks are database-wide: the key names the schema too
            got = (await conn.execute(text(
                "SELECT pg_try_advisory_lock(hashtext('ehr.projection.' || current_schema() "
                "|| '.' || :name))"), {"name": self.projection.name})).scalar_one()
            await conn.commit()
            if got:
                self._lock_conn = conn
                return
            if not wait:
                await conn.close()
                raise ProjectionBusy(f"projection {self.projection.name} is being run by another "
                                     "process; stop it first")
            await asyncio.sleep(1.0)

    async def _discover(self) -> list[TopicPartition]:
        assert self._consumer
        return await partitions_of(self._consumer, self.projection.topics)

    async def _seek_to_stored(self) -> None:
        assert self._consumer
        async with self.engine.connect() as conn:
            stored = await positions.stored(conn, self.projection.name)
        for tp in self._partitions:
            if tp in stored:
                self._consumer.seek(tp, stored[tp])
            else:
                await self._consumer.seek_to_beginning(tp)

    # -- the loop --------------------------------------------------------------------------------
    async def run(self, until_caught_up: bool = False, on_batch=None) -> None:
        """Apply batches until stopped, or (``until_caught_up``) until every partition has
        reached the end offsets seen when the call began."""
        assert self._consumer
        targets = await self.end_offsets() if until_caught_up else None
        pending: asyncio.Task | None = None   # the previous batch's transaction, in flight
        try:
            while not self._stopping.is_set():
                if targets is not None and await self._reached(targets):
                    break
                batch = await self._consumer.getmany(timeout_ms=200,
                                                     max_records=self.batch_size)
                records = [r for recs in batch.values() for r in recs]
                if records:
                    # decode this batch while the previous one's statements wait on PostgreSQL;
                    # it is applied only once that one has committed, so batches stay in order
                    decoded = await self._decode_yielding(records)
                    if pending is not None:
                        await pending   # its error, if any, is raised here
                    pending = asyncio.create_task(self._apply_with_retry(records, decoded,
                                                                         on_batch))
                    await asyncio.sleep(0)     # let it send its first statement
                elif pending is not None:
                    await pending
                    pending = None
                await self._update_lag()
        except BaseException:
            if pending is not None:
                pending.cancel()   # its transaction rolls back; the batch is read again
                await asyncio.gather(pending, return_exceptions=True)
            raise
        if pending is not None:
            await pending

    async def _reached(self, targets: dict[TopicPartition, int]) -> bool:
        assert self._consumer
        for tp, end in targets.items():
            if await self._consumer.position(tp) < end:
                return False
        return True

    async def end_offsets(self) -> dict[TopicPartition, int]:
        assert self._consumer
        return await self._consumer.end_offsets(self._partitions)

    async def _update_lag(self) -> None:
        assert self._consumer
        for tp in self._partitions:
            hw = self._consumer.highwater(tp)
            if hw is not None:
                self.stats.lag[tp] = max(0, hw - await self._consumer.position(tp))

    async def _apply_with_retry(self, records: list[ConsumerRecord],
                                decoded: tuple[list[Decoded], list[Poison]] | None = None,
                                on_batch=None) -> None:
        delay = 0.2
        while True:
            try:
                await self.apply_records(records, decoded)
                if on_batch:
                    on_batch(len(records))
                return
            except Exception as exc:
                if not is_transient(exc) or self._stopping.is_set():
                    raise
                log.warning("projection %s: transient fault, retrying batch: %s",
                            self.projection.name, type(exc).__name__)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5)

    async def apply_records(self, records: list[ConsumerRecord],
                            decoded_already: tuple[list[Decoded], list[Poison]] | None = None
                            ) -> None:
        decoded, unreadable = decoded_already or self._decode(records)
        try:
            await self._commit_batch(records, decoded, unreadable, careful=False)
        except Exception as exc:
            if is_transient(exc):
                raise
            # the projection refused something and its transaction is gone: apply the batch
            # again, each event in a savepoint, to find the poison and keep the rest
            await self._commit_batch(records, decoded, unreadable, careful=True)

    async def _decode_yielding(self, records: list[ConsumerRecord], chunk: int = 50
                               ) -> tuple[list[Decoded], list[Poison]]:
        """``_decode`` in chunks, giving the batch in flight a turn between them (each of its
        round trips needs the event loop for a moment)."""
        decoded: list[Decoded] = []
        poison: list[Poison] = []
        for i in range(0, len(records), chunk):
            if i:
                await asyncio.sleep(0)
            d, p = self._decode(records[i:i + chunk])
            decoded += d
            poison += p
        return decoded, poison

    def _decode(self, records: list[ConsumerRecord]) -> tuple[list[Decoded], list[Poison]]:
        decoded: list[Decoded] = []
        poison: list[Poison] = []
        for rec in records:
            try:
                env, payload = self.registry.decode(rec.value)
                decoded.append(Decoded(rec, env, payload))
            except EventDecodeError as exc:
                poison.append(Poison(rec, str(exc)))
            except Exception as exc:  # noqa: BLE001 - any parse failure is poison
                poison.append(Poison(rec, f"{type(exc).__name__}: {exc}"))
        return decoded, poison

    async def _commit_batch(self, records: list[ConsumerRecord], decoded: list[Decoded],
                            unreadable: list[Poison], careful: bool) -> None:
        """One transaction: the offsets and the claims (one statement), apply, dead-letter.
        Begun, claimed and committed on the driver's connection (``driver_transaction``).
        A batch the projection wants nothing of (``Projection.wants``: journal events at the
        medication's allergy list, say) is only claimed, in one statement without a
        transaction: BEGIN and COMMIT were two of its three round trips."""
        refused: list[Poison] = []
        if careful or unreadable:
            async with self.engine.begin() as conn:
                fresh = await self._claim(conn, records, decoded)
                with batch_span(self.projection.name, [d.record for d in fresh]):
                    if careful:
                        refused = await self._apply_one_by_one(conn, fresh)
                    else:
                        await self.projection.apply_batch(
                            conn, [(d.env, d.payload) for d in fresh])
                if poison := unreadable + refused:
                    # the DLQ write is acknowledged before the transaction that moves the
                    # offsets past the poison event commits
                    await self._dead_letter(poison)
        elif any(self.projection.wants(d.env, d.payload) for d in decoded):
            async with driver_transaction(self.engine) as (conn, raw):
                fresh = await self._claim(raw, records, decoded)
                with batch_span(self.projection.name, [d.record for d in fresh]):
                    await self.projection.apply_batch(conn, [(d.env, d.payload) for d in fresh])
        else:
            async with pooled(self.engine) as raw:
                fresh = await self._claim(raw, records, decoded)
        applied_here.announce(self.projection.name, [d.env.event_id for d in decoded])
        self.stats.duplicates += len(decoded) - len(fresh)
        self.stats.applied += len(fresh) - len(refused)
        self.stats.batches += 1
        instruments().applied.add(len(fresh) - len(refused), {"projection": self.projection.name})

    async def _claim(self, conn: AsyncConnection | asyncpg.Connection,
                     records: list[ConsumerRecord],
                     decoded: list[Decoded]) -> list[Decoded]:
        """Store the positions past ``records`` and claim the events: the ones not applied
        before, each once."""
        new_ids = await positions.claim(conn, self.projection.name,
                                        [d.env.event_id for d in decoded], records,
                                        idempotent=self.projection.idempotent)
        fresh, seen = [], set()
        for d in decoded:  # a duplicate inside one batch counts once
            if d.env.event_id in new_ids and d.env.event_id not in seen:
                seen.add(d.env.event_id)
                fresh.append(d)
        return fresh

    async def _apply_one_by_one(self, conn: AsyncConnection, fresh: list[Decoded]) -> list[Poison]:
        poison: list[Poison] = []
        refused_ids = []
        for d in fresh:
            try:
                async with conn.begin_nested():
                    await self.projection.apply(conn, d.env, d.payload)
            except Exception as exc:
                if is_transient(exc):
                    raise
                poison.append(Poison(d.record, f"{type(exc).__name__}: {exc}"))
                refused_ids.append(d.env.event_id)
        # a poison event is not "applied": forget its id so a fixed projection retries it
        await positions.forget_events(conn, self.projection.name, refused_ids)
        return poison

    async def _dead_letter(self, poison: list[Poison]) -> None:
        assert self._producer
        futures = []
        for p in poison:
            r = p.record
            headers = [
                ("ehr.error", p.error[:2000].encode()),
                ("ehr.projection", self.projection.name.encode()),
                ("ehr.source", f"{r.topic}/{r.partition}/{r.offset}".encode()),
            ] + [(k, v) for k, v in (r.headers or ()) if k == "traceparent"]
            futures.append(await self._producer.send(dlq_of(r.topic), r.value, key=r.key,
                                                     headers=headers))
            log.error("projection %s: event at %s/%d/%d sent to DLQ: %s",
                      self.projection.name, r.topic, r.partition, r.offset, p.error[:300])
        await asyncio.gather(*futures)
        self.stats.dead_lettered += len(poison)
        instruments().dlq.add(len(poison), {"projection": self.projection.name})

    # -- rebuild ---------------------------------------------------------------------------------
    async def reset(self) -> None:
        """Drop the read model and its positions: the next run rebuilds it from offset 0."""
        async with self.engine.begin() as conn:
            await self.projection.setup(conn)
            await self.projection.reset(conn)
            await positions.forget_all(conn, self.projection.name)


async def replay(runner: ProjectionRunner, on_progress=None) -> RunnerStats:
    """Rebuild a read model from the topics: reset, then apply up to the current end offsets."""
    await runner.start(wait_for_lock=False, reset=True)
    try:
        if on_progress:
            ends = await runner.end_offsets()
            on_progress(total=sum(ends.values()))
        await runner.run(until_caught_up=True,
                         on_batch=(lambda n: on_progress(advance=n)) if on_progress else None)
    finally:
        await runner.stop()
    return runner.stats


__all__ = ["Projection", "ProjectionBusy", "ProjectionRunner", "RunnerStats", "consumer_for",
           "is_transient", "replay"]
