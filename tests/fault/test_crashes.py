"""Fault tests: SIGKILL of the relay and of a projection mid-batch, and a broker outage during
writes. Nothing acknowledged is lost; no read model applies anything twice."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from collections import defaultdict

import pytest
from sqlalchemy import text

from libs.config import REPO_ROOT, get_settings
from libs.devstack.kafka import LocalKafka
from libs.devstack.procs import free_port
from libs.events.envelope import Actor
from libs.events.kafka_admin import apply_topics
from libs.events.projection import ProjectionRunner, replay
from libs.events.relay import OutboxRelay
from libs.events.store import EventContext, EventStore
from libs.events.topics import TopicSpec, all_topics
from tests.events.test_relay_projection import balances, consume_all
from tests.support.bank import AccountOpened, BalanceProjection, Deposited, stream_of
from tests.support.bank import EVENTS as BANK_EVENTS
from tests.support.waiting import eventually

pytestmark = pytest.mark.fault
ACTOR = Actor(kind="system", id="fault-test")


def spawn(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tests.support.worker", *args],
                            cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def kill9(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)


async def scalar(engine, sql: str) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(text(sql))).scalar_one()


async def write_load(store: EventStore, streams: int, deposits: int) -> list[str]:
    """Appends concurrently across streams, each stream strictly in order."""
    sids = [stream_of(uuid.uuid4()) for _ in range(streams)]

    async def one(sid: str) -> None:
        c = EventContext(patient_id=uuid.uuid4(), actor=ACTOR)
        await store.append(sid, 0, [AccountOpened(owner="o")], c)
        for v in range(deposits):
            await store.append(sid, v + 1, [Deposited(amount_ore=1)], c)

    await asyncio.gather(*(one(s) for s in sids))
    return sids


def first_seen_order(records) -> dict[str, list[int]]:
    seen: set[str] = set()
    order: dict[str, list[int]] = defaultdict(list)
    for r in records:
        env = json.loads(r.value)
        if env["event_id"] in seen:
            continue
        seen.add(env["event_id"])
        order[env["stream_id"]].append(env["stream_version"])
    return order


async def test_relay_killed_mid_stream_loses_nothing_and_keeps_stream_order(
        engine, database_url, schema, kafka_bootstrap, make_topics):
    topic = await make_topics("bank.events", 3)
    store = EventStore(engine, BANK_EVENTS, topic_names={"bank.events": topic})
    sids = await write_load(store, 20, 49)  # 1,000 events
    total = 1000

    relay = spawn("relay", database_url, schema, kafka_bootstrap, "20")
    try:
        await eventually(lambda: scalar(engine, "SELECT count(*) FROM outbox "
                                                "WHERE published_at IS NOT NULL"), 60)
        published = await scalar(engine, "SELECT count(*) FROM outbox WHERE published_at IS NOT NULL")
        kill9(relay)
        assert 0 < published < total, "the kill must land mid-stream"
    finally:
        if relay.poll() is None:
            kill9(relay)
    relay = spawn("relay", database_url, schema, kafka_bootstrap, "20")
    try:
        await eventually(lambda: _all_published(engine), 120)
    finally:
        relay.terminate()
        relay.wait(20)

    records = await consume_all(kafka_bootstrap, topic, total)
    ids = {json.loads(r.value)["event_id"] for r in records}
    assert len(ids) == total, "every committed event reaches Kafka"
    order = first_seen_order(records)
    assert set(order) == set(sids)
    assert all(v == list(range(1, 51)) for v in order.values()), "in order per stream"

    # a projection fed by this (possibly duplicated) topic equals a from-scratch replay
    runner = ProjectionRunner(BalanceProjection(topic), engine, kafka_bootstrap, registry=BANK_EVENTS)
    await runner.start()
    task = asyncio.create_task(runner.run())
    await eventually(lambda: runner.stats.applied == total, 60)
    await runner.stop()
    await task
    live = await balances(engine)
    await replay(ProjectionRunner(BalanceProjection(topic), engine, kafka_bootstrap, registry=BANK_EVENTS))
    assert await balances(engine) == live
    assert all(row[1:] == (49, 50) for row in live)


async def _all_published(engine) -> bool:
    return await scalar(engine, "SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0


async def test_projection_killed_mid_batch_equals_a_replay_after_restart(
        engine, database_url, schema, kafka_bootstrap, make_topics):
    topic = await make_topics("bank.events", 2)
    store = EventStore(engine, BANK_EVENTS, topic_names={"bank.events": topic})
    await write_load(store, 10, 59)  # 600 events
    total = 600
    relay = OutboxRelay(database_url, schema, kafka_bootstrap, poll_interval_s=0.2)
    rtask = asyncio.create_task(relay.run())
    await eventually(lambda: relay.stats.published >= total, 60)
    relay.stop()
    await rtask

    applied_sql = "SELECT coalesce(sum(events), 0) FROM bank_balances"
    worker = spawn("projection", database_url, schema, kafka_bootstrap, topic, "0.004")
    try:
        await eventually(lambda: _table_exists(engine), 60)
        await eventually(lambda: _between(engine, applied_sql, 100, total - 150), 60)
        kill9(worker)  # a 50-event batch takes ~200 ms: the kill lands inside one
    finally:
        if worker.poll() is None:
            kill9(worker)
    applied = await scalar(engine, applied_sql)
    positions = await scalar(engine, "SELECT coalesce(sum(next_offset), 0) FROM projection_positions")
    assert positions == applied, "offsets commit with the data: no half-applied batch is visible"

    worker = spawn("projection", database_url, schema, kafka_bootstrap, topic, "0")
    try:
        await eventually(lambda: _equals(engine, applied_sql, total), 60)
    finally:
        kill9(worker)
    after_restart = await balances(engine)
    await replay(ProjectionRunner(BalanceProjection(topic), engine, kafka_bootstrap, registry=BANK_EVENTS))
    assert await balances(engine) == after_restart
    assert all(row[1:] == (59, 60) for row in after_restart)


async def _table_exists(engine) -> bool:
    return await scalar(engine, "SELECT count(*) FROM pg_tables WHERE tablename='bank_balances' "
                                "AND schemaname = current_schema()") == 1


async def _between(engine, sql, lo, hi) -> bool:
    v = await scalar(engine, sql)
    return lo <= v <= hi


async def _equals(engine, sql, want) -> bool:
    return await scalar(engine, sql) == want


@pytest.fixture
async def own_broker(tmp_path):
    """A broker of this test's own, so stopping it disturbs no other test."""
    s = get_settings()
    kafka = LocalKafka(tmp_path / "kafka", free_port(), free_port(), s.cache_dir, "384m")
    await asyncio.to_thread(kafka.start)
    yield kafka
    await asyncio.to_thread(kafka.stop)


