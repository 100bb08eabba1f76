"""Verify the access log's hash chains where it is stored: a service's event store (``db``) or
the ``audit.access`` topic (``kafka``). Used by ``ehr audit verify`` and the log-control job.

* ``db``: the ``AccessLogged`` events of one schema in commit (``position``) order, checked by
  the chain fields inside each envelope's data, not by the ``stream_version`` column. The
  ``streams`` table's versions serve as the anchor that reveals a cut-off newest entry.
* ``kafka``: every partition from its beginning up to the end offsets taken at the start, read
  without a consumer group (nothing is committed). The relay delivers at least once, so records
  repeating an ``event_id`` seen shortly before are skipped, not reported as duplicates.
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from uuid import UUID

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

from libs.audit.chain import Problem, Verifier, chain_id
from libs.events.db import asyncpg_dsn, check_schema
from libs.events.kafka_client import client_options

EVENT_TYPE = "audit.AccessLogged"
Progress = Callable[..., None]   # on_progress(total=None, advance=None)


class VerifyError(Exception):
    """The log could not be read (not: the log has problems)."""


@dataclass
class Report:
    entries: int = 0
    chains: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.problems


def _report(v: Verifier, heads: dict[str, int] | None = None) -> Report:
    problems = v.finish(heads)
    return Report(v.entries, len(v.chains), problems)


def chain_of_stream(stream_id: str) -> str:
    """``audit-<writer>-<patient uuid>`` -> ``<writer>:<patient uuid>`` (the writer: the
    service, or ``<service>.<slot>``)."""
    return chain_id(stream_id[len("audit-"):-37], stream_id[-36:])


async def verify_db(database_url: str, schema: str, *, patient: UUID | None = None,
                    on_progress: Progress | None = None, fetch: int = 2000) -> Report:
    """Check the access log in ``schema``'s event store (one consistent snapshot)."""
    check_schema(schema)
    conn = await asyncpg.connect(asyncpg_dsn(database_url), server_settings={
        "search_path": schema, "application_name": "ehr-audit-verify"})
    try:
        if await conn.fetchval("SELECT to_regclass('events')") is None:
            raise VerifyError(f"schema {schema!r} has no event store (run `ehr db migrate`)")
        where, args = "type = $1", [EVENT_TYPE]
        if patient is not None:
            where, args = where + " AND patient_id = $2", args + [patient]
        v = Verifier()
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            if on_progress:
                on_progress(total=await conn.fetchval(
                    f"SELECT count(*) FROM events WHERE {where}", *args))
            heads = {chain_of_stream(r[0]): r[1] for r in await conn.fetch(
                "SELECT stream_id, version FROM streams WHERE stream_id LIKE 'audit-%'"
                + (" AND patient_id = $1" if patient else ""), *([patient] if patient else []))}
            n = 0
            async for row in conn.cursor(f"SELECT (envelope->'data')::text FROM events "
                                         f"WHERE {where} ORDER BY position", *args,
                                         prefetch=fetch):
                v.add(json.loads(row[0]))
                n += 1
                if on_progress and n % fetch == 0:
                    on_progress(advance=fetch)
            if on_progress:
                on_progress(advance=n % fetch)
        return _report(v, heads)
    finally:
        await conn.close()


class _Recent:
    """The event ids seen most recently (bounded): a relay resends at most a few batches."""

    def __init__(self, size: int = 100_000):
        self.size, self.ids = size, OrderedDict[str, None]()

    def seen(self, event_id: str) -> bool:
        if event_id in self.ids:
            return True
        self.ids[event_id] = None
        if len(self.ids) > self.size:
            self.ids.popitem(last=False)
        return False


async def verify_kafka(bootstrap: str, topic: str = "audit.access", *,
                       patient: UUID | None = None, on_progress: Progress | None = None,
                       timeout_s: float = 30) -> Report:
    """Check the access log on ``topic`` from the beginning up to its current end."""
    consumer = AIOKafkaConsumer(**client_options(bootstrap), group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest",
                                request_timeout_ms=int(timeout_s * 1000))
    try:
        await asyncio.wait_for(consumer.start(), timeout_s)
        parts = await asyncio.wait_for(_partitions(consumer, topic), timeout_s)
        consumer.assign(parts)
        start = await consumer.beginning_offsets(parts)
        end = await consumer.end_offsets(parts)
        left = {tp: end[tp] for tp in parts if end[tp] > start[tp]}
        if on_progress:
            on_progress(total=sum(end[tp] - start[tp] for tp in parts))
        await consumer.seek_to_beginning(*parts)
        v, recent, want = Verifier(), _Recent(), str(patient) if patient else None
        loop = asyncio.get_running_loop()
        stalled_at = loop.time() + timeout_s
        while left:
            batch = await consumer.getmany(*left, timeout_ms=1000, max_records=2000)
            for tp, records in batch.items():
                for rec in records:
                    if rec.offset < left.get(tp, 0):
                        _check_record(rec.value, v, recent, want)
                if on_progress:
                    on_progress(advance=len(records))
            for tp in [tp for tp in left if tp in batch]:
                if await consumer.position(tp) >= left[tp]:
                    del left[tp]
            if batch:
                stalled_at = loop.time() + timeout_s
            elif loop.time() > stalled_at:
                raise VerifyError(f"no records from {topic!r} for {timeout_s:.0f} s "
                                  f"({len(left)} partition(s) not read to the end)")
        return _report(v)
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    # consumer.topics() fetches metadata without keeping it; ask the client (as projection.py)
    cluster = await consumer._client.fetch_all_metadata()  # noqa: SLF001
    ids = cluster.partitions_for_topic(topic)
    if not ids:
        raise VerifyError(f"topic {topic!r} does not exist")
    return [TopicPartition(topic, p) for p in sorted(ids)]


def _check_record(value: bytes | None, v: Verifier, recent: _Recent, want: str | None) -> None:
    try:
        env = json.loads(value or b"")
        kind, data = env.get("type"), env.get("data")
    except (ValueError, AttributeError):
        return  # not an envelope: the topic's DLQ handling is the projections' business
    if kind != EVENT_TYPE or not isinstance(data, dict):
        return
    if want is not None and env.get("patient_id") != want:
        return
    if recent.seen(str(env.get("event_id"))):
        return
    v.add(data)
