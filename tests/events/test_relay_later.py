"""The access log's rows and the relay, on real PostgreSQL and Kafka: the answer to a read
waits for its entry's commit, and no one waits to see the entry on Kafka, so its notification
(``many_streams.LATER``) does not wake the relay: the rows go at a wake-up ``later_s`` ahead,
or with the next drain for a write someone waits for (``libs/events/relay.py``)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import asyncpg

from libs.access.model import Action, Decision, Practitioner, Resource, Role
from libs.audit.log import AccessEntry, AccessLogger, entry_for
from libs.events.db import asyncpg_dsn
from libs.events.many_streams import LATER, NOTIFY_CHANNEL, channel_of
from libs.events.relay import OutboxRelay
from libs.events.store import EventStore
from tests.events.test_relay_projection import consume_all, write_accounts
from tests.support.bank import EVENTS as BANK_EVENTS
from tests.support.waiting import eventually

STRANGER = Practitioner(person_id="x", hpr="7654321", org_parent="999999999",
                        org_child="987654325", roles=frozenset({Role.nurse}))


def denied_read(patient: uuid.UUID) -> AccessEntry:
    """A denied read of ``patient``'s record, as the access log writes every access."""
    return entry_for(STRANGER, Action.read, Resource(patient_id=patient, category="record"),
                     Decision(permit=False, reason="no_relation", message="no"),
                     service="journal", now=datetime.now(UTC))


async def test_access_log_rows_wait_for_the_relay_and_go_with_the_next_urgent_append(
        engine, database_url, schema, kafka_bootstrap, make_topics):
    """The access log's rows (appended ``later``) do not wake the relay: committed, they wait
    for its wake-up ``later_s`` ahead, or go along with the next append someone waits for."""
    audit, bank = await make_topics("audit.access", 1), await make_topics("bank.events", 1)
    logger = AccessLogger(engine, "journal", topic_names={"audit.access": audit})
    store = EventStore(engine, BANK_EVENTS, topic_names={"bank.events": bank})
    relay = OutboxRelay(database_url, schema, kafka_bootstrap, poll_interval_s=600,
                        later_s=600)   # neither a poll nor the wake-up comes in this test
    await logger.start()
    task = asyncio.create_task(relay.run())
    try:
        await eventually(lambda: relay.stats.leader and relay.stats.drains == 1)
        patient = uuid.uuid4()
        for _ in range(5):   # five batches, five notifications
            await logger.log(denied_read(patient), patient)
        await asyncio.sleep(0.5)   # (room for a wake-up that must not come)
        assert (relay.stats.drains, relay.stats.published) == (1, 0)
        await write_accounts(store, 1, 0)        # an append someone may wait for
        await eventually(lambda: relay.stats.published == 6)
        assert relay.stats.batches == 1, relay.stats   # all six in one drain
    finally:
        relay.stop()
        await task
        await logger.stop()
    assert len(await consume_all(kafka_bootstrap, audit, 5)) == 5


async def test_access_log_rows_go_on_their_own_after_later_s(
        engine, database_url, schema, kafka_bootstrap, make_topics):
    """With nothing else appended (and no poll), the log's rows go at the wake-up their first
    notification set."""
    audit = await make_topics("audit.access", 1)
    logger = AccessLogger(engine, "journal", topic_names={"audit.access": audit})
    relay = OutboxRelay(database_url, schema, kafka_bootstrap, poll_interval_s=600,
                        later_s=0.3)
    await logger.start()
    task = asyncio.create_task(relay.run())
    try:
        await eventually(lambda: relay.stats.leader and relay.stats.drains == 1)
        for _ in range(20):   # twenty group commits, twenty notifications
            patient = uuid.uuid4()
            await logger.log(denied_read(patient), patient)
        await eventually(lambda: relay.stats.published == 20)
    finally:
        relay.stop()
        await task
        await logger.stop()
    assert len(await consume_all(kafka_bootstrap, audit, 20)) == 20


async def _told(database_url: str, schema: str, heard: list[str]) -> asyncpg.Connection:
    """A connection that keeps the relay notifications of ``schema``'s log rows in ``heard``."""
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    await conn.add_listener(channel_of(NOTIFY_CHANNEL, schema.lower()),
                            lambda _c, _p, _ch, payload: heard.append(payload)
                            if payload == schema.lower() + LATER else None)
    return conn


async def test_a_logger_tells_the_relay_once_while_its_batches_come_and_all_rows_go(
        engine, database_url, schema, kafka_bootstrap, make_topics):
    """Batches within ``tell_every_s`` of the one that notified append without a notification
    (every notification wakes every listening connection of the database); their rows go with
    the drain the first one set."""
    audit = await make_topics("audit.access", 1)
    logger = AccessLogger(engine, "journal", topic_names={"audit.access": audit},
                          tell_every_s=600)
    relay = OutboxRelay(database_url, schema, kafka_bootstrap, poll_interval_s=600,
                        later_s=1.0)   # no poll: only the first batch's wake-up drains
    heard: list[str] = []
    listening = await _told(database_url, schema, heard)
    await logger.start()
    task = asyncio.create_task(relay.run())
    try:
        await eventually(lambda: relay.stats.leader and relay.stats.drains == 1)
        for _ in range(10):   # ten group commits
            patient = uuid.uuid4()
            await logger.log(denied_read(patient), patient)
        await eventually(lambda: relay.stats.published == 10)
        assert len(heard) == 1, heard
    finally:
        relay.stop()
        await task
        await logger.stop()
        await listening.close()
    assert len(await consume_all(kafka_bootstrap, audit, 10)) == 10


async def test_a_logger_tells_the_relay_again_once_tell_every_s_has_passed(
        engine, database_url, schema, make_topics):
    """A batch after ``tell_every_s`` notifies again, so rows committed after the drain the
    last notification set do not wait for the relay's poll."""
    audit = await make_topics("audit.access", 1)
    logger = AccessLogger(engine, "journal", topic_names={"audit.access": audit},
                          tell_every_s=0.2)
    heard: list[str] = []
    listening = await _told(database_url, schema, heard)
    await logger.start()
    try:
        for pause in (0, 0, 0.3, 0):   # told, quiet, (time passes) told, quiet
            await asyncio.sleep(pause)
            patient = uuid.uuid4()
            await logger.log(denied_read(patient), patient)
        await eventually(lambda: len(heard) == 2)
        await asyncio.sleep(0.2)   # (room for a notification that must not come)
        assert len(heard) == 2, heard
    finally:
        await logger.stop()
        await listening.close()
