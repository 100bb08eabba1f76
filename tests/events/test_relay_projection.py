"""Relay and projection runner on real PostgreSQL and Kafka."""

from __future__ import annotations

import asyncio
import json
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy import text

from libs.events.consistency import applied_here, wait_until_applied
from libs.events.db import make_engine
from libs.events.envelope import Actor
from libs.events.migrations import run_migrations
from libs.events.projection import ProjectionRunner, replay
from libs.events.relay import OutboxRelay
from libs.events.store import EventContext, EventStore
from tests.support.bank import AccountOpened, BalanceProjection, Deposited, stream_of
from tests.support.bank import EVENTS as BANK_EVENTS
from tests.support.waiting import eventually

ACTOR = Actor(kind="system", id="test")


async def consume_all(bootstrap: str, topic: str, expect: int, timeout_s: float = 60):
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    out = []
    try:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while len(out) < expect and asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for recs in batch.values():
                out += recs
    finally:
        await consumer.stop()
    return out


async def write_accounts(store: EventStore, n: int, deposits: int) -> list[str]:
    sids = []
    for _ in range(n):
        sid = stream_of(uuid.uuid4())
        c = EventContext(patient_id=uuid.uuid4(), actor=ACTOR)
        await store.append(sid, 0, [AccountOpened(owner="o")], c)
        for v in range(deposits):
            await store.append(sid, v + 1, [Deposited(amount_ore=v + 1)], c)
        sids.append(sid)
    return sids


async def test_relay_publishes_in_order_with_patient_key_and_marks_published(
        engine, database_url, schema, kafka_bootstrap, make_topics):
    topic = await make_topics("bank.events", 3)
    store = EventStore(engine, BANK_EVENTS, topic_names={"bank.events": topic})
    sids = await write_accounts(store, 4, 5)
    relay = OutboxRelay(database_url, schema, kafka_bootstrap, batch_size=7, poll_interval_s=0.2)
    task = asyncio.create_task(relay.run())
    try:
        records = await consume_all(kafka_bootstrap, topic, 24)
        await eventually(lambda: relay.stats.backlog == 0 and relay.stats.published == 24)
    finally:
        relay.stop()
        await task
    assert len(records) == 24
    for sid in sids:
        envs = [json.loads(r.value) for r in records if json.loads(r.value)["stream_id"] == sid]
        assert [e["stream_version"] for e in envs] == list(range(1, 7))
        keys = {r.key for r in records if json.loads(r.value)["stream_id"] == sid}
        assert keys == {envs[0]["patient_id"].encode()}
    for r in records:
        assert {k for k, _ in r.headers} <= {"traceparent", "tracestate"}
    async with engine.connect() as conn:   # kept, marked, for a day (EHR_RELAY_KEEP_...)
        left, marked = (await conn.execute(text(
            "SELECT count(*) FILTER (WHERE published_at IS NULL), "
            "count(*) FILTER (WHERE published_at IS NOT NULL) FROM outbox"))).one()
    assert (left, marked) == (0, 24) and relay.stats.pruned == 0


async def test_the_relay_deletes_published_rows_once_they_are_older_than_kept(
        engine, database_url, schema, kafka_bootstrap, make_topics):
    """The outbox does not grow with every event ever appended: a published row older than
    ``keep_published_s`` is deleted (the events table keeps the event), a newer one stays."""
    topic = await make_topics("bank.events", 1)
    store = EventStore(engine, BANK_EVENTS, topic_names={"bank.events": topic})
    await write_accounts(store, 2, 2)                       # six events

    async def relay_with(keep_s: float, published: int) -> OutboxRelay:
        relay = OutboxRelay(database_url, schema, kafka_bootstrap, poll_interval_s=0.1,
                            keep_published_s=keep_s)
        task = asyncio.create_task(relay.run())
        try:
            await eventually(lambda: relay.stats.published == published
                             and relay.stats.drains >= 2)
        finally:
            relay.stop()
            await task
        return relay

    kept = await relay_with(3600, 6)                        # just published: kept
    assert kept.stats.pruned == 0
    await write_accounts(store, 1, 0)                       # a seventh, not yet published
    async with engine.begin() as conn:                      # the first six went out long ago
        await conn.execute(text("UPDATE outbox SET published_at = now() - interval '2 hours' "
                                "WHERE published_at IS NOT NULL"))
    pruning = await relay_with(3600, 1)
    async with engine.connect() as conn:
        rows, events = (await conn.execute(text(
            "SELECT (SELECT count(*) FROM outbox), (SELECT count(*) FROM events)"))).one()
    assert pruning.stats.pruned == 6 and (rows, events) == (1, 7)


