"""A projection that wants only some of its topic's events (``Projection.wants``), on real
PostgreSQL and Kafka: a batch of only events it leaves alone is not handed to it, yet each is
recorded as applied (a read-your-writes wait on it ends, a restart does not read it again),
claimed in one statement with no transaction around it."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import event, text

from libs.events.consistency import wait_until_applied
from libs.events.db import make_engine
from libs.events.projection import ProjectionRunner, replay
from libs.events.relay import OutboxRelay
from libs.events.store import EventContext, EventStore
from tests.events.test_relay_projection import ACTOR, balances
from tests.support.bank import AccountOpened, BalanceProjection, Deposited, stream_of
from tests.support.bank import EVENTS as BANK_EVENTS
from tests.support.waiting import eventually


class OpeningsOnly(BalanceProjection):
    """The balances' table, but only the openings: deposits are left alone."""

    def __init__(self, topic: str):
        super().__init__(topic)
        self.handed: list[str] = []

    def wants(self, env, payload) -> bool:
        return isinstance(payload, AccountOpened)

    async def apply(self, conn, env, payload) -> None:
        self.handed.append(type(payload).__name__)
        if isinstance(payload, AccountOpened):
            await super().apply(conn, env, payload)


@pytest.fixture
async def logged(database_url, schema):
    """An engine of its own (so every connection is new) whose statements are noted."""
    engine = make_engine(database_url, schema)
    statements: list[str] = []

    @event.listens_for(engine.sync_engine, "connect")
    def log_statements(dbapi_connection, _record) -> None:
        dbapi_connection.driver_connection.add_query_logger(
            lambda q: statements.append(" ".join(q.query.split()).upper()[:80]))

    try:
        yield engine, statements
    finally:
        await engine.dispose()


async def test_events_a_projection_leaves_alone_are_claimed_not_applied(
        logged, database_url, schema, kafka_bootstrap, make_topics):
    engine, statements = logged
    topic = await make_topics("bank.events", 1)
    store = EventStore(engine, BANK_EVENTS, topic_names={"bank.events": topic})
    sid = stream_of(uuid.uuid4())
    ctx = EventContext(patient_id=uuid.uuid4(), actor=ACTOR)
    await store.append(sid, 0, [AccountOpened(owner="o")], ctx)
    relay = OutboxRelay(database_url, schema, kafka_bootstrap, poll_interval_s=0.2)
    rtask = asyncio.create_task(relay.run())
    projection = OpeningsOnly(topic)
    runner = ProjectionRunner(projection, engine, kafka_bootstrap, registry=BANK_EVENTS,
                              batch_size=1)
    try:
        await runner.start()
        ptask = asyncio.create_task(runner.run())
        await eventually(lambda: runner.stats.applied == 1)
        # the opening was applied in a transaction, and the log sees it begin
        assert "BEGIN;" in statements
        statements.clear()
        deposit = await store.append(sid, 1, [Deposited(amount_ore=5)], ctx)
        await wait_until_applied(engine, projection.name, deposit.token, 30)
        await eventually(lambda: runner.stats.applied == 2)
        during = list(statements)
        await runner.stop()
        await ptask
    finally:
        relay.stop()
        await rtask
    # the deposit's batch was claimed (the wait ended) with no transaction begun for it
    assert not [s for s in during if s.startswith(("BEGIN", "COMMIT", "ROLLBACK"))], during
    assert projection.handed == ["AccountOpened"]
    assert [r[1:] for r in await balances(engine)] == [(0, 1)]   # opened, no deposit applied
    # what was claimed is not read again: the stored position is past the deposit
    async with engine.connect() as conn:
        stored = await conn.execute(text(
            "SELECT next_offset FROM projection_positions WHERE projection = :p"),
            {"p": projection.name})
        assert stored.scalar_one() == 2

    # a rebuild (both events in a batch, so the deposit is handed over and does nothing)
    # ends where the live runner did
    stats = await replay(ProjectionRunner(OpeningsOnly(topic), engine, kafka_bootstrap,
                                          registry=BANK_EVENTS))
    assert stats.applied == 2
    assert [r[1:] for r in await balances(engine)] == [(0, 1)]
