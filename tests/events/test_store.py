"""What only the PostgreSQL event store does: outbox rows with the events, appends in the
caller's transaction, many streams in one statement. The contract both stores keep (appends,
concurrency, upcasting, commit order, claims) is in test_store_contract.py."""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import text

from libs.events.store import ConcurrencyError, EventStore
from tests.events.store_contract import NURSE, ctx
from tests.support.bank import AccountOpened, Deposited, Withdrawn, stream_of
from tests.support.bank import EVENTS as BANK_EVENTS


async def test_a_refused_append_leaves_no_outbox_row(engine):
    store = EventStore(engine, BANK_EVENTS)
    sid = stream_of(uuid.uuid4())
    await store.append(sid, 0, [AccountOpened(owner="A")], ctx())
    with pytest.raises(ConcurrencyError) as err:
        await store.append(sid, 0, [AccountOpened(owner="B")], ctx())
    assert err.value.actual == 1
    async with engine.connect() as conn:
        n = (await conn.execute(text("SELECT count(*) FROM outbox"))).scalar_one()
    assert n == 1, "a refused append must leave no outbox row behind"


async def test_the_outbox_row_is_keyed_by_patient_on_the_payloads_topic(engine):
    store = EventStore(engine, BANK_EVENTS)
    patient = uuid.uuid4()
    res = await store.append(stream_of(uuid.uuid4()), 0, [AccountOpened(owner="X")], ctx(patient))
    env = res.envelopes[0]
    assert env.patient_id == patient and env.actor == NURSE
    assert env.event_id.version == 7
    async with engine.connect() as conn:
        key, topic = (await conn.execute(text("SELECT key, topic FROM outbox"))).one()
    assert key == str(patient).encode() and topic == "bank.events"
    assert json.loads(env.model_dump_json())["type"] == "bank.AccountOpened"


async def test_append_in_writes_several_streams_in_the_callers_transaction(engine):
    store = EventStore(engine, BANK_EVENTS)
    a, b = stream_of(uuid.uuid4()), stream_of(uuid.uuid4())
    async with engine.begin() as conn:
        ra = await store.append_in(conn, a, 0, [AccountOpened(owner="a")], ctx())
        rb = await store.append_in(conn, b, 0, [AccountOpened(owner="b"), Deposited(amount_ore=1)],
                                   ctx())
    assert (ra.version, rb.version) == (1, 2) and len(rb.positions) == 2
    with pytest.raises(RuntimeError):
        async with engine.begin() as conn:
            await store.append_in(conn, a, 1, [Deposited(amount_ore=5)], ctx())
            raise RuntimeError("the caller fails after appending")
    assert await store.version(a) == 1, "a rolled-back transaction leaves nothing behind"
    async with engine.begin() as conn:
        with pytest.raises(ConcurrencyError):
            await store.append_in(conn, a, 0, [AccountOpened(owner="again")], ctx())
    async with engine.connect() as conn:
        events, outbox = (await conn.execute(text(
            "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM outbox)"))).one()
    assert events == outbox == 3


async def test_outbox_rows_point_at_their_events_in_stream_order(engine):
    store = EventStore(engine, BANK_EVENTS)
    sid = stream_of(uuid.uuid4())
    res = await store.append(sid, 0, [AccountOpened(owner="x"), Deposited(amount_ore=2),
                                      Withdrawn(amount_ore=1)], ctx())
    async with engine.connect() as conn:
        rows = (await conn.execute(text(
            "SELECT e.position, e.stream_version FROM outbox o JOIN events e USING (position) "
            "ORDER BY position"))).all()
    assert [r[0] for r in rows] == list(res.positions)
    assert [r[1] for r in rows] == [1, 2, 3]


async def test_appending_many_streams_is_all_or_nothing(engine):
    from libs.events.store import StreamAppend  # noqa: PLC0415

    store = EventStore(engine, BANK_EVENTS)
    a, b = uuid.uuid4(), uuid.uuid4()
    await store.append(stream_of(b), 0, [AccountOpened(owner="b")], ctx(b))

    async def append_both(expected_b: int) -> None:
        async with engine.connect() as sa:
            raw = (await sa.get_raw_connection()).driver_connection
            # no transaction: the one statement is all or nothing on its own
            await store.append_streams_in(raw, [
                StreamAppend(stream_of(a), 0, [AccountOpened(owner="a")], ctx(a)),
                StreamAppend(stream_of(b), expected_b, [Deposited(amount_ore=5)], ctx(b))])

    with pytest.raises(ConcurrencyError):
        await append_both(expected_b=0)          # b exists: neither stream changes
    assert await store.version(stream_of(a)) == 0
    assert await store.version(stream_of(b)) == 1

    await append_both(expected_b=1)
    assert [p for _, p in await store.load(stream_of(a))] == [AccountOpened(owner="a")]
    assert [p for _, p in await store.load(stream_of(b))][-1] == Deposited(amount_ore=5)
    async with engine.connect() as conn:
        outboxed = (await conn.execute(text("SELECT count(*) FROM outbox"))).scalar_one()
    assert outboxed == 3, "every event goes to the outbox with it"


async def test_a_refused_claim_leaves_no_claim_event_or_outbox_row(engine):
    store, owner, other = EventStore(engine, BANK_EVENTS), uuid.uuid4(), uuid.uuid4()
    await store.create_claims("test_claims")
    await store.append_claiming("test_claims", "k", owner, stream_of(owner), 0,
                                [AccountOpened(owner="a")], ctx(owner))
    assert await store.append_claiming("test_claims", "k", other, stream_of(other), 0,
                                       [AccountOpened(owner="b")], ctx(other)) is None
    with pytest.raises(ConcurrencyError):
        await store.append_claiming("test_claims", "k2", other, stream_of(owner), 0,
                                    [AccountOpened(owner="c")], ctx(other))
    async with engine.connect() as conn:
        counts = (await conn.execute(text(
            "SELECT (SELECT count(*) FROM test_claims), (SELECT count(*) FROM events), "
            "(SELECT count(*) FROM outbox)"))).one()
    assert tuple(counts) == (1, 1, 1)