async def test_the_outbox_migration_drops_the_key_to_events_and_keeps_every_row(
        database_url, unique):
    """Revision 0004 on a store the relay used before: an outbox row no longer needs a key
    check against events, and every row stays (the relay prunes old ones, a batch at a time)."""
    name = f"t_{unique}_q"
    await run_migrations(database_url, name, "0003")
    eng = make_engine(database_url, name)
    try:
        store = EventStore(eng, BANK_EVENTS)
        await write_accounts(store, 1, 2)          # three events, three outbox rows
        async with eng.begin() as conn:
            await conn.execute(text("UPDATE outbox SET published_at = now() WHERE position IN "
                                    "(SELECT position FROM outbox ORDER BY position LIMIT 2)"))
        await run_migrations(database_url, name)
        async with eng.connect() as conn:
            kept = (await conn.execute(text(
                "SELECT count(*) FROM outbox WHERE published_at IS NULL"))).scalar_one()
            rows = (await conn.execute(text("SELECT count(*) FROM outbox"))).scalar_one()
            keys = (await conn.execute(text(
                "SELECT count(*) FROM pg_constraint WHERE contype = 'f' "
                "AND conrelid = 'outbox'::regclass"))).scalar_one()
        assert (rows, kept, keys) == (3, 1, 0)
    finally:
        await eng.dispose()


async def test_a_relay_wakes_for_its_own_stores_appends_only(
        engine, database_url, schema, kafka_bootstrap, make_topics):
    """The services share a database, and so the notification channel: each append names its
    schema, and another store's writes do not send this relay to look into its outbox."""
    topic = await make_topics("bank.events", 1)
    other = f"{schema}_other"
    await run_migrations(database_url, other)
    other_engine = make_engine(database_url, other)
    ours = EventStore(engine, BANK_EVENTS, topic_names={"bank.events": topic})
    theirs = EventStore(other_engine, BANK_EVENTS, topic_names={"bank.events": topic})
    relay = OutboxRelay(database_url, schema, kafka_bootstrap, poll_interval_s=600)  # no polls
    task = asyncio.create_task(relay.run())
    try:
        await eventually(lambda: relay.stats.leader and relay.stats.drains == 1)
        await write_accounts(theirs, 10, 1)      # 20 appends of another service
        await write_accounts(ours, 1, 0)
        await eventually(lambda: relay.stats.published == 1)   # woken by its own append
        assert relay.stats.drains <= 3, relay.stats   # start, ours, at most one more look
    finally:
        relay.stop()
        await task
        await other_engine.dispose()


async def test_a_lingering_relay_sends_what_came_meanwhile_in_one_batch(
        engine, database_url, schema, kafka_bootstrap, make_topics):
    """After a drain that emptied the outbox, appends that come within ``linger_s`` wait and
    go together, not one batch each; the first append after a quiet spell goes on its own."""
    topic = await make_topics("bank.events", 1)
    store = EventStore(engine, BANK_EVENTS, topic_names={"bank.events": topic})
    relay = OutboxRelay(database_url, schema, kafka_bootstrap, poll_interval_s=600,
                        linger_s=3.0)
    task = asyncio.create_task(relay.run())
    try:
        await eventually(lambda: relay.stats.leader and relay.stats.drains == 1)
        await write_accounts(store, 1, 0)
        await eventually(lambda: relay.stats.published == 1)
        assert relay.stats.batches == 1
        await write_accounts(store, 4, 4)        # 20 appends, 20 notifications
        await eventually(lambda: relay.stats.published == 21)
        assert relay.stats.batches <= 3, relay.stats   # not 20
    finally:
        relay.stop()   # also ends a linger at once
        await task
    assert len(await consume_all(kafka_bootstrap, topic, 21)) == 21


