"""A projection's batch that commits in another process wakes the read-your-writes waiters of
this one, through PostgreSQL (``libs/events/applied_listener.py``): at commit and not before,
for its own schema only, every waiter of the projection when the batch was too large to name
its events, and again after the listener's connection was cut."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import asyncpg
import pytest

from libs.events import projection_positions as positions
from libs.events.applied_listener import AppliedListener, parse
from libs.events.consistency import Announcements
from libs.events.db import asyncpg_dsn


@pytest.fixture
async def heard(database_url, schema):
    ann = Announcements()
    listener = AppliedListener(database_url, schema, retry_s=0.05, announcements=ann)
    await listener.start()
    await asyncio.wait_for(listener.connected.wait(), 30)
    yield ann, listener
    await listener.stop()


async def claim(engine, projection: str, event_ids: list[uuid.UUID]) -> None:
    async with engine.begin() as conn:
        await positions.claim(conn, projection, event_ids, [])


async def until(fut: asyncio.Future) -> None:
    await asyncio.wait_for(asyncio.shield(fut), 30)


async def test_a_batch_wakes_its_waiters_when_it_commits_not_before(heard, engine):
    ann, _ = heard
    event, other, later = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    with ann.watch(event, ["journal_records"]) as woken, \
            ann.watch(other, ["journal_records"]) as not_in_batch, \
            ann.watch(later, ["journal_records"]) as later_heard:
        async with engine.begin() as conn:
            await positions.claim(conn, "journal_records", [event], [])
            await claim(engine, "journal_records", [later])  # another batch, committed
            await until(later_heard)
            assert not woken.done()            # its batch has not committed yet
        await until(woken)
        assert not not_in_batch.done()
        assert ann.announced_here(["anything"])   # while it listens, waits need not poll


async def test_other_schemas_and_other_projections_wake_no_one(heard, engine, database_url):
    ann, _ = heard
    event, marker = uuid.uuid4(), uuid.uuid4()
    with ann.watch(event, ["journal_records"]) as woken, \
            ann.watch(marker, ["journal_records"]) as last:
        conn = await asyncpg.connect(asyncpg_dsn(database_url))
        try:
            await conn.execute("SELECT pg_notify('ehr_applied', $1)",
                               f"t_elsewhere journal_records {event.hex}")
            await conn.execute("SELECT pg_notify('ehr_applied', 'not a notification')")
        finally:
            await conn.close()
        await claim(engine, "access_facts", [event])          # this schema, not its projection
        await claim(engine, "journal_records", [marker])      # heard after the ones before
        await until(last)
        assert not woken.done()


async def test_a_notification_is_read_only_for_its_schema_and_while_someone_waits(
        heard, engine, database_url, caplog):
    """On the database's one channel (where runners of an older version notify every
    service's batches) a listener reads (parses) only its own schema's, and only while a
    waiter here watches; an unreadable one it reads is said so."""
    ann, listener = heard
    broken = [f"t_elsewhere journal_records {'z' * 32}",        # another schema's
              f"{listener.schema} journal_records {'z' * 32}"]  # its own, unreadable

    async def send_then_mark() -> None:
        conn = await asyncpg.connect(asyncpg_dsn(database_url))
        try:
            for payload in broken:
                await conn.execute("SELECT pg_notify('ehr_applied', $1)", payload)
        finally:
            await conn.close()
        marker = uuid.uuid4()
        with ann.watch(marker, ["journal_records"]) as heard_marker:
            await claim(engine, "journal_records", [marker])   # delivered after the others
            await until(heard_marker)

    caplog.set_level("WARNING", logger="libs.events.applied_listener")
    await send_then_mark()                   # nobody waited while they came: none was read
    assert not [r for r in caplog.records if "cannot read" in r.getMessage()]
    with ann.watch(uuid.uuid4(), ["journal_records"]):
        await send_then_mark()               # someone waits: its own schema's is read
    assert len([r for r in caplog.records if "cannot read" in r.getMessage()]) == 1


async def test_a_batch_too_large_to_name_its_events_wakes_every_waiter_of_its_projection(
        heard, engine):
    ann, _ = heard
    batch = [uuid.uuid4() for _ in range(positions.NAMED_AT_MOST + 1)]
    outside = uuid.uuid4()
    with ann.watch(outside, ["journal_records"]) as asks_again:
        await claim(engine, "journal_records", batch)
        await until(asks_again)   # not in the batch: it asks its database, which says no


async def test_after_its_connection_is_cut_it_listens_again(heard, engine, database_url, schema):
    ann, listener = heard
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    name = f"ehr-applied-{schema}"
    try:
        [cut] = await conn.fetch("SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity "
                                 "WHERE application_name = $1", name)
        for _ in range(300):   # until a new connection hears a batch
            event = uuid.uuid4()
            with ann.watch(event, ["journal_records"]) as woken:
                await claim(engine, "journal_records", [event])
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(woken), 0.1)
                if woken.done():
                    break
        else:
            pytest.fail("the listener did not listen again")
        now = await conn.fetchval(
            "SELECT pid FROM pg_stat_activity WHERE application_name = $1", name)
    finally:
        await conn.close()
    assert now != cut["pid"] and listener.connected.is_set()


def test_a_notification_names_schema_projection_and_events():
    ids = [uuid.uuid4(), uuid.uuid4()]
    assert parse(f"t_a journal_records {ids[0].hex} {ids[1].hex}") == (
        "t_a", "journal_records", ids)
    assert parse("t_a journal_records") == ("t_a", "journal_records", None)
