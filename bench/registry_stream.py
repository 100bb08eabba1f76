"""Stream throughput of the registry's faust worker, next to a raw aiokafka consumer doing the
same work (decode each event with the registry, fold it into its stream's part, keep the
parts in a dict), over the same journal events on a topic of ``partitions`` partitions.

Both clocks run from the first part folded to the last (the worker's start and its group's
first rebalance, seconds that do not grow with the stream, are left out on both sides; the
total time with them is reported too): the worker's part counts when it is committed in
PostgreSQL and read by ``PersonsView``, as the statistics read it. Target: the worker at least
50 % of the raw consumer's events/s.

``python -m bench.registry_stream --persons 5000 --profile
bench/profiles/registry-worker-pg.svg`` runs this one benchmark on its own stack and
writes a flame graph of the worker's run (py-spy sampling this process, where its agents run,
from the worker's start to its last part)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter

import faust
import typer
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench.citizen_profile import py_spy
from bench.infra import PARTITIONS, stack, unique
from bench.registry_batch import journal_envelopes
from cli.manifests import registry
from libs.config import Settings
from libs.events.db import make_engine
from libs.events.kafka_admin import apply_topics
from libs.events.migrations import run_migrations
from libs.events.topics import TopicSpec, all_topics
from services.registry_export.domain.person import Person, advance, part_key, version
from services.registry_export.state import PersonsView
from services.registry_export.worker import SOURCES, build_worker


@dataclass(frozen=True)
class Rate:
    label: str
    events: int
    seconds: float          # first part folded to last
    total_s: float          # from before the consumer started

    @property
    def per_s(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


async def topics(bootstrap: str, suffix: str, partitions: int) -> dict[str, str]:
    """The worker's source topics for this run (only the journal's gets events)."""
    names = {s: f"{s}.bench-{suffix}" for s in SOURCES}
    await apply_topics(bootstrap, all_topics(tuple(
        TopicSpec(n, partitions, "registry bench") for n in names.values())))
    return names


async def publish(bootstrap: str, topic: str, persons: int) -> dict[str, int]:
    """The journal events of ``persons`` synthetic persons on ``topic``; the last version of
    each part (what "all folded" means)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    last: dict[str, int] = {}
    try:
        for env in journal_envelopes(persons):
            await producer.send(topic, env.wire(), key=env.key())
            last[part_key(env.patient_id, env.stream_id)] = env.stream_version
        await producer.flush()
    finally:
        await producer.stop()
    return last


async def raw(bootstrap: str, topic: str, partitions: int, last: dict[str, int],
              events: int, timeout_s: float = 600) -> Rate:
    reg, parts = registry(), {}
    t0 = perf_counter()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                enable_auto_commit=False)
    first: float | None = None
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        done = 0
        while done < len(last):
            if perf_counter() - t0 > timeout_s:
                raise TimeoutError("the raw consumer did not finish")
            got = await consumer.getmany(timeout_ms=200, max_records=500)
            for records in got.values():
                for r in records:
                    env, payload = reg.decode(r.value)
                    key = part_key(env.patient_id, env.stream_id)
                    changed = advance(parts.get(key), env, payload)
                    if changed is not None:
                        parts[key] = changed
                        done += changed.seen[env.stream_id] == last[key]
                        first = first or perf_counter()
    finally:
        await consumer.stop()
    end = perf_counter()
    return Rate("raw aiokafka: decode + fold", events, end - (first or t0), end - t0)


async def worker(bootstrap: str, database_url: str, schema: str, names: dict[str, str],
                 partitions: int, app_id: str, last: dict[str, int], events: int,
                 timeout_s: float = 600, profile: Path | None = None) -> Rate:
    settings = Settings(KAFKA_BOOTSTRAP_SERVERS=bootstrap, DATABASE_URL=database_url)
    engine = make_engine(database_url, schema, pool_size=2)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = perf_counter()
            app = build_worker(settings, registry(), schema=schema, topics=names,
                               app_id=app_id, partitions=partitions, datadir=Path(tmp),
                               web_enabled=False)
            async with sampled(profile):
                first, end = await _until_folded(app, PersonsView(engine, app_id), last, t0,
                                                 timeout_s)
    finally:
        await engine.dispose()
    return Rate(WORKER, events, end - (first or t0), end - t0)


WORKER = "faust worker (parts committed in PostgreSQL)"


async def schema_for(database_url: str, suffix: str) -> str:
    """The run's own schema (the registry's parts of the worker under test)."""
    name = f"bench_registry_{suffix}"
    await run_migrations(database_url, name)
    return name


async def _until_folded(app: faust.App, view: PersonsView, last: dict[str, int],
                        t0: float, timeout_s: float) -> tuple[float | None, float]:
    """Run the worker until every part is committed at its last version: when the first part
    was seen there, and when the last was."""
    first: float | None = None
    await app.start()
    try:
        async with view:
            while not _all_folded(view, last):
                if perf_counter() - t0 > timeout_s:
                    raise TimeoutError("the faust worker did not finish")
                if await view.catch_up():
                    first = first or perf_counter()
                await asyncio.sleep(0.1)   # the observer shares the worker's CPU
        return first, perf_counter()
    finally:
        await app.stop()


@contextlib.asynccontextmanager
async def sampled(out: Path | None) -> AsyncIterator[None]:
    """py-spy samples this process into the flame graph ``out`` while the block runs (without
    stopping it: ``--nonblocking``); nothing without ``out``."""
    if out is None:
        yield
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    proc = await asyncio.create_subprocess_exec(
        py_spy(), "record", "--pid", str(os.getpid()), "--nonblocking", "--rate", "200",
        "--format", "flamegraph", "--output", str(out), stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE)
    try:
        yield
    finally:
        proc.send_signal(signal.SIGINT)   # py-spy writes the graph and ends
        _, err = await asyncio.wait_for(proc.communicate(), 120)
        if not out.exists():
            raise RuntimeError(f"py-spy failed: {err.decode(errors='replace')[-500:]}")


def _all_folded(view: PersonsView, last: dict[str, int]) -> bool:
    parts: dict[str, Person] = {k: p for mine in view.parts().values() for k, p in mine.items()}
    return len(parts) >= len(last) and all(
        version(parts[k]) >= v for k, v in last.items() if k in parts)


async def run(bootstrap: str, database_url: str, persons: int, partitions: int, suffix: str,
              profile: Path | None = None) -> list[Rate]:
    names = await topics(bootstrap, suffix, partitions)
    schema = await schema_for(database_url, suffix)
    last = await publish(bootstrap, names["journal.events"], persons)
    events = sum(last.values())
    return [await raw(bootstrap, names["journal.events"], partitions, last, events),
            await worker(bootstrap, database_url, schema, names, partitions,
                         f"registry-bench-{suffix}", last, events, profile=profile)]


def main(persons: int = typer.Option(5000, help="persons whose journal events are folded"),
         profile: Path = typer.Option(None, help="write a flame graph of the worker's run "
                                                 "here (bench/profiles/...svg)")) -> None:
    """This benchmark alone, on its own stack: the raw consumer's and the worker's events/s."""
    with stack() as handle:
        rates = asyncio.run(run(handle.kafka_bootstrap, handle.database_url, persons,
                                PARTITIONS, unique(), profile))
    for r in rates:
        print(f"{r.label}: {r.events} events in {r.seconds:.2f} s, {r.per_s:,.0f}/s "
              f"({r.per_s / (rates[0].per_s or 1.0):.0%} of raw; {r.total_s:.2f} s with start)")


if __name__ == "__main__":
    typer.run(main)