async def test_second_relay_stands_by_while_the_first_is_active(
        engine, database_url, schema, kafka_bootstrap, make_topics):
    topic = await make_topics("bank.events", 1)
    store = EventStore(engine, BANK_EVENTS, topic_names={"bank.events": topic})
    a = OutboxRelay(database_url, schema, kafka_bootstrap, poll_interval_s=0.2, standby_retry_s=0.2)
    b = OutboxRelay(database_url, schema, kafka_bootstrap, poll_interval_s=0.2, standby_retry_s=0.2)
    ta = asyncio.create_task(a.run())
    await eventually(lambda: a.stats.leader)
    tb = asyncio.create_task(b.run())
    await write_accounts(store, 2, 2)
    await eventually(lambda: a.stats.published == 6)
    assert not b.stats.leader and b.stats.published == 0
    a.stop()
    await ta
    await eventually(lambda: b.stats.leader)  # the stand-by takes over
    await write_accounts(store, 1, 0)
    await eventually(lambda: b.stats.published == 1)
    b.stop()
    await tb
    assert len(await consume_all(kafka_bootstrap, topic, 7)) == 7


async def test_projection_applies_resumes_and_equals_replay(
        engine, database_url, schema, kafka_bootstrap, make_topics):
    topic = await make_topics("bank.events", 3)
    store = EventStore(engine, BANK_EVENTS, topic_names={"bank.events": topic})
    sids = await write_accounts(store, 5, 3)
    relay = OutboxRelay(database_url, schema, kafka_bootstrap, poll_interval_s=0.2)
    rtask = asyncio.create_task(relay.run())
    try:
        runner = ProjectionRunner(BalanceProjection(topic), engine, kafka_bootstrap, registry=BANK_EVENTS, batch_size=4)
        await runner.start()
        ptask = asyncio.create_task(runner.run())
        await eventually(lambda: runner.stats.applied == 20)
        # read your writes while the runner runs here: it announces the batch, the wait ends
        assert applied_here.runs_here(["bank_balances"])
        sid = stream_of(uuid.uuid4())
        opened = await store.append(sid, 0, [AccountOpened(owner="o")], EventContext(
            patient_id=uuid.uuid4(), actor=ACTOR))
        await wait_until_applied(engine, "bank_balances", opened.token, 30)
        assert sid in {r[0] for r in await balances(engine)}
        await runner.stop()
        assert not applied_here.runs_here(["bank_balances"])
        await ptask
        first = [r for r in await balances(engine) if r[0] != sid]
        assert len(first) == 5 and all(row[1] == 6 for row in first)  # 1+2+3 øre

        # a restarted runner starts from the stored positions: it applies only the new events
        await write_accounts(store, 1, 1)
        runner2 = ProjectionRunner(BalanceProjection(topic), engine, kafka_bootstrap, registry=BANK_EVENTS)
        await runner2.start()
        ptask = asyncio.create_task(runner2.run())
        await eventually(lambda: runner2.stats.applied == 2)
        await runner2.stop()
        await ptask
        assert runner2.stats.duplicates == 0
        incremental = await balances(engine)
    finally:
        relay.stop()
        await rtask
    rebuilt = await replay(ProjectionRunner(BalanceProjection(topic), engine, kafka_bootstrap, registry=BANK_EVENTS))
    assert rebuilt.applied == 23   # 20, the one read back, 2 after the restart
    assert await balances(engine) == incremental
    assert set(sids) <= {r[0] for r in incremental}


