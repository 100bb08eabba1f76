"""Runs a service's decisions against one stream per patient: load, decide, append.

The write side decides against its own event store, never a read model. A stream's state is kept
in a small in-process cache keyed by patient with the version it was folded to. A command decides
on that fold at once and appends expecting its version: the append proves it current (nothing
was appended since), so the usual write is one statement, not a read of the events after the
version and then the append (a statement is a round trip and a socket write: that read was 9–10 %
of the journal API's CPU in a note's write, bench/RESULTS.md). When another replica's write
moved the stream on, the append is a version conflict, and the next attempt reads the events
after the cached version (one query), folds them in and decides again; a client's ``If-Match``
other than the cached version is judged against the stream as read, never against the cache.

Two ways to meet a concurrent change:
- ``expected_version`` given (the client's ``If-Match``): a different current version is a
  ``PreconditionFailed`` (412) carrying the current version; nothing is retried.
- none given: the command is decided again on the new state (a few times), since the client
  did not claim to have seen any particular version.

A long stream is not folded from its start on a cold load (a restart, another replica's
patient): with ``snapshots`` the store keeps the folded state every ``every`` events and a cold
load reads the newest snapshot and the events after it. A write then costs the same at 100 and at
100,000 events per patient, as long as the state itself stays bounded (the journal keeps its
unbounded series, observations, out of the state and decides on one entry by ``load_entries``).

A decision may be async (it awaits what it needs from the store, such as one entry's events);
it runs after the state is read, so an append made in between is a version conflict as usual.

The consent service (a patient's access facts), the journal (a patient's record) and the
medication service (a patient's list) use it with their own state type, fold and stream names.
It needs only the store's methods (``libs/events/ports.py``), so handler tests can run it on the
in-memory store (``libs/events/memory.py``) without a database.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar
from uuid import UUID

from pydantic import BaseModel

from libs.events.envelope import Actor, Envelope
from libs.events.ports import (AppendResult, ConcurrencyError, EventContext, EventStorePort,
                               Snapshot)
from libs.events.registry import EventPayload
from libs.kernel.errors import Conflict, PreconditionFailed

__all__ = ["CACHE_SIZE", "Loaded", "PreconditionFailed", "StreamStore"]

S = TypeVar("S")
T = TypeVar("T")
RETRIES = 5
CACHE_SIZE = 20_000
log = logging.getLogger("ehr.events.streams")

Decide = Callable[[S], Sequence[EventPayload] | Awaitable[Sequence[EventPayload]]]


@dataclass(frozen=True)
class Snapshots(Generic[S]):
    """How a store snapshots its state: every ``every`` events, as JSON of ``model``. ``schema``
    fingerprints the model's JSON schema and ``revision`` (bump it when the fold's meaning
    changes without the model changing), so a snapshot of an older shape is never read."""

    model: type[BaseModel]
    every: int = 200
    revision: str = "1"

    @property
    def schema(self) -> str:
        shape = json.dumps(self.model.model_json_schema(), sort_keys=True) + self.revision
        return hashlib.sha256(shape.encode()).hexdigest()[:16]

    def dump(self, state: S) -> str:
        return state.model_dump_json()   # type: ignore[attr-defined]

    def load(self, doc: str) -> S:
        return self.model.model_validate_json(doc)   # type: ignore[return-value]


@dataclass(frozen=True)
class Claim:
    """A unique key a stream's registration claims in the same transaction (a national id
    number, so one number never becomes two patients): the claims table, the event and field
    that carry the key, and the refusal when another stream holds it."""

    table: str
    event: type[EventPayload]
    field: str
    taken: str

    def key_of(self, payloads: Sequence[EventPayload]) -> str:
        return getattr(next(p for p in payloads if isinstance(p, self.event)), self.field)


@dataclass(frozen=True)
class Loaded(Generic[S]):
    state: S
    version: int
    envelopes: tuple[Envelope, ...] = ()


class StreamStore(Generic[S]):
    """Decisions on ``stream_of(patient_id)``, folded with ``evolve`` from ``empty(patient_id)``.
    """

    def __init__(self, store: EventStorePort, *, stream_of: Callable[[UUID], str],
                 empty: Callable[[UUID], S], evolve: Callable[[S, EventPayload], S],
                 cache_size: int = CACHE_SIZE, claim: Claim | None = None,
                 snapshots: Snapshots | None = None):
        self.store = store
        self.stream_of, self.empty, self.evolve = stream_of, empty, evolve
        self._cache: OrderedDict[UUID, tuple[int, S]] = OrderedDict()
        self._cache_size = cache_size
        self.claim = claim
        self.snapshots = snapshots
        self._schema = snapshots.schema if snapshots is not None else ""

    async def setup(self) -> None:
        """The claims table of a store whose streams claim a key."""
        if self.claim is not None:
            await self.store.create_claims(self.claim.table)

    # --- reading the write side ----------------------------------------------------------------

    async def current(self, patient_id: UUID) -> tuple[S, int]:
        """The stream's state now: the cached fold (else the newest snapshot) plus whatever was
        appended since."""
        version, state = self._cache.get(patient_id, (0, None))
        if state is None:
            state, version = await self._cold(patient_id)
        new = await self.store.load(self.stream_of(patient_id), after_version=version)
        for _, payload in new:
            state = self.evolve(state, payload)
        before, version = version, version + len(new)
        self._remember(patient_id, version, state)
        await self._snapshot(patient_id, before, version, state)
        return state, version

    async def _cold(self, patient_id: UUID) -> tuple[S, int]:
        if self.snapshots is not None:
            found = await self.store.load_snapshot(self.stream_of(patient_id), self._schema)
            if found is not None:
                return self.snapshots.load(found.doc), found.version
        return self.empty(patient_id), 0

    async def _snapshot(self, patient_id: UUID, before: int, after: int, state: S) -> None:
        """Keep a snapshot when the stream passed a multiple of ``every`` since ``before``. A
        snapshot is a cache: failing to write one never fails the write or read."""
        policy = self.snapshots
        if policy is None or after // policy.every == before // policy.every:
            return
        try:
            await self.store.save_snapshot(Snapshot(self.stream_of(patient_id), after,
                                                    self._schema, policy.dump(state)))
        except Exception as exc:   # noqa: BLE001 - logged, and the next load folds on
            log.warning("snapshot of a stream at version %d not saved: %s", after,
                        type(exc).__name__)

    async def history(self, patient_id: UUID, as_of: datetime | None = None) -> Loaded[S]:
        """The stream from its start, up to ``as_of`` (recorded time) when given: the state as
        it stood then, with the envelopes (who, when) of every event in it."""
        decoded = await self.store.load_until(self.stream_of(patient_id), as_of)
        state = self.empty(patient_id)
        for _, payload in decoded:
            state = self.evolve(state, payload)
        return Loaded(state, len(decoded), tuple(env for env, _ in decoded))

    def _remember(self, patient_id: UUID, version: int, state: S) -> None:
        self._cache[patient_id] = (version, state)
        self._cache.move_to_end(patient_id)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    # --- writing -------------------------------------------------------------------------------

    async def execute(self, patient_id: UUID, decide: Decide,
                      actor: Actor, *, purpose: str | None = None,
                      expected_version: int | None = None) -> AppendResult | None:
        """Decide on the current state and append. ``None`` when the decision needed no event
        (a repeated change that changes nothing)."""
        tries = 0

        async def attempt() -> AppendResult | None:
            nonlocal tries
            tries += 1
            held = self._cache.get(patient_id) if tries == 1 else None
            if held is not None and expected_version in (None, held[0]):
                # optimistic: decided on the fold this process holds, without asking for the
                # events after it; the append's expected version proves it current, or fails
                # as a conflict and the next attempt reads what another process appended
                version, state = held
            else:
                state, version = await self.current(patient_id)
            if expected_version is not None and expected_version != version:
                raise PreconditionFailed(version)
            payloads = await decided(decide, state)
            if not payloads:
                return None
            result = await self.store.append(
                self.stream_of(patient_id), version, payloads,
                EventContext(patient_id=patient_id, actor=actor, purpose=purpose))
            await self.fold_in(patient_id, version, state, payloads)
            return result

        return await retried(attempt, expected_version)

    async def append_claiming(self, patient_id: UUID, decide: Decide, actor: Actor, *,
                              claims: str, key_of: Callable[[Sequence[EventPayload]], str],
                              ) -> AppendResult | None:
        """Decide and append while claiming a unique key (a national id number) in the table
        ``claims``, in the same transaction (the store's ``append_claiming``), so one number
        never becomes two patients. None, and nothing appended, when another patient holds it.
        """
        state, version = await self.current(patient_id)
        payloads = await decided(decide, state)
        result = await self.store.append_claiming(
            claims, key_of(payloads), patient_id, self.stream_of(patient_id), version, payloads,
            EventContext(patient_id=patient_id, actor=actor))
        if result is not None:
            await self.fold_in(patient_id, version, state, payloads)
        return result

    async def register(self, patient_id: UUID, decide: Decide, actor: Actor) -> AppendResult:
        """Start a stream whose registration claims its key (``claim``); a key another stream
        holds is a ``Conflict``, and nothing is appended."""
        if self.claim is None:
            raise TypeError("this store's streams claim no key")
        result = await self.append_claiming(patient_id, decide, actor, claims=self.claim.table,
                                            key_of=self.claim.key_of)
        if result is None:
            raise Conflict(self.claim.taken)
        return result

    async def claimed_by(self, key: str) -> UUID | None:
        """The stream (patient) a key is registered to (for staff lookups; never logged)."""
        if self.claim is None:
            return None
        return await self.store.owner_of(self.claim.table, key)

    async def fold_in(self, patient_id: UUID, version: int, state: S,
                      payloads: Sequence[EventPayload]) -> None:
        """Remember the state after this process appended ``payloads`` at ``version``."""
        for payload in payloads:
            state = self.evolve(state, payload)
        self._remember(patient_id, version + len(payloads), state)
        await self._snapshot(patient_id, version, version + len(payloads), state)


async def retried(attempt: Callable[[], Awaitable[T]], expected_version: int | None,
                  stale: Callable[[int], PreconditionFailed] = PreconditionFailed) -> T:
    """Run ``attempt`` (decide on the current state and append) until it is not overtaken
    by another writer: with no ``expected_version`` it is decided again, at most ``RETRIES``
    times; with one, an overtaken append is ``stale(the version now)`` (a 412), never retried.
    ``StreamStore.execute`` and the idempotent write (``libs/web/idempotency.py``) share it."""
    for n in range(RETRIES):
        try:
            return await attempt()
        except ConcurrencyError as exc:
            if expected_version is not None:
                raise stale(exc.actual) from None
            if n == RETRIES - 1:
                raise
    raise AssertionError("unreachable")


async def decided(decide: Decide, state: S) -> list[EventPayload]:
    """The events of a decision, awaited when it is async."""
    made = decide(state)
    if inspect.isawaitable(made):
        made = await made
    return list(made)
