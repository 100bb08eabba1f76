"""StreamStore (load, decide, append, with a cache) on both stores: If-Match, retries, the cache,
history and claims. On the in-memory store these need no stack and take milliseconds."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence

import pytest

from libs.events.ports import ConcurrencyError, EventContext, EventStorePort
from libs.events.registry import EventPayload
from libs.events.streams import RETRIES, Claim, StreamStore
from libs.kernel.errors import Conflict, PreconditionFailed
from tests.events.store_contract import NURSE, Backend, ctx
from tests.support.bank import (Account, AccountOpened, Deposited, Withdrawn, decide_withdraw,
                                evolve, stream_of)

CLAIMS = "bank_claims"


class Interloper:
    """The store as seen by one replica while another writes: before each of the next ``times``
    appends (after this replica loaded the stream), someone else deposits 1 øre first."""

    def __init__(self, store: EventStorePort, times: int):
        self._store, self.times = store, times
        self.loads: list[int] = []

    def __getattr__(self, name: str):
        return getattr(self._store, name)

    async def load(self, stream_id: str, after_version: int = 0, up_to_version=None):
        self.loads.append(after_version)
        return await self._store.load(stream_id, after_version, up_to_version)

    async def append(self, stream_id: str, expected_version, payloads, ctx: EventContext):
        if self.times:
            self.times -= 1
            await self._store.append(stream_id, None, [Deposited(amount_ore=1)], ctx)
        return await self._store.append(stream_id, expected_version, payloads, ctx)


class Counting:
    """``evolve`` that counts the events it folds."""

    def __init__(self):
        self.folded = 0

    def __call__(self, state: Account, payload: EventPayload) -> Account:
        self.folded += 1
        return evolve(state, payload)


def accounts(store: EventStorePort, evolve_=evolve, **kw) -> StreamStore[Account]:
    return StreamStore(store, stream_of=stream_of, empty=lambda _: Account(), evolve=evolve_,
                       **kw)


def deposit(amount: int):
    return lambda state: [Deposited(amount_ore=amount)]


async def opened(backend: Backend, balance: int = 0) -> uuid.UUID:
    patient = uuid.uuid4()
    events: list[EventPayload] = [AccountOpened(owner="Kari")]
    await backend.store.append(stream_of(patient), 0,
                               events + ([Deposited(amount_ore=balance)] if balance else []),
                               ctx(patient))
    return patient


async def test_if_match_naming_a_stale_version_is_412_with_the_current_one(backend: Backend):
    patient = await opened(backend, balance=500)
    streams = accounts(backend.store)
    with pytest.raises(PreconditionFailed) as err:
        await streams.execute(patient, deposit(1), NURSE, expected_version=1)
    assert err.value.current == 2
    assert await backend.store.version(stream_of(patient)) == 2, "nothing appended"
    result = await streams.execute(patient, deposit(1), NURSE, expected_version=2)
    assert result is not None and result.version == 3


async def test_if_match_and_a_concurrent_append_in_between_is_412_not_retried(backend: Backend):
    patient = await opened(backend)
    racing = Interloper(backend.store, times=1)
    decided = []
    with pytest.raises(PreconditionFailed) as err:
        await accounts(racing).execute(patient, lambda s: decided.append(s) or [
            Deposited(amount_ore=7)], NURSE, expected_version=1)
    assert err.value.current == 2 and len(decided) == 1
    assert [p for _, p in await backend.store.load(stream_of(patient))][-1] == Deposited(
        amount_ore=1), "only the other writer's deposit"


async def test_without_if_match_a_concurrent_append_means_deciding_again(backend: Backend):
    patient = await opened(backend, balance=100)
    racing = Interloper(backend.store, times=2)
    seen: list[int] = []

    def withdraw_all(state: Account) -> Sequence[EventPayload]:
        seen.append(state.balance)
        return decide_withdraw(state, state.balance)

    result = await accounts(racing).execute(patient, withdraw_all, NURSE)
    assert seen == [100, 101, 102], "decided again on each new state"
    assert result is not None and result.version == 5
    state, version = await accounts(backend.store).current(patient)
    assert (state.balance, version) == (0, 5)


async def test_a_command_that_keeps_losing_gives_up_with_the_conflict(backend: Backend):
    patient = await opened(backend)
    with pytest.raises(ConcurrencyError):
        await accounts(Interloper(backend.store, times=RETRIES)).execute(
            patient, deposit(5), NURSE)
    assert await backend.store.version(stream_of(patient)) == 1 + RETRIES


async def test_two_concurrent_commands_both_land(backend: Backend):
    patient = await opened(backend)
    a, b = accounts(backend.store), accounts(backend.store)   # two replicas
    await asyncio.gather(a.execute(patient, deposit(10), NURSE),
                         b.execute(patient, deposit(20), NURSE))
    state, version = await accounts(backend.store).current(patient)
    assert (state.balance, version) == (30, 3)


async def test_a_decision_with_no_events_appends_nothing(backend: Backend):
    patient = await opened(backend)
    streams = accounts(backend.store)
    assert await streams.execute(patient, lambda state: [], NURSE) is None
    assert await streams.execute(patient, lambda state: [], NURSE, expected_version=1) is None
    assert await backend.store.version(stream_of(patient)) == 1


async def test_the_cache_folds_only_new_events(backend: Backend):
    patient = await opened(backend, balance=50)
    counting = Counting()
    spy = Interloper(backend.store, times=0)
    streams = accounts(spy, counting)
    assert (await streams.current(patient))[1] == 2 and counting.folded == 2
    await streams.execute(patient, deposit(5), NURSE)          # folds its own event in
    assert counting.folded == 3
    await backend.store.append(stream_of(patient), 3, [Withdrawn(amount_ore=5)], ctx(patient))
    state, version = await streams.current(patient)            # another replica's write
    assert (state.balance, version, counting.folded) == (50, 4, 4)
    # the command decided on the fold held at version 2 without reading the stream: its append
    # at that version was the proof nothing came in between
    assert spy.loads == [0, 3]


async def test_a_command_on_a_fold_another_replica_overtook_reads_and_decides_again(
        backend: Backend):
    patient = await opened(backend, balance=100)
    spy = Interloper(backend.store, times=0)
    mine = accounts(spy)
    await mine.current(patient)                                    # holds version 2
    await accounts(backend.store).execute(patient, deposit(30), NURSE)   # the other replica
    seen: list[int] = []

    def withdraw_all(state: Account) -> Sequence[EventPayload]:
        seen.append(state.balance)
        return decide_withdraw(state, state.balance)

    result = await mine.execute(patient, withdraw_all, NURSE)
    assert seen == [100, 130], "decided on the fold held, then again on the stream as read"
    assert spy.loads == [0, 2] and result is not None and result.version == 4
    state, version = await accounts(backend.store).current(patient)
    assert (state.balance, version) == (0, 4)


async def test_if_match_is_judged_on_the_stream_not_on_an_overtaken_fold(backend: Backend):
    patient = await opened(backend, balance=100)
    mine = accounts(backend.store)
    await mine.current(patient)                                    # holds version 2
    await accounts(backend.store).execute(patient, deposit(30), NURSE)   # now at 3
    # the client read version 3 from the other replica: that is current, not a 412
    result = await mine.execute(patient, deposit(1), NURSE, expected_version=3)
    assert result is not None and result.version == 4
    await accounts(backend.store).execute(patient, deposit(2), NURSE)    # now at 5
    # the client names the version this replica holds (4), which is stale: 412 with the
    # current one, and nothing appended
    with pytest.raises(PreconditionFailed) as err:
        await mine.execute(patient, deposit(1), NURSE, expected_version=4)
    assert err.value.current == 5
    assert await backend.store.version(stream_of(patient)) == 5


async def test_an_evicted_stream_is_folded_again_from_the_start(backend: Backend):
    first, second = await opened(backend, balance=1), await opened(backend, balance=2)
    streams = accounts(backend.store, cache_size=1)
    await streams.current(first)
    await streams.current(second)
    assert list(streams._cache) == [second]
    assert (await streams.current(first))[0].balance == 1


async def test_history_is_the_state_as_it_was_recorded_then(backend: Backend):
    patient = await opened(backend, balance=100)
    streams = accounts(backend.store)
    before = await streams.history(patient)
    await asyncio.sleep(0.002)
    await streams.execute(patient, deposit(5), NURSE)
    then = await streams.history(patient, as_of=before.envelopes[-1].recorded_at)
    now = await streams.history(patient)
    assert (then.state.balance, then.version, len(then.envelopes)) == (100, 2, 2)
    assert (now.state.balance, now.version) == (105, 3)
    assert now.envelopes[-1].actor == NURSE


async def test_a_key_claimed_by_one_patient_is_refused_to_another(backend: Backend):
    await backend.store.create_claims(CLAIMS)
    streams = accounts(backend.store)
    kari, ola = uuid.uuid4(), uuid.uuid4()

    def open_for(owner: str):
        return lambda state: [AccountOpened(owner=owner)]

    def key_of(payloads: Sequence[EventPayload]) -> str:
        return "nid-" + payloads[0].owner

    won = await streams.append_claiming(kari, open_for("same"), NURSE, claims=CLAIMS,
                                        key_of=key_of)
    assert won is not None and won.version == 1
    assert (await streams.current(kari))[0].opened
    assert await streams.append_claiming(ola, open_for("same"), NURSE, claims=CLAIMS,
                                         key_of=key_of) is None
    assert await backend.store.version(stream_of(ola)) == 0
    assert await backend.store.owner_of(CLAIMS, "nid-same") == kari


async def test_a_registration_claims_its_key_and_a_second_one_is_a_conflict(backend: Backend):
    streams = accounts(backend.store, claim=Claim(CLAIMS, AccountOpened, "owner",
                                                  "An account for this owner exists."))
    await streams.setup()
    kari, ola = uuid.uuid4(), uuid.uuid4()
    result = await streams.register(kari, lambda state: [AccountOpened(owner="kari")], NURSE)
    assert result.version == 1 and await streams.claimed_by("kari") == kari
    with pytest.raises(Conflict, match="An account for this owner exists."):
        await streams.register(ola, lambda state: [AccountOpened(owner="kari")], NURSE)
    assert await backend.store.version(stream_of(ola)) == 0
    assert await streams.claimed_by("nobody") is None
