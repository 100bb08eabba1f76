"""The event store's contract, run against PostgreSQL and against the in-memory store.

What PostgreSQL alone does (outbox rows, the caller's transaction, many streams in one
statement) is in test_store.py.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from libs.events import claims
from libs.events.consistency import ConsistencyToken
from libs.events.envelope import utcnow
from libs.events.registry import EventDecodeError, Registry
from libs.events.store import ConcurrencyError, CommitPosition
from tests.events.store_contract import NURSE, Backend, ctx
from tests.support.bank import Account, AccountOpened, Deposited, Withdrawn, evolve, stream_of

CLAIMS = "test_claims"


def new_stream() -> str:
    return stream_of(uuid.uuid4())


async def test_append_then_load_returns_events_in_order(backend: Backend):
    store, sid = backend.store, new_stream()
    r1 = await store.append(sid, 0, [AccountOpened(owner="Kari")], ctx())
    r2 = await store.append(sid, 1, [Deposited(amount_ore=500), Withdrawn(amount_ore=200)], ctx())
    assert (r1.version, r2.version) == (1, 3)
    events = await store.load(sid)
    assert [e.stream_version for e, _ in events] == [1, 2, 3]
    assert [p for _, p in events] == [AccountOpened(owner="Kari"), Deposited(amount_ore=500),
                                      Withdrawn(amount_ore=200)]
    assert [e for e, _ in events] == [*r1.envelopes, *r2.envelopes]
    state = Account()
    for _, p in events:
        state = evolve(state, p)
    assert state.balance == 300 and state.version == 3
    assert await store.version(sid) == 3
    assert [e.stream_version for e, _ in await store.load(sid, after_version=1)] == [2, 3]
    assert [e.stream_version for e, _ in await store.load(sid, 1, up_to_version=2)] == [2]


async def test_an_unknown_stream_is_empty_at_version_0(backend: Backend):
    assert await backend.store.version("account-nobody") == 0
    assert await backend.store.load("account-nobody") == []
    assert await backend.store.load_until("account-nobody", utcnow()) == []


async def test_concurrent_appends_with_same_expected_version_exactly_one_wins(backend: Backend):
    store, sid = backend.store, new_stream()
    await store.append(sid, 0, [AccountOpened(owner="Ola")], ctx())
    results = await asyncio.gather(
        *(store.append(sid, 1, [Deposited(amount_ore=100 + i)], ctx()) for i in range(8)),
        return_exceptions=True)
    wins = [r for r in results if not isinstance(r, BaseException)]
    losses = [r for r in results if isinstance(r, BaseException)]
    assert len(wins) == 1 and len(losses) == 7
    assert all(isinstance(e, ConcurrencyError) for e in losses)
    assert all((e.stream_id, e.expected, e.actual) == (sid, 1, 2) for e in losses)
    assert await store.version(sid) == 2 and len(await store.load(sid)) == 2


async def test_creating_an_existing_stream_is_a_conflict_and_writes_nothing(backend: Backend):
    store, sid = backend.store, new_stream()
    await store.append(sid, 0, [AccountOpened(owner="A")], ctx())
    with pytest.raises(ConcurrencyError) as err:
        await store.append(sid, 0, [AccountOpened(owner="B")], ctx())
    assert (err.value.expected, err.value.actual) == (0, 1)
    assert [p.owner for _, p in await store.load(sid)] == ["A"]


async def test_a_stale_or_future_expected_version_is_refused(backend: Backend):
    store, sid = backend.store, new_stream()
    await store.append(sid, 0, [AccountOpened(owner="A")], ctx())
    await store.append(sid, 1, [Deposited(amount_ore=1)], ctx())
    with pytest.raises(ConcurrencyError) as stale:
        await store.append(sid, 1, [Deposited(amount_ore=2)], ctx())
    with pytest.raises(ConcurrencyError) as ahead:  # ahead of the stream: would leave a gap
        await store.append(sid, 5, [Deposited(amount_ore=2)], ctx())
    with pytest.raises(ConcurrencyError) as missing:
        await store.append(new_stream(), 1, [Deposited(amount_ore=2)], ctx())
    assert (stale.value.actual, ahead.value.actual, missing.value.actual) == (2, 2, 0)
    assert await store.version(sid) == 2


async def test_expected_version_none_appends_at_any_version_and_0_only_creates(backend: Backend):
    store, sid = backend.store, f"log-{uuid.uuid4()}"
    first = await store.append(sid, None, [Deposited(amount_ore=1)], ctx())
    assert first.version == 1 and first.envelopes[0].stream_version == 1
    results = await asyncio.gather(*(
        store.append(sid, None, [Deposited(amount_ore=i + 1)] * (1 + i % 2), ctx())
        for i in range(10)))
    assert await store.version(sid) == 16
    versions = sorted(v.stream_version for r in results for v in r.envelopes)
    assert versions == list(range(2, 17)), "no event lost, no version taken twice"
    assert [e.stream_version for e, _ in await store.load(sid)] == list(range(1, 17))
    with pytest.raises(ConcurrencyError):
        await store.append(sid, 0, [Deposited(amount_ore=1)], ctx())


@pytest.mark.parametrize("payloads, expected", [([], 0), ([Deposited(amount_ore=1)], -1)])
async def test_an_empty_append_or_a_negative_version_is_an_error(backend: Backend, payloads,
                                                                 expected):
    with pytest.raises(ValueError):
        await backend.store.append(new_stream(), expected, payloads, ctx())


async def test_envelope_carries_the_context_and_the_write_trace(backend: Backend):
    patient, correlation, cause = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    span = NonRecordingSpan(SpanContext(trace_id=0x5B8EFFF798038103D269B633813FC60C,
                                        span_id=0xEEE19B7EC3C1B174, is_remote=False,
                                        trace_flags=TraceFlags(TraceFlags.SAMPLED)))
    sid, before = new_stream(), utcnow()
    with trace.use_span(span):
        res = await backend.store.append(sid, 0, [AccountOpened(owner="X"), Deposited(
            amount_ore=5)], ctx(patient, correlation_id=correlation, causation_id=cause))
    first, second = res.envelopes
    assert (first.type, first.schema_version, second.type, second.schema_version) == (
        "bank.AccountOpened", 1, "bank.Deposited", 2)
    assert (first.stream_id, first.stream_version, second.stream_version) == (sid, 1, 2)
    assert first.patient_id == patient and first.actor == NURSE and first.purpose == "test"
    assert (first.correlation_id, first.causation_id) == (correlation, cause)
    assert first.traceparent == "00-5b8efff798038103d269b633813fc60c-eee19b7ec3c1b174-01"
    assert first.data == {"owner": "X"} and second.data == {"amount_ore": 5}
    assert first.event_id.version == 7 and first.event_id != second.event_id
    assert before <= first.recorded_at == second.recorded_at <= utcnow()
    assert first.occurred_at == first.recorded_at, "occurred now unless the context says"
    assert first.key() == str(patient).encode()

    occurred = datetime(2024, 3, 1, 12, tzinfo=UTC)
    later = await backend.store.append(sid, 2, [Deposited(amount_ore=1)],
                                       ctx(patient, occurred_at=occurred))
    assert later.envelopes[0].occurred_at == occurred and later.envelopes[0].traceparent is None


async def test_append_result_has_positions_and_a_token_for_its_last_event(backend: Backend):
    store = backend.store
    a = await store.append(new_stream(), 0, [AccountOpened(owner="a"), Deposited(amount_ore=1)],
                           ctx())
    b = await store.append(new_stream(), 0, [AccountOpened(owner="b")], ctx())
    assert a.token == ConsistencyToken(a.envelopes[-1].event_id)
    assert ConsistencyToken.decode(a.token.encode()) == a.token
    assert len(a.positions) == 2 and a.positions[0] < a.positions[1] < b.positions[0]


async def test_an_event_stored_at_an_old_schema_version_is_upcast(backend: Backend):
    store, sid = backend.store, new_stream()
    res = await store.append(sid, 0, [AccountOpened(owner="Per")], ctx())
    # an event written years ago by a v1 writer: {"amount_nok": 12}
    await backend.put_raw(res.envelopes[0].model_copy(update={
        "event_id": uuid.uuid4(), "type": "bank.Deposited", "schema_version": 1,
        "stream_version": 2, "data": {"amount_nok": 12}}))
    (_, _), (env, payload) = await store.load(sid)
    assert payload == Deposited(amount_ore=1200) and env.schema_version == 2
    assert env.data == {"amount_ore": 1200}
    assert await store.append(sid, 2, [Withdrawn(amount_ore=1)], ctx())


async def test_a_store_reads_through_the_registry_it_was_given(backend: Backend):
    store, sid = backend.with_registry(Registry()), new_stream()
    await store.append(sid, 0, [AccountOpened(owner="a")], ctx())
    with pytest.raises(EventDecodeError, match="bank.AccountOpened"):
        await store.load(sid)


async def test_load_until_returns_the_stream_as_it_was_recorded_then(backend: Backend):
    store, sid = backend.store, new_stream()
    r1 = await store.append(sid, 0, [AccountOpened(owner="a"), Deposited(amount_ore=1)], ctx())
    await asyncio.sleep(0.002)
    r2 = await store.append(sid, 2, [Withdrawn(amount_ore=1)], ctx())
    cut = r1.envelopes[-1].recorded_at
    assert [e for e, _ in await store.load_until(sid, cut)] == list(r1.envelopes)
    assert [e.stream_version for e, _ in await store.load_until(sid, None)] == [1, 2, 3]
    assert await store.load_until(sid, cut - timedelta(microseconds=1)) == []
    assert (await store.load_until(sid, r2.envelopes[0].recorded_at))[-1][1] == Withdrawn(
        amount_ore=1)


async def test_read_all_returns_every_event_once_in_commit_order(backend: Backend):
    store, sids = backend.store, [new_stream() for _ in range(5)]
    await asyncio.gather(*(store.append(s, 0, [AccountOpened(owner="o")], ctx()) for s in sids))
    await asyncio.gather(*(store.append(s, 1, [Deposited(amount_ore=1)], ctx()) for s in sids))
    seen, pos = [], None
    while True:
        batch, nxt = await store.read_all(pos, limit=3)
        if not batch:
            assert nxt is None
            break
        assert len(batch) <= 3 and isinstance(nxt, CommitPosition) and (pos is None or nxt > pos)
        seen += batch
        pos = nxt
    assert len(seen) == 10 and len({e.envelope.event_id for e in seen}) == 10
    for s in sids:
        assert [e.envelope.stream_version for e in seen if e.envelope.stream_id == s] == [1, 2]


async def test_a_claimed_key_belongs_to_one_owner_and_refuses_all_or_nothing(backend: Backend):
    store = backend.store
    await store.create_claims(CLAIMS)
    await store.create_claims(CLAIMS)  # idempotent: every replica's start-up creates it
    kari, ola = uuid.uuid4(), uuid.uuid4()
    won = await store.append_claiming(CLAIMS, "12345678901", kari, stream_of(kari), 0,
                                      [AccountOpened(owner="Kari")], ctx(kari))
    assert won is not None and won.version == 1 and won.token
    assert await store.owner_of(CLAIMS, "12345678901") == kari
    assert await store.owner_of(CLAIMS, "10987654321") is None

    lost = await store.append_claiming(CLAIMS, "12345678901", ola, stream_of(ola), 0,
                                       [AccountOpened(owner="Ola")], ctx(ola))
    assert lost is None and await store.version(stream_of(ola)) == 0
    again = await store.append_claiming(CLAIMS, "10987654321", kari, stream_of(kari), 1,
                                        [Deposited(amount_ore=1)], ctx(kari))
    assert again is None, "an owner holds one key"
    assert await store.version(stream_of(kari)) == 1
    assert await store.owner_of(CLAIMS, "10987654321") is None


async def test_a_claim_whose_append_conflicts_leaves_no_claim(backend: Backend):
    store, per = backend.store, uuid.uuid4()
    await store.create_claims(CLAIMS)
    await store.append(stream_of(per), 0, [AccountOpened(owner="Per")], ctx(per))
    with pytest.raises(ConcurrencyError):
        await store.append_claiming(CLAIMS, "01010112345", per, stream_of(per), 0,
                                    [AccountOpened(owner="Per")], ctx(per))
    assert await store.owner_of(CLAIMS, "01010112345") is None
    assert await store.append_claiming(CLAIMS, "01010112345", per, stream_of(per), 1,
                                       [Deposited(amount_ore=1)], ctx(per))
    assert await store.owner_of(CLAIMS, "01010112345") == per


async def test_concurrent_claims_of_one_key_have_one_winner(backend: Backend):
    store = backend.store
    await store.create_claims(CLAIMS)
    owners = [uuid.uuid4() for _ in range(5)]
    results = await asyncio.gather(*(
        store.append_claiming(CLAIMS, "31129956715", o, stream_of(o), 0,
                              [AccountOpened(owner=str(o))], ctx(o)) for o in owners))
    winners = [o for o, r in zip(owners, results, strict=True) if r is not None]
    assert len(winners) == 1
    assert await store.owner_of(CLAIMS, "31129956715") == winners[0]
    assert [await store.version(stream_of(o)) for o in owners].count(1) == 1


async def test_a_claims_table_name_must_be_plain(backend: Backend):
    with pytest.raises(ValueError):
        await backend.store.create_claims("claims; DROP TABLE events")


async def test_the_claims_module_functions_call_the_store(backend: Backend):
    store, owner = backend.store, uuid.uuid4()
    await claims.create_claims_table(store, CLAIMS)
    result = await claims.append_claiming(store, CLAIMS, "k", owner, stream_of(owner), 0,
                                          [AccountOpened(owner="o")], ctx(owner))
    assert result is not None and await claims.owner_of(store, CLAIMS, "k") == owner