async def published_with_duplicates(engine, database_url: str, schema: str, bootstrap: str,
                                    topic: str) -> EventStore:
    """Two accounts of three events each on ``topic``, and the first four sent again, as a
    relay that crashed before marking rows published sends them: ten records, six events."""
    store = EventStore(engine, BANK_EVENTS, topic_names={"bank.events": topic})
    await write_accounts(store, 2, 2)
    relay = OutboxRelay(database_url, schema, bootstrap, poll_interval_s=0.2)
    rtask = asyncio.create_task(relay.run())
    records = await consume_all(bootstrap, topic, 6)
    relay.stop()
    await rtask
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    for r in records[:4]:
        await producer.send_and_wait(topic, r.value, key=r.key)
    await producer.stop()
    return store


async def test_duplicates_on_the_topic_are_applied_once(
        engine, database_url, schema, kafka_bootstrap, make_topics):
    topic = await make_topics("bank.events", 1)
    await published_with_duplicates(engine, database_url, schema, kafka_bootstrap, topic)
    stats = await replay(ProjectionRunner(BalanceProjection(topic), engine, kafka_bootstrap, registry=BANK_EVENTS))
    assert stats.applied == 6 and stats.duplicates == 4
    assert [row[1:] for row in await balances(engine)] == [(3, 3), (3, 3)]


async def test_poison_event_goes_to_dlq_and_the_projection_keeps_going(
        engine, database_url, schema, kafka_bootstrap, make_topics):
    topic = await make_topics("bank.events", 1)
    store = EventStore(engine, BANK_EVENTS, topic_names={"bank.events": topic})
    good = await write_accounts(store, 1, 1)
    c = EventContext(patient_id=uuid.uuid4(), actor=ACTOR)
    await store.append(stream_of(uuid.uuid4()), 0, [AccountOpened(owner="POISON")], c)
    relay = OutboxRelay(database_url, schema, kafka_bootstrap, poll_interval_s=0.2)
    rtask = asyncio.create_task(relay.run())
    await eventually(lambda: relay.stats.published == 3)
    relay.stop()
    await rtask
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    await producer.send_and_wait(topic, b"{not json", key=b"x")
    await producer.stop()
    await write_accounts(store, 1, 0)  # after the poison: must still be applied
    relay = OutboxRelay(database_url, schema, kafka_bootstrap, poll_interval_s=0.2)
    rtask = asyncio.create_task(relay.run())
    await eventually(lambda: relay.stats.published == 1)
    relay.stop()
    await rtask

    stats = await replay(ProjectionRunner(BalanceProjection(topic), engine, kafka_bootstrap, registry=BANK_EVENTS))
    assert stats.dead_lettered == 2 and stats.applied == 3
    rows = await balances(engine)
    assert len(rows) == 2 and good[0] in {r[0] for r in rows}
    dlq = await consume_all(kafka_bootstrap, f"{topic}.dlq", 2)
    assert len(dlq) == 2
    errors = sorted(dict(r.headers)["ehr.error"].decode() for r in dlq)
    assert "test poison" in errors[0] or "test poison" in errors[1]
    assert any("not an event envelope" in e for e in errors)
    assert all(dict(r.headers)["ehr.source"].decode().startswith(topic) for r in dlq)


async def balances(engine):
    async with engine.connect() as conn:
        rows = await conn.execute(text(
            "SELECT stream_id, balance, events FROM bank_balances ORDER BY stream_id"))
        return [tuple(r) for r in rows]


async def test_one_active_runner_per_projection_and_replay_refuses_while_it_runs(
        engine, kafka_bootstrap, make_topics):
    from libs.events.projection import ProjectionBusy

    import pytest

    topic = await make_topics("bank.events", 1)
    first = ProjectionRunner(BalanceProjection(topic), engine, kafka_bootstrap, registry=BANK_EVENTS)
    await first.start()
    try:
        with pytest.raises(ProjectionBusy, match="stop it first"):
            await replay(ProjectionRunner(BalanceProjection(topic), engine, kafka_bootstrap, registry=BANK_EVENTS))
    finally:
        await first.stop()
    stats = await replay(ProjectionRunner(BalanceProjection(topic), engine, kafka_bootstrap, registry=BANK_EVENTS))
    assert stats.applied == 0


