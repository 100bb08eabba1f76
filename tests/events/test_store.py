"""Event store on real PostgreSQL: appends, optimistic concurrency, upcasting, commit order."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from sqlalchemy import text

from libs.events.envelope import Actor
from libs.events.store import ConcurrencyError, EventContext, EventStore
from tests.support.bank import AccountOpened, Account, Deposited, Withdrawn, evolve, stream_of

NURSE = Actor(kind="practitioner", id="HPR-9144889", organisation="974600951")


def ctx(patient: uuid.UUID | None = None) -> EventContext:
    return EventContext(patient_id=patient or uuid.uuid4(), actor=NURSE, purpose="test")


async def test_append_then_load_returns_events_in_order(engine):
    store = EventStore(engine)
    sid = stream_of(uuid.uuid4())
    r1 = await store.append(sid, 0, [AccountOpened(owner="Kari")], ctx())
    r2 = await store.append(sid, 1, [Deposited(amount_ore=500), Withdrawn(amount_ore=200)], ctx())
    assert (r1.version, r2.version) == (1, 3)
    events = await store.load(sid)
    assert [e.stream_version for e, _ in events] == [1, 2, 3]
    assert [type(p) for _, p in events] == [AccountOpened, Deposited, Withdrawn]
    state = Account()
    for _, p in events:
        state = evolve(state, p)
    assert state.balance == 300 and state.version == 3
    assert await store.version(sid) == 3


async def test_concurrent_appends_with_same_expected_version_exactly_one_wins(engine):
    store = EventStore(engine)
    sid = stream_of(uuid.uuid4())
    await store.append(sid, 0, [AccountOpened(owner="Ola")], ctx())

    async def attempt(i: int):
        return await store.append(sid, 1, [Deposited(amount_ore=100 + i)], ctx())

    results = await asyncio.gather(*(attempt(i) for i in range(8)), return_exceptions=True)
    wins = [r for r in results if not isinstance(r, BaseException)]
    losses = [r for r in results if isinstance(r, BaseException)]
    assert len(wins) == 1
    assert len(losses) == 7 and all(isinstance(e, ConcurrencyError) for e in losses)
    assert all(e.expected == 1 and e.actual == 2 for e in losses)
    assert await store.version(sid) == 2
    assert len(await store.load(sid)) == 2


async def test_creating_an_existing_stream_is_a_conflict_and_writes_nothing(engine):
    store = EventStore(engine)
    sid = stream_of(uuid.uuid4())
    await store.append(sid, 0, [AccountOpened(owner="A")], ctx())
    with pytest.raises(ConcurrencyError) as err:
        await store.append(sid, 0, [AccountOpened(owner="B")], ctx())
    assert err.value.actual == 1
    async with engine.connect() as conn:
        n = (await conn.execute(text("SELECT count(*) FROM outbox"))).scalar_one()
    assert n == 1, "a refused append must leave no outbox row behind"


async def test_stale_expected_version_is_refused(engine):
    store = EventStore(engine)
    sid = stream_of(uuid.uuid4())
    await store.append(sid, 0, [AccountOpened(owner="A")], ctx())
    await store.append(sid, 1, [Deposited(amount_ore=1)], ctx())
    with pytest.raises(ConcurrencyError):
        await store.append(sid, 1, [Deposited(amount_ore=2)], ctx())
    with pytest.raises(ConcurrencyError):  # ahead of the stream: would leave a gap
        await store.append(sid, 5, [Deposited(amount_ore=2)], ctx())


async def test_event_stored_at_old_schema_version_is_read_through_its_upcaster(engine):
    store = EventStore(engine)
    sid = stream_of(uuid.uuid4())
    res = await store.append(sid, 0, [AccountOpened(owner="Per")], ctx())
    # an event written years ago by a v1 writer: {"amount_nok": 12}
    old = res.envelopes[0].model_copy(update={
        "event_id": uuid.uuid4(), "type": "bank.Deposited", "schema_version": 1,
        "stream_version": 2, "data": {"amount_nok": 12}})
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE streams SET version = 2 WHERE stream_id = :s"), {"s": sid})
        await conn.execute(text("""
            INSERT INTO events (event_id, stream_id, stream_version, type, schema_version,
                                patient_id, recorded_at, envelope)
            VALUES (:id, :s, 2, 'bank.Deposited', 1, :p, now(), CAST(:env AS jsonb))"""),
            {"id": old.event_id, "s": sid, "p": old.patient_id, "env": old.model_dump_json()})
    (_, _), (env, payload) = await store.load(sid)
    assert isinstance(payload, Deposited) and payload.amount_ore == 1200
    assert env.schema_version == 2


async def test_envelope_carries_patient_actor_and_trace_but_never_a_national_id(engine):
    store = EventStore(engine)
    patient = uuid.uuid4()
    res = await store.append(stream_of(uuid.uuid4()), 0, [AccountOpened(owner="X")], ctx(patient))
    env = res.envelopes[0]
    assert env.patient_id == patient and env.actor == NURSE
    assert env.event_id.version == 7
    async with engine.connect() as conn:
        key, topic = (await conn.execute(text("SELECT key, topic FROM outbox"))).one()
    assert key == str(patient).encode() and topic == "bank.events"
    assert json.loads(env.model_dump_json())["type"] == "bank.AccountOpened"


async def test_read_all_returns_every_event_once_in_commit_order(engine):
    store = EventStore(engine)
    sids = [stream_of(uuid.uuid4()) for _ in range(5)]
    await asyncio.gather(*(store.append(s, 0, [AccountOpened(owner="o")], ctx()) for s in sids))
    await asyncio.gather(*(store.append(s, 1, [Deposited(amount_ore=1)], ctx()) for s in sids))
    seen, pos = [], None
    while True:
        batch, nxt = await store.read_all(pos, limit=3)
        if not batch:
            break
        seen += batch
        pos = nxt
    assert len(seen) == 10 and len({e.envelope.event_id for e in seen}) == 10
    for s in sids:
        versions = [e.envelope.stream_version for e in seen if e.envelope.stream_id == s]
        assert versions == [1, 2]


async def test_append_in_writes_several_streams_in_the_callers_transaction(engine):
    store = EventStore(engine)
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


async def test_append_without_expected_version_never_loses_an_event(engine):
    store = EventStore(engine)
    sid = f"log-{uuid.uuid4()}"
    results = await asyncio.gather(*(
        store.append(sid, None, [Deposited(amount_ore=i + 1)] * (1 + i % 2), ctx())
        for i in range(10)))
    assert await store.version(sid) == 15
    versions = sorted(v.stream_version for r in results for v in r.envelopes)
    assert versions == list(range(1, 16))
    assert [e.stream_version for e, _ in await store.load(sid)] == versions


async def test_outbox_rows_point_at_their_events_in_stream_order(engine):
    store = EventStore(engine)
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

    store = EventStore(engine)
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
