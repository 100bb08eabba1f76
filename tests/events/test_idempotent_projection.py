"""A projection whose own keys make a second application do nothing (``Projection.idempotent``),
on real PostgreSQL and Kafka: it stores its positions and no event ids, a republished event
still leaves one row, and a restarted runner goes on where the last stopped. And a runner
that cannot reach Kafka says why."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import text

from libs.devstack.procs import free_port
from libs.events.kafka_client import KafkaAccessError
from libs.events.projection import ProjectionRunner, replay
from libs.events.read_model import Projection
from libs.events.relay import OutboxRelay
from libs.events.store import EventContext
from tests.conftest import count_rows
from tests.events.test_relay_projection import ACTOR, published_with_duplicates
from tests.support.bank import AccountOpened, stream_of
from tests.support.bank import EVENTS as BANK_EVENTS
from tests.support.waiting import eventually


class EventsSeen(Projection):
    """One row per event, keyed by it: applying an event twice keeps the first row."""

    name = "bank_events_seen"
    idempotent = True

    def __init__(self, topic: str):
        self.topics = (topic,)

    async def setup(self, conn) -> None:
        await conn.execute(text("""CREATE TABLE IF NOT EXISTS bank_events_seen (
            event_id uuid PRIMARY KEY, stream_id text NOT NULL, version integer NOT NULL)"""))

    async def reset(self, conn) -> None:
        await conn.execute(text("TRUNCATE bank_events_seen"))

    async def apply(self, conn, env, payload) -> None:
        await conn.execute(text("""INSERT INTO bank_events_seen VALUES (:e, :s, :v)
                                   ON CONFLICT (event_id) DO NOTHING"""),
                           {"e": env.event_id, "s": env.stream_id, "v": env.stream_version})


async def test_an_idempotent_projection_keeps_positions_not_ids_and_applies_each_event_once(
        engine, database_url, schema, kafka_bootstrap, make_topics):
    topic = await make_topics("bank.events", 1)
    store = await published_with_duplicates(engine, database_url, schema, kafka_bootstrap, topic)

    await replay(ProjectionRunner(EventsSeen(topic), engine, kafka_bootstrap,
                                  registry=BANK_EVENTS, batch_size=3))
    # every event applied, none skipped: two accounts at versions 1, 2 and 3
    assert await count_rows(engine, "SELECT count(*) FROM bank_events_seen") == 6
    assert await count_rows(engine, "SELECT count(DISTINCT stream_id) FROM bank_events_seen "
                                    "WHERE version IN (1, 2, 3)") == 2
    # no id of any event was recorded, only where the runner is: past all ten records
    assert await count_rows(engine, "SELECT count(*) FROM projection_events "
                                    "WHERE projection = 'bank_events_seen'") == 0
    assert await count_rows(engine, "SELECT next_offset FROM projection_positions "
                                    "WHERE projection = 'bank_events_seen'") == 10

    # a live runner goes on from there: the next event once, nothing before it again
    runner = ProjectionRunner(EventsSeen(topic), engine, kafka_bootstrap, registry=BANK_EVENTS)
    await runner.start()
    task = asyncio.create_task(runner.run())
    relay = OutboxRelay(database_url, schema, kafka_bootstrap, poll_interval_s=0.2)
    rtask = asyncio.create_task(relay.run())
    try:
        await store.append(stream_of(uuid.uuid4()), 0, [AccountOpened(owner="o")],
                           EventContext(patient_id=uuid.uuid4(), actor=ACTOR))
        await eventually(lambda: runner.stats.applied == 1)
    finally:
        relay.stop()
        await rtask
        await runner.stop()
        await task
    assert runner.stats.applied == 1 and runner.stats.duplicates == 0
    assert await count_rows(engine, "SELECT count(*) FROM bank_events_seen") == 7


async def test_a_runner_that_cannot_reach_kafka_says_why(engine):
    nowhere = f"127.0.0.1:{free_port()}"
    runner = ProjectionRunner(EventsSeen("bank.events"), engine, nowhere, registry=BANK_EVENTS)
    with pytest.raises(KafkaAccessError, match="nothing listens there"):
        await runner.start(wait_for_lock=False)
