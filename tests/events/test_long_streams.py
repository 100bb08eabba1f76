"""Long streams (issue 12, finding 6): what keeps a read or write of a patient with 100,000
events as cheap as one with a hundred, on both stores (``backend``: memory and PostgreSQL).

- ``load_newest``: one page of a stream's history, newest first, without reading the rest;
- ``load_entries``: the events of a few entries (an observation and its corrections);
- snapshots: a cold ``StreamStore`` reads the newest snapshot and only the events after it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence

import pytest
from pydantic import BaseModel

from libs.events.db import pooled
from libs.events.ports import Snapshot
from libs.events.registry import EventPayload
from libs.events.store import EventStore, entries_query
from libs.events.streams import Snapshots, StreamStore
from tests.events.store_contract import BANK, Backend, ctx
from tests.support.bank import AccountOpened, Deposited, Withdrawn, stream_of
from tests.support.counting import CountingStore
from tests.support.plans import assert_plan_kept, one_connection


class Balance(BaseModel):
    """A pydantic state (snapshots are JSON of the state's model)."""

    patient_id: uuid.UUID
    balance: int = 0
    deposits: int = 0


def fold(b: Balance, e: EventPayload) -> Balance:
    if isinstance(e, Deposited):
        return b.model_copy(update={"balance": b.balance + e.amount_ore,
                                    "deposits": b.deposits + 1})
    if isinstance(e, Withdrawn):
        return b.model_copy(update={"balance": b.balance - e.amount_ore})
    return b


def streams(store, every: int = 10) -> StreamStore[Balance]:
    return StreamStore(store, stream_of=stream_of, empty=lambda pid: Balance(patient_id=pid),
                       evolve=fold, snapshots=Snapshots(Balance, every=every))


async def deposits(s: StreamStore[Balance], pid: uuid.UUID, n: int) -> None:
    for i in range(n):
        await s.execute(pid, lambda b, i=i: [Deposited(amount_ore=i + 1)], ctx(pid).actor)


async def test_load_newest_pages_backwards_through_a_stream(backend: Backend):
    store, pid = backend.store, uuid.uuid4()
    sid = stream_of(pid)
    await store.append(sid, 0, [AccountOpened(owner="Kari")], ctx(pid))
    await store.append(sid, 1, [Deposited(amount_ore=i) for i in range(1, 25)], ctx(pid))
    first = await store.load_newest(sid, 10)
    assert [e.stream_version for e in first] == list(range(25, 15, -1))
    seen, before = [], None
    while page := await store.load_newest(sid, 10, before):
        seen += [e.stream_version for e in page]
        before = page[-1].stream_version
    assert seen == list(range(25, 0, -1))          # each once, newest first
    assert await store.load_newest(sid, 10, as_of=first[-1].recorded_at.replace(year=2000)) == []
    assert await store.load_newest(stream_of(uuid.uuid4()), 10) == []


async def test_load_entries_reads_only_the_events_of_those_entries(backend: Backend):
    store, pid = backend.store, uuid.uuid4()
    sid = stream_of(pid)
    await store.append(sid, 0, [AccountOpened(owner="Kari"), Deposited(amount_ore=7),
                                Withdrawn(amount_ore=7), Deposited(amount_ore=8),
                                Deposited(amount_ore=7)], ctx(pid))
    got = await store.load_entries(sid, "amount_ore", ["7"])
    assert [(e.stream_version, type(p).__name__) for e, p in got] == [
        (2, "Deposited"), (3, "Withdrawn"), (5, "Deposited")]
    several = await store.load_entries(sid, "amount_ore", ["8", "7"])
    assert [e.stream_version for e, _ in several] == [2, 3, 4, 5]
    assert await store.load_entries(sid, "amount_ore", []) == []
    assert await store.load_entries(stream_of(uuid.uuid4()), "amount_ore", ["7"]) == []
    with pytest.raises(ValueError):
        await store.load_entries(sid, "amount'; DROP TABLE events; --", ["7"])


async def test_load_entries_reads_by_the_index_not_the_stream(engine):
    """On PostgreSQL the look-up goes through the field's partial index (``index_entries``):
    a query that does not imply the index's predicate reads every event of the stream."""
    store, pid = EventStore(engine, BANK), uuid.uuid4()
    await store.index_entries("amount_ore")
    sid = stream_of(pid)
    await store.append(sid, 0, [AccountOpened(owner="Kari")], ctx(pid))
    for v in range(1, 400, 100):
        await store.append(sid, v, [Deposited(amount_ore=v + i) for i in range(100)], ctx(pid))
    async with engine.connect() as sa:
        conn = (await sa.get_raw_connection()).driver_connection
        async with conn.transaction():
            await conn.execute("ANALYZE events")
            await conn.execute("SET LOCAL enable_seqscan = off")   # whatever the table's size
            plan = await conn.fetchval("EXPLAIN (FORMAT JSON) " + entries_query("amount_ore"),
                                       sid, ["7"])
            one = await conn.fetchval("EXPLAIN (FORMAT JSON) " + entries_query("amount_ore",
                                                                              several=False),
                                      sid, "7")
    assert '"Index Name": "events_entry_amount_ore"' in json.dumps(plan), plan
    assert '"Index Name": "events_entry_amount_ore"' in json.dumps(one), one
    assert [p.amount_ore for _, p in await store.load_entries(sid, "amount_ore", ["7"])] == [7]


async def test_one_entry_is_looked_up_by_a_plan_postgresql_keeps(engine, database_url, schema):
    """A prepared statement whose generic plan PostgreSQL costs above its custom ones is planned
    again at every call, and ``= ANY`` of an array parameter is costed as ten values: a single
    create's look-up of its one observation was planned every time (bench/RESULTS.md). One
    value is compared with ``=``, and the connection keeps a generic plan after five calls."""
    store, pid = EventStore(engine, BANK), uuid.uuid4()
    await store.index_entries("amount_ore")
    sid = stream_of(pid)
    await store.append(sid, 0, [AccountOpened(owner="Kari")], ctx(pid))
    for v in range(1, 400, 100):   # as in a record: many events, each entry's few
        await store.append(sid, v, [Deposited(amount_ore=v + i) for i in range(100)], ctx(pid))
    async with one_connection(database_url, schema) as alone:
        async with pooled(alone) as conn:
            await conn.execute("ANALYZE events")
        looked = EventStore(alone, BANK)
        for v in range(1, 13):
            assert [p.amount_ore for _, p in await looked.load_entries(
                sid, "amount_ore", [str(v)])] == [v]
        await assert_plan_kept(alone, entries_query("amount_ore", several=False), calls=12)


async def test_a_snapshot_is_kept_per_stream_and_shape(backend: Backend):
    store, sid = backend.store, stream_of(uuid.uuid4())
    await store.append(sid, 0, [AccountOpened(owner="Ola")], ctx())
    assert await store.load_snapshot(sid, "a") is None
    await store.save_snapshot(Snapshot(sid, 5, "a", '{"x": 5}'))
    await store.save_snapshot(Snapshot(sid, 3, "a", '{"x": 3}'))     # older: ignored
    found = await store.load_snapshot(sid, "a")
    assert (found.version, found.doc.replace(" ", "")) == (5, '{"x":5}')
    assert await store.load_snapshot(sid, "b") is None                # another shape
    await store.save_snapshot(Snapshot(sid, 4, "b", '{"y": 4}'))      # a new shape replaces
    assert (await store.load_snapshot(sid, "b")).version == 4
    assert await store.load_snapshot(sid, "a") is None


async def test_a_cold_stream_store_folds_only_what_came_after_the_snapshot(backend: Backend):
    pid = uuid.uuid4()
    warm = streams(backend.store, every=10)
    await backend.store.append(stream_of(pid), 0, [AccountOpened(owner="Kari")], ctx(pid))
    await deposits(warm, pid, 44)                       # version 45
    state, version = await warm.current(pid)
    assert (version, state.deposits, state.balance) == (45, 44, sum(range(1, 45)))

    cold_store = CountingStore(backend.store)                # a restarted process: no cache
    cold = streams(cold_store, every=10)
    assert await cold.current(pid) == (state, 45)
    assert cold_store.loaded == 5                       # after the snapshot at 40, not 45
    plain = CountingStore(backend.store)  # without snapshots: the whole stream
    assert await StreamStore(plain, stream_of=stream_of, empty=lambda p: Balance(patient_id=p),
                             evolve=fold).current(pid) == (state, 45)
    assert plain.loaded == 45


async def test_a_snapshot_of_another_shape_is_never_read(backend: Backend):
    pid = uuid.uuid4()
    await backend.store.append(stream_of(pid), 0, [AccountOpened(owner="Kari")], ctx(pid))
    await deposits(streams(backend.store, every=5), pid, 9)
    bumped = CountingStore(backend.store)  # the fold's meaning changed
    s = StreamStore(bumped, stream_of=stream_of, empty=lambda p: Balance(patient_id=p),
                    evolve=fold, snapshots=Snapshots(Balance, every=5, revision="2"))
    state, version = await s.current(pid)
    assert (version, state.deposits, bumped.loaded) == (10, 9, 10)


async def test_a_failing_snapshot_never_fails_the_write(backend: Backend):
    class Broken(CountingStore):
        async def save_snapshot(self, snapshot: Snapshot) -> None:
            raise OSError("disk full")

    pid = uuid.uuid4()
    await backend.store.append(stream_of(pid), 0, [AccountOpened(owner="Kari")], ctx(pid))
    s = streams(Broken(backend.store), every=2)
    await deposits(s, pid, 5)
    assert (await backend.store.version(stream_of(pid))) == 6
    assert await backend.store.load_snapshot(stream_of(pid), Snapshots(Balance, 2).schema) is None


async def test_an_async_decision_sees_the_store_as_of_the_state_it_decides_on(backend: Backend):
    """A decision that awaits the store (one entry's events) and a write that lands while it
    waits: the append is a conflict, and the decision runs again on the new state."""
    pid = uuid.uuid4()
    s = streams(backend.store, every=100)
    await backend.store.append(stream_of(pid), 0, [AccountOpened(owner="Kari")], ctx(pid))
    calls: list[int] = []

    async def decide(b: Balance) -> Sequence[EventPayload]:
        calls.append(b.deposits)
        if len(calls) == 1:   # someone else deposits while this decision reads
            await backend.store.append(stream_of(pid), None, [Deposited(amount_ore=1)], ctx(pid))
        held = await backend.store.load_entries(stream_of(pid), "amount_ore", ["1"])
        return [] if len(held) > 1 else [Deposited(amount_ore=1)]

    await s.execute(pid, decide, ctx(pid).actor)
    assert calls == [0, 1]                              # decided again, on the new state
    assert [p for _, p in await backend.store.load(stream_of(pid))][1:] == [
        Deposited(amount_ore=1), Deposited(amount_ore=1)]