async def test_broker_stopped_during_writes_every_event_arrives_in_order(
        engine, database_url, schema, own_broker):
    topic = "bank.events"
    await apply_topics(own_broker.bootstrap, all_topics((TopicSpec(topic, 3, "fault test"),)))
    store = EventStore(engine, BANK_EVENTS)
    relay = OutboxRelay(database_url, schema, own_broker.bootstrap, poll_interval_s=0.2,
                        batch_size=50)
    rtask = asyncio.create_task(relay.run())
    try:
        before = await write_load(store, 5, 19)  # 100 events while the broker is up
        await eventually(lambda: relay.stats.published == 100, 60)

        await asyncio.to_thread(own_broker.stop)
        during = await write_load(store, 10, 29)  # 300 more: each append is acknowledged
        assert await scalar(engine, "SELECT count(*) FROM events") == 400
        await asyncio.sleep(1)
        assert relay.stats.published == 100, "nothing can reach a stopped broker"

        await asyncio.to_thread(own_broker.start)
        await eventually(lambda: _all_published(engine), 120)
    finally:
        relay.stop()
        await rtask
    records = await consume_all(own_broker.bootstrap, topic, 400)
    assert len({json.loads(r.value)["event_id"] for r in records}) == 400
    order = first_seen_order(records)
    assert set(order) == set(before) | set(during)
    for sid in before:
        assert order[sid] == list(range(1, 21))
    for sid in during:
        assert order[sid] == list(range(1, 31))
