"""Lag from a committed service decision to the statistics that count it, at an offered load
(200 events/s by default): journal events of synthetic persons are sent at that rate, each
acknowledged by Kafka (committed); the clock of a decision (``journal.ServiceGranted``) runs
from its acknowledgement until its person's part at that version, or a later one (the worker
writes a part once per batch of events), is read from PostgreSQL by ``state.PersonsView`` as
every statistics request reads it (polled every 20 ms, so up to 20 ms of the figure is the
poll's). Next to it, in the same
run, the raw floor: the same decisions read straight off the journal topic by a plain aiokafka
consumer. p50 / p99 in milliseconds."""

from __future__ import annotations

import asyncio
import contextlib
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.registry_batch import journal_envelopes
from bench.registry_stream import schema_for, topics
from bench.util import pct
from cli.manifests import registry
from libs.config import Settings
from libs.events.db import make_engine
from services.registry_export.domain.person import part_key, version
from services.registry_export.state import PersonsView
from services.registry_export.worker import build_worker

DECISION = "journal.ServiceGranted"


@dataclass(frozen=True)
class Lag:
    label: str
    samples: int
    p50_ms: float
    p99_ms: float


async def _follow(bootstrap: str, topic: str, seen: dict[tuple[str, int], float],
                  parse) -> None:
    """Note when each (part key, version) first appears on ``topic`` (until cancelled)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest",
                                metadata_max_age_ms=500)
    await consumer.start()
    try:
        while topic not in await consumer.topics():
            await asyncio.sleep(0.1)
        consumer.subscribe([topic])
        while True:
            got = await consumer.getmany(timeout_ms=100)
            now = perf_counter()
            for records in got.values():
                for r in records:
                    ident = parse(r)
                    if ident is not None:
                        seen.setdefault(ident, now)
    finally:
        await consumer.stop()


async def _follow_parts(view: PersonsView, seen: dict[tuple[str, int], float]) -> None:
    """Note when each (part key, version) is first read from PostgreSQL (until cancelled)."""
    async with view:
        while True:
            await view.catch_up()
            now = perf_counter()
            for mine in view.parts().values():
                for key, part in mine.items():
                    seen.setdefault((key, version(part)), now)
            await asyncio.sleep(0.02)


def _from_journal(r) -> tuple[str, int] | None:
    env = json.loads(r.value)
    return part_key(env["patient_id"], env["stream_id"]), env["stream_version"]


async def run(bootstrap: str, database_url: str, *, rate: float, seconds: float,
              partitions: int, suffix: str, settle_s: float = 30) -> list[Lag]:
    names = await topics(bootstrap, suffix, partitions)
    schema = await schema_for(database_url, suffix)
    engine = make_engine(database_url, schema, pool_size=2)
    journal, app_id = names["journal.events"], f"registry-lag-{suffix}"
    n = max(1, int(rate * seconds))
    envs = journal_envelopes(n // 4 + 1)[:n]          # a person has 4 to 8 events
    decisions: dict[tuple[str, int], float] = {}
    in_parts: dict[tuple[str, int], float] = {}
    on_topic: dict[tuple[str, int], float] = {}
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
    with tempfile.TemporaryDirectory() as tmp:
        app = build_worker(Settings(KAFKA_BOOTSTRAP_SERVERS=bootstrap,
                                    DATABASE_URL=database_url), registry(), schema=schema,
                           topics=names, app_id=app_id, partitions=partitions,
                           datadir=Path(tmp), web_enabled=False)
        followers = [asyncio.create_task(_follow_parts(PersonsView(engine, app_id),
                                                       in_parts)),
                     asyncio.create_task(_follow(bootstrap, journal, on_topic,
                                                 _from_journal))]
        await app.start()
        await producer.start()
        try:
            await _warm_up(producer, journal, in_parts)
            t0 = perf_counter()
            for i, env in enumerate(envs):
                await asyncio.sleep(max(0.0, t0 + i / rate - perf_counter()))
                await producer.send_and_wait(journal, env.wire(), key=env.key())
                if env.type == DECISION:
                    decisions[(part_key(env.patient_id, env.stream_id),
                               env.stream_version)] = perf_counter()
            end = perf_counter() + settle_s
            while set(decisions) - set(_covered(decisions, in_parts)) and \
                    perf_counter() < end:
                await asyncio.sleep(0.05)
        finally:
            await producer.stop()
            for f in followers:
                f.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await f
            await app.stop()
            await engine.dispose()
    return [_lag("raw aiokafka: decision on the topic", decisions, on_topic),
            _lag("worker: decision in PostgreSQL", decisions, in_parts)]


async def _warm_up(producer: AIOKafkaProducer, topic: str,
                   in_parts: dict[tuple[str, int], float]) -> None:
    """One person's events, until the worker has folded them (its group formed, its table
    ready): the measured window does not carry the worker's start."""
    warm = journal_envelopes(1, seed=99)
    for env in warm:
        await producer.send_and_wait(topic, env.wire(), key=env.key())
    last = (part_key(warm[-1].patient_id, warm[-1].stream_id), warm[-1].stream_version)
    while last not in _covered({last: 0.0}, in_parts):
        await asyncio.sleep(0.05)


def _arrived(seen: dict[tuple[str, int], float]) -> dict[tuple[str, int], float]:
    """When each (part key, version) was first covered: by that version or a later one (the
    worker writes a part once per batch, so a decision can arrive inside a later version)."""
    by_key: dict[str, list[tuple[int, float]]] = {}
    for (key, v), t in seen.items():
        by_key.setdefault(key, []).append((v, t))
    out: dict[tuple[str, int], float] = {}
    for key, versions in by_key.items():
        earliest = float("inf")
        for v, t in sorted(versions, reverse=True):
            earliest = min(earliest, t)
            out[(key, v)] = earliest
    return out


def _covered(sent: dict[tuple[str, int], float],
             seen: dict[tuple[str, int], float]) -> dict[tuple[str, int], float]:
    arrived, out = _arrived(seen), {}
    for key, v in sent:
        later = [t for (k, w), t in arrived.items() if k == key and w >= v]
        if later:
            out[(key, v)] = min(later)
    return out


def _lag(label: str, sent: dict[tuple[str, int], float],
         seen: dict[tuple[str, int], float]) -> Lag:
    seen = _covered(sent, seen)
    lags = [(seen[k] - t) * 1000 for k, t in sent.items() if k in seen]
    if len(lags) < len(sent):
        raise AssertionError(f"{label}: {len(sent) - len(lags)} of {len(sent)} decisions "
                             "never arrived")
    return Lag(label, len(lags), pct(lags, 50), pct(lags, 99))
