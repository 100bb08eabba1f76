"""A read model's tables get their statistics as soon as they are filled (``Projection.analyzed``,
``libs/events/statistics.py``), on real PostgreSQL and Kafka: not before the threshold, once
after it, and again after a rebuild (``reset`` truncates them), instead of a minute or more
later from autovacuum while every search is planned as if the table were empty."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import text

from libs.devstack.procs import free_port
from libs.events.db import make_engine
from libs.events.projection import ProjectionRunner, replay
from libs.events.relay import OutboxRelay
from libs.events.statistics import FirstStatistics
from libs.events.store import EventContext, EventStore
from tests.events.test_relay_projection import ACTOR
from tests.support.bank import AccountOpened, BalanceProjection, stream_of
from tests.support.bank import EVENTS as BANK_EVENTS
from tests.support.waiting import eventually

AT_ROWS = 20


class Searched(BalanceProjection):
    analyzed = ("bank_balances",)


def runner_of(engine, topic: str, bootstrap: str) -> ProjectionRunner:
    runner = ProjectionRunner(Searched(topic), engine, bootstrap, registry=BANK_EVENTS,
                              batch_size=5)
    # the threshold a test can reach; looked at after every batch
    runner.statistics = FirstStatistics(engine, Searched.analyzed, at_rows=AT_ROWS, every_s=0)
    return runner


async def reltuples(engine) -> float:
    async with engine.connect() as conn:
        return (await conn.execute(text(
            "SELECT reltuples FROM pg_class WHERE oid = to_regclass('bank_balances')"))).scalar()


async def test_a_filled_table_is_analyzed_once_and_again_after_a_rebuild(
        engine, database_url, schema, kafka_bootstrap, make_topics):
    topic = await make_topics("bank.events", 1)
    store = EventStore(engine, BANK_EVENTS, topic_names={"bank.events": topic})

    async def open_accounts(n: int) -> None:
        for _ in range(n):
            account = uuid.uuid4()
            await store.append(stream_of(account), 0, [AccountOpened(owner="o")],
                               EventContext(patient_id=account, actor=ACTOR))

    relay = OutboxRelay(database_url, schema, kafka_bootstrap, poll_interval_s=0.1)
    rtask = asyncio.create_task(relay.run())
    runner = runner_of(engine, topic, kafka_bootstrap)
    try:
        await runner.start()
        ptask = asyncio.create_task(runner.run())
        await open_accounts(AT_ROWS - 5)
        await eventually(lambda: runner.stats.applied == AT_ROWS - 5)
        assert await reltuples(engine) < 0      # not yet: too few rows to plan on
        assert runner.statistics.pending == {"bank_balances"}
        await open_accounts(10)
        await eventually(lambda: runner.stats.applied == AT_ROWS + 5)
        await eventually(lambda: not runner.statistics.pending)
        assert AT_ROWS <= await reltuples(engine) <= AT_ROWS + 5   # analyzed when filled
        assert runner.statistics.analyzed == ["bank_balances"]
        await runner.stop()
        await ptask
    finally:
        relay.stop()
        await rtask

    rebuilt = runner_of(engine, topic, kafka_bootstrap)
    stats = await replay(rebuilt)
    assert stats.applied == AT_ROWS + 5
    assert not rebuilt.statistics.pending
    # truncated by the reset, the table had none: analyzed again once refilled
    assert rebuilt.statistics.analyzed == ["bank_balances"]
    assert await reltuples(engine) >= AT_ROWS


async def test_a_table_with_statistics_is_left_to_autovacuum(engine):
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE analyzed_before (n int)"))
        await conn.execute(text("INSERT INTO analyzed_before SELECT generate_series(1, 50)"))
        await conn.execute(text("ANALYZE analyzed_before"))
        await conn.execute(text("INSERT INTO analyzed_before SELECT generate_series(51, 90)"))
    statistics = FirstStatistics(engine, ("analyzed_before", "no_such_table"), at_rows=AT_ROWS,
                                 every_s=0)
    assert await statistics.check() == []
    assert not statistics.pending and statistics.analyzed == []
    async with engine.connect() as conn:
        assert (await conn.execute(text(
            "SELECT reltuples FROM pg_class WHERE relname = 'analyzed_before'"))).scalar() == 50


async def test_a_database_out_of_reach_is_looked_at_again_later(database_url):
    """After a batch has committed nothing may raise: the runner would apply it again."""
    host = database_url.split("@", 1)[1].split("/", 1)[0]
    gone = make_engine(database_url.replace(host, f"127.0.0.1:{free_port()}"), "public")
    try:
        statistics = FirstStatistics(gone, ("bank_balances",), every_s=0)
        assert await statistics.check() == []
        assert statistics.pending == {"bank_balances"}
    finally:
        await gone.dispose()
