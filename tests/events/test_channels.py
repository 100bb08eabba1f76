"""Notifications by schema, on real PostgreSQL and Kafka: an append notifies its schema's
``ehr_outbox:<schema>`` and a projection's batch its schema's ``ehr_applied:<schema>``, so no
relay or API process is sent (and woken by) another service's writes; relays and applied
listeners still hear the one channel of the database, where writers and runners of an older
version notify during a roll-out."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg

from libs.audit.log import AccessLogger
from libs.events import projection_positions as positions
from libs.events.applied_listener import AppliedListener
from libs.events.consistency import Announcements
from libs.events.db import asyncpg_dsn
from libs.events.many_streams import NOTIFY_CHANNEL, SCHEMA_CHARS, channel_of
from libs.events.relay import OutboxRelay
from libs.events.store import EventStore
from tests.events.test_relay_later import denied_read
from tests.events.test_relay_projection import write_accounts
from tests.support.bank import EVENTS as BANK_EVENTS
from tests.support.waiting import eventually


async def _listening(database_url: str, channels: list[str]) -> tuple[asyncpg.Connection,
                                                                       list[tuple[str, str]]]:
    heard: list[tuple[str, str]] = []
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    for channel in channels:
        await conn.add_listener(channel, lambda _c, _p, ch, payload: heard.append((ch, payload)))
    return conn, heard


def test_a_channel_names_at_most_63_bytes_whatever_the_schema():
    long = "s" * 63
    assert channel_of(NOTIFY_CHANNEL, long) == f"ehr_outbox:{'s' * SCHEMA_CHARS}"
    assert len(channel_of(positions.APPLIED_CHANNEL, long).encode()) <= 63


async def test_an_append_and_a_batch_notify_their_schemas_channels_only(
        engine, database_url, schema, make_topics):
    topic = await make_topics("bank.events", 1)
    store = EventStore(engine, BANK_EVENTS, topic_names={"bank.events": topic})
    ours = [channel_of(NOTIFY_CHANNEL, schema), channel_of(positions.APPLIED_CHANNEL, schema)]
    conn, heard = await _listening(
        database_url, ours + [NOTIFY_CHANNEL, positions.APPLIED_CHANNEL])
    try:
        await write_accounts(store, 1, 0)
        async with engine.begin() as tx:
            await positions.claim(tx, "balances", [uuid.uuid4()], [])
        await eventually(lambda: len(heard) >= 2)
        await asyncio.sleep(0.2)   # (room for a notification on the shared channels)
        assert [ch for ch, _ in heard] == ours, heard
        assert heard[0][1] == schema and heard[1][1].startswith(f"{schema} balances ")
    finally:
        await conn.close()


async def test_a_relay_still_wakes_for_a_writer_that_notifies_the_old_channel(
        engine, database_url, schema, kafka_bootstrap, make_topics):
    """A row the relay has not been hurried for (an access log entry: its wake-up is set
    ``later_s`` ahead, never here) goes when an older writer notifies the database's channel."""
    audit = await make_topics("audit.access", 1)
    logger = AccessLogger(engine, "journal", topic_names={"audit.access": audit})
    relay = OutboxRelay(database_url, schema, kafka_bootstrap, poll_interval_s=600,
                        later_s=600)   # neither a poll nor the log's wake-up comes in this test
    await logger.start()
    task = asyncio.create_task(relay.run())
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        await eventually(lambda: relay.stats.leader and relay.stats.drains == 1)
        patient = uuid.uuid4()
        await logger.log(denied_read(patient), patient)
        await asyncio.sleep(0.3)   # (room for a drain that must not come)
        assert relay.stats.published == 0
        await conn.execute("SELECT pg_notify($1, $2)", NOTIFY_CHANNEL, schema)
        await eventually(lambda: relay.stats.published == 1)
    finally:
        relay.stop()
        await task
        await logger.stop()
        await conn.close()


async def test_an_applied_listener_hears_its_schemas_channel_and_the_old_one(
        engine, database_url, schema):
    ann = Announcements()
    listener = AppliedListener(database_url, schema, retry_s=0.05, announcements=ann)
    await listener.start()
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        await asyncio.wait_for(listener.connected.wait(), 30)
        new, old = uuid.uuid4(), uuid.uuid4()
        with ann.watch(new, ["balances"]) as by_channel, ann.watch(old, ["balances"]) as by_old:
            async with engine.begin() as tx:
                await positions.claim(tx, "balances", [new], [])
            await conn.execute("SELECT pg_notify($1, $2)", positions.APPLIED_CHANNEL,
                               f"{schema} balances {old.hex}")
            await asyncio.wait_for(asyncio.gather(by_channel, by_old), 30)
    finally:
        await conn.close()
        await listener.stop()
