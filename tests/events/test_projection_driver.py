"""The projection runner's batch transaction on the driver's connection (``driver_transaction``),
on real PostgreSQL and Kafka: the projection's statements through SQLAlchemy are inside it (a
batch that fails half way leaves nothing of its first try), and a runner whose database
connections are cut goes on and applies every event exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import asyncpg
import pytest
from sqlalchemy import event, text

from libs.events.db import asyncpg_dsn, driver_of, make_engine
from libs.events.projection import ProjectionRunner, replay
from libs.events.relay import OutboxRelay
from libs.events.store import EventContext, EventStore
from tests.events.test_relay_projection import ACTOR, balances
from tests.support.bank import AccountOpened, BalanceProjection, Deposited, stream_of
from tests.support.bank import EVENTS as BANK_EVENTS
from tests.support.waiting import eventually


CUT = "ehr-test-runner-to-cut"


class FailsAfterThirteen(BalanceProjection):
    """Applies a deposit of 13 øre, then refuses it: its statement ran before the refusal."""

    async def apply(self, conn, env, payload) -> None:
        await super().apply(conn, env, payload)
        if isinstance(payload, Deposited) and payload.amount_ore == 13:
            raise ValueError("thirteen is refused after it was written (test)")


async def test_a_batch_that_fails_half_way_leaves_nothing_of_its_first_try(
        engine, database_url, schema, kafka_bootstrap, make_topics):
    topic = await make_topics("bank.events", 1)
    store = EventStore(engine, BANK_EVENTS, topic_names={"bank.events": topic})
    sid = stream_of(uuid.uuid4())
    await store.append(sid, 0, [AccountOpened(owner="o"), Deposited(amount_ore=5),
                                Deposited(amount_ore=13)],
                       EventContext(patient_id=uuid.uuid4(), actor=ACTOR))
    relay = OutboxRelay(database_url, schema, kafka_bootstrap, poll_interval_s=0.2)
    rtask = asyncio.create_task(relay.run())
    await eventually(lambda: relay.stats.published == 3)
    relay.stop()
    await rtask

    stats = await replay(ProjectionRunner(FailsAfterThirteen(topic), engine, kafka_bootstrap,
                                          registry=BANK_EVENTS))
    # the first try wrote the opening, 5 and 13 before it raised; had any of that committed,
    # the second try (one event at a time) would have refused the opening and the 5 as well
    assert (stats.applied, stats.dead_lettered) == (2, 1)
    assert [r[1:] for r in await balances(engine)] == [(5, 2)]


@pytest.fixture
async def runner_engine(database_url, schema):
    """An engine for the runner alone, its connections named so the test can cut them."""
    engine = make_engine(database_url, schema)

    @event.listens_for(engine.sync_engine, "connect")
    def name_it(dbapi_connection, _record) -> None:
        dbapi_connection.run_async(lambda c: c.execute(f"SET application_name = '{CUT}'"))

    try:
        yield engine
    finally:
        await engine.dispose()


async def test_a_runner_whose_connections_are_cut_applies_every_event_once(
        engine, runner_engine, database_url, schema, kafka_bootstrap, make_topics):
    topic = await make_topics("bank.events", 3)
    store = EventStore(engine, BANK_EVENTS, topic_names={"bank.events": topic})
    accounts = [stream_of(uuid.uuid4()) for _ in range(4)]
    ctx = EventContext(patient_id=uuid.uuid4(), actor=ACTOR)
    for sid in accounts:
        await store.append(sid, 0, [AccountOpened(owner="o")], ctx)
    relay = OutboxRelay(database_url, schema, kafka_bootstrap, poll_interval_s=0.05)
    rtask = asyncio.create_task(relay.run())
    runner = ProjectionRunner(BalanceProjection(topic), runner_engine, kafka_bootstrap,
                              registry=BANK_EVENTS, batch_size=5)
    admin = await asyncpg.connect(asyncpg_dsn(database_url))
    cut = 0
    try:
        await runner.start()
        ptask = asyncio.create_task(runner.run())
        for n in range(1, 31):
            for sid in accounts:
                await store.append(sid, n, [Deposited(amount_ore=n)], ctx)
            if n % 3 == 0:   # the runner's connections but the one holding its lock
                cut += len(await admin.fetch(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = $1 AND pid NOT IN "
                    "(SELECT pid FROM pg_locks WHERE locktype = 'advisory')", CUT))
            await asyncio.sleep(0.02)
        await eventually(lambda: runner.stats.applied == 4 * 31, timeout_s=60)
        await runner.stop()
        await ptask
    finally:
        await admin.close()
        relay.stop()
        await rtask
    assert cut > 0   # the test cut something
    assert sorted(r[1:] for r in await balances(engine)) == [(465, 31)] * 4


async def test_driver_of_a_transaction_not_begun_yet_begins_it(engine):
    """A projection's statements on the driver stay in the caller's transaction even when
    SQLAlchemy has sent nothing yet (it begins with its first statement)."""
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE IF NOT EXISTS driver_probe (n int)"))
    with contextlib.suppress(RuntimeError):
        async with engine.begin() as conn:
            raw = await driver_of(conn)
            await raw.execute("INSERT INTO driver_probe VALUES (1)")
            raise RuntimeError("roll back")
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM driver_probe"))).scalar() == 0
