"""The access log: ``AccessLogged`` on ``audit.access`` for every access to patient data, permitted
or denied (DESIGN.md §4; DOMAIN.md AC8–AC14, §11 req. 12–13).

A service builds an :class:`AccessEntry` with :func:`entry_for` and awaits
``AccessLogger.log(entry, patient_id)`` before it answers: ``log`` returns only once the entry is
committed in the service's event store, so no response goes out without its log entry (the
relay publishes it from the outbox; nothing here talks to Kafka).

Group commit: one writer task, on a connection of its own, takes every entry waiting in the
queue (up to ``max_batch``) and writes them in one statement (``EventStore.append_written_in``,
atomic without a transaction: one round trip per batch) over the patient streams
``audit-<writer>-<patient>``, whose version is the chain's ``seq`` (:mod:`libs.audit.chain`).
Each entry becomes JSON once (its canonical form with its hash, ``chain.entry_json``) and goes
into its envelope as that (``many_streams.Written``), never through ``AccessLogged`` again.
Chain heads are cached. Any failure other than a conflict fails every waiter of the batch with
that exception: an entry is never dropped silently. The envelope's actor is the logging service
(one append carries entries of several requests); who accessed is in the payload.

The relay hears of the log's rows at most every ``tell_every_s`` (half the relay's
``relay_later_s`` as a service runs it): a batch within that time of the last one that notified
appends without a notification (``many_streams.APPEND_STREAMS_QUIET``), and its rows go with the
drain that notification set, or a later one (at the latest the relay's poll,
``relay_poll_interval_s``, when its commit took longer than that drain waited). Every
notification wakes every listening connection of the database, whatever its channel, and under
reads the log notified a few hundred times a second (bench/RESULTS.md).

Writer slots: each logger writes chains of its own. Before its first batch it takes the first
free slot ``k`` of its service in the schema (a session-level advisory lock, held on a
connection of its own while it runs) and chains a patient's entries as ``<service>:<patient>``
(slot 0, a single writer's) or ``<service>.<k>:<patient>`` (stream ``audit-<service>.<k>-
<patient>``). Replicas and API worker processes of one service thus never move each other's
chains, and a stopped writer's successor continues its chains. A slot lost with its connection
(a failover) is taken again before the next batch, or, if another writer took it meanwhile,
a free one. The slot only avoids conflicts; the stream's version still decides: when another
writer moved a chain first (:class:`ConcurrencyError`: more writers than slots, or the moment
between a lost lock and the next batch) the batch's heads are reloaded, and the batch is
re-chained and retried (``ehr.audit.batch.retries``).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import itertools
import random
import sys
from collections import deque
from collections.abc import Collection, Mapping
from datetime import date, datetime
from typing import Literal
from uuid import UUID

import asyncpg
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_serializer
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from libs.audit.chain import EMPTY, Head, chain_id, entry_json, iso_utc, link
from libs.access.model import (Action, Basis, Citizen, Decision, Obligation, Practitioner,
                               Resource, SectorOfficial, Subject)
from libs.events.envelope import Actor
from libs.events.registry import EventPayload, Registry, event
from libs.events.many_streams import Written
from libs.events.store import ConcurrencyError, EventContext, EventStore, WrittenAppend
from libs.events.telemetry_hooks import instruments

MAX_ATTEMPTS = 50  # another writer moved a chain first (or a lock cycle): reload heads, retry
MAX_SLOTS = 64     # writers of one service per schema with chains of their own
_SLOT_LOCK = ("SELECT pg_try_advisory_lock(hashtext('ehr.audit-writer.' || current_schema() "
              "|| '.' || $1 || '.' || $2::int))")
_RETRY = (ConcurrencyError, asyncpg.DeadlockDetectedError)


class AccessEntry(BaseModel):
    """One access, not yet chained. Identifies people by HPR number, token ``sub`` or internal
    patient id, never by national id number."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    service: str = Field(description="the service that served (or refused) the request")
    outcome: Literal["permit", "deny"]
    reason: str = Field(description="the decision's reason code")
    actor_kind: Literal["practitioner", "citizen", "sector", "device", "system"]
    actor_id: str = Field(description="HPR number, device id or the citizen's patient id")
    hpr: str | None = None
    person_id: str | None = Field(default=None, description="the token's (pairwise) sub")
    name: str | None = None
    authorization: tuple[str, ...] = Field(default=(), description="role(s)")
    legal_entity: str | None = Field(default=None, description="org number (org_parent)")
    point_of_care: str | None = Field(default=None, description="org number of the unit")
    department: str | None = Field(default=None, description="org_child")
    healthcare_service: str | None = None
    purpose_of_use: str | None = None
    purpose_of_use_details: str | None = Field(default=None, description="declared reason")
    legal_basis: Basis = Basis.none
    decision_ref: UUID | None = None
    emergency: bool = False
    acting_for: UUID | None = Field(default=None, description="the patient a proxy acts for")
    action: str
    category: str = Field(default="record", description="information category asked for")
    resources: tuple[str, ...] = Field(default=(), description="what was made available")
    hidden: tuple[str, ...] = Field(default=(), description="entries/sections withheld")
    period: tuple[date, date] | None = None
    accessed_at: AwareDatetime

    @field_serializer("accessed_at", when_used="json")
    def _utc(self, v: datetime) -> str:  # the chain's canonical form of a datetime
        return iso_utc(v)


@event("audit.AccessLogged", topic="audit.access")
class AccessLogged(AccessEntry, EventPayload):
    """An access entry in its chain (``chain = "<writer>:<patient_id>"``: the writer is the
    service, or ``<service>.<slot>`` for a second replica or API process)."""

    chain: str
    seq: int = Field(ge=1)
    prev_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    hash: str = Field(pattern=r"^[0-9a-f]{64}$")


def entry_for(subject: Subject, action: Action | str, resource: Resource, decision: Decision,
              *, service: str, resources: Collection[str] = (), purpose: str | None = None,
              now: datetime, healthcare_service: str | None = None) -> AccessEntry:
    """The log entry for one decided request (``resources``: what the response returned)."""
    who: dict = {"actor_kind": subject.kind, "actor_id": subject.actor_id}
    if isinstance(subject, Practitioner):
        who |= dict(hpr=subject.hpr, person_id=subject.person_id, name=subject.name,
                    authorization=tuple(sorted(subject.roles)), legal_entity=subject.org_parent,
                    point_of_care=subject.unit, department=subject.org_child)
    elif isinstance(subject, Citizen):
        who |= dict(person_id=subject.person_id, acting_for=subject.acting_for)
    elif isinstance(subject, SectorOfficial):
        who |= dict(person_id=subject.person_id, authorization=(subject.sector.value,),
                    legal_entity=subject.org)
    declaration = resource.declaration
    return AccessEntry(
        service=service, outcome="permit" if decision.permit else "deny", reason=decision.reason,
        healthcare_service=healthcare_service, purpose_of_use=purpose,
        purpose_of_use_details=declaration.reason if declaration else None,
        legal_basis=decision.basis, decision_ref=decision.decision_ref,
        emergency=decision.basis == Basis.emergency
        or Obligation.mark_emergency in decision.obligations,
        action=str(action), category=resource.category, resources=tuple(resources),
        hidden=tuple(sorted(decision.hidden)), period=resource.period, accessed_at=now, **who)


# each chain's newest entry, read backwards from the end of its stream: one index row per chain
# however long the patient's access history (a DISTINCT ON read every entry of it)
_HEADS = """SELECT s.stream_id, e.stream_version, e.envelope->'data'->>'hash'
    FROM unnest($1::text[]) AS s(stream_id)
    CROSS JOIN LATERAL (SELECT stream_version, envelope FROM events
                         WHERE events.stream_id = s.stream_id
                         ORDER BY stream_version DESC LIMIT 1) e"""
_Waiter = tuple[AccessEntry, UUID, asyncio.Future, float]  # ..., the loop's time when queued


class AccessLogger:
    """Durable, hash-chained access logging with group commit (see the module docstring)."""

    def __init__(self, engine: AsyncEngine, service: str, *, store: EventStore | None = None,
                 topic_names: Mapping[str, str] | None = None, max_batch: int = 256,
                 max_heads: int = 100_000, lanes: int = 1, slots: int = MAX_SLOTS,
                 tell_every_s: float = 0.0):
        self.engine, self.service, self.max_batch = engine, service, max_batch
        # the relay hears of the log's rows at most this often (0: at every batch)
        self.tell_every_s, self._told_at = tell_every_s, float("-inf")
        self.max_heads = max_heads  # cached chain heads (a miss costs one indexed read)
        self.store = store or EventStore(engine, Registry.of(sys.modules[__name__]),
                                         topic_names=topic_names)
        self.ctx_actor = Actor(kind="system", id=service)
        self._metrics = instruments()
        self.heads: dict[str, Head] = {}   # by stream: a new slot's chains start apart
        self.batches = self.retries = 0
        self._queue: deque[_Waiter] = deque()
        self._wake, self._closing = asyncio.Event(), False
        self._task: asyncio.Task | None = None
        # lanes: batches in flight at once, each on a connection of its own; a patient is in
        # at most one of them, so each chain is still written in order. One by default: its
        # batches are larger, and PostgreSQL's fewer statements take less CPU from the API on a
        # shared machine (the consent access benchmark, 2 lanes against 1: bench/RESULTS.md)
        self._conns: list[AsyncConnection | None] = [None] * lanes
        self._busy: set[UUID] = set()
        self.slots, self.slot = slots, None   # the writer slot, taken before the first batch
        self._slot_conn: AsyncConnection | None = None
        self._slot_raw: asyncpg.Connection | None = None
        self._slot_taken, self._slot_again_at = asyncio.Lock(), 0.0

    @property
    def writer(self) -> str:
        """The chains' writer name: the service (slot 0) or ``<service>.<slot>``."""
        return self.service if not self.slot else f"{self.service}.{self.slot}"

    def stream_of(self, patient_id: UUID, writer: str | None = None) -> str:
        return f"audit-{writer or self.writer}-{patient_id}"

    async def start(self) -> None:
        # an empty context: the writer's appends must not inherit the starter's trace
        self._task = asyncio.create_task(self._run(), context=contextvars.Context())

    async def stop(self) -> None:
        """Write everything still queued, then stop."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
        for lane in range(len(self._conns)):
            await self._release(lane)
        await self._drop_slot()

    async def log(self, entry: AccessEntry, patient_id: UUID) -> None:
        """Return once ``entry`` is committed; raise if it could not be written."""
        if self._task is None or self._task.done() or self._closing:
            raise RuntimeError("the access logger is not running")
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self._queue.append((entry, patient_id, fut, loop.time()))
        self._wake.set()
        await fut

    def _take(self) -> list[_Waiter]:
        """Up to ``max_batch`` waiting entries of patients not in flight, in queue order."""
        batch, kept = [], deque()
        while self._queue:
            w = self._queue.popleft()
            (kept if w[1] in self._busy or len(batch) >= self.max_batch else batch).append(w)
        self._queue = kept
        return batch

    async def _run(self) -> None:
        lanes = [asyncio.create_task(self._lane(k)) for k in range(len(self._conns))]
        try:
            await asyncio.gather(*lanes)
        finally:  # cancelled: nobody may wait forever for an entry that was never written
            for task in lanes:
                task.cancel()
            await asyncio.gather(*lanes, return_exceptions=True)
            for fut in (w[2] for w in self._queue if not w[2].done()):
                fut.set_exception(RuntimeError("the access logger stopped"))

    async def _lane(self, lane: int) -> None:
        """One lane's batches, one after another: the next is taken and its statement sent in
        the step the last one's commit returned in (its waiters woken just before). A task of
        its own per batch, started by another, queued each batch twice behind every request
        step ready on the event loop while the connection idled: under reads 3.7 ms of a
        batch's 9.3 ms cycle (bench/RESULTS.md)."""
        while True:
            batch = self._take() if self._queue else []
            if batch:
                await self._write(batch, lane)
                self._wake.set()   # another lane may wait for one of these patients
                continue
            if self._closing and not self._queue:
                return
            self._wake.clear()
            await self._wake.wait()

    async def _write(self, batch: list[_Waiter], lane: int) -> None:
        by_patient: dict[UUID, list[AccessEntry]] = {}
        for entry, pid, *_ in batch:
            by_patient.setdefault(pid, []).append(entry)
        self._busy.update(by_patient)
        self.batches += 1
        error: Exception | None = None
        try:
            await self._commit_retrying(by_patient, lane)
        except asyncio.CancelledError:
            for w in batch:
                w[2].cancel()
            raise
        except Exception as exc:  # noqa: BLE001 - every waiter gets it: its request fails
            error = exc
        finally:
            self._busy.difference_update(by_patient)
        if error is None:  # for operators: how the group commit groups and how long it makes wait
            measured = {"service": self.service}
            self._metrics.audit_batch.record(len(batch), measured)
            self._metrics.audit_wait.record(asyncio.get_running_loop().time() - batch[0][3],
                                            measured)
        for fut in (w[2] for w in batch if not w[2].done()):
            fut.set_exception(error) if error else fut.set_result(None)

    async def _commit_retrying(self, by_patient: dict[UUID, list[AccessEntry]],
                               lane: int) -> None:
        for attempt in range(MAX_ATTEMPTS):
            before = self.writer   # the batch may have taken a slot (another writer) meanwhile
            try:
                heads = await self._commit(by_patient, lane)
            except BaseException as exc:
                for pid, writer in itertools.product(by_patient, {before, self.writer}):
                    # unknown now: a conflict, or a commit that may have failed
                    self.heads.pop(self.stream_of(pid, writer), None)
                if not isinstance(exc, _RETRY) or attempt == MAX_ATTEMPTS - 1:
                    raise
                self.retries += 1  # reload the heads, re-chain the batch, try again
                self._metrics.audit_retries.add(1, {"service": self.service})
                await asyncio.sleep(random.random() * 0.001 * min(attempt, 10))
            else:
                self.heads.update(heads)
                while len(self.heads) > self.max_heads:  # forget the oldest
                    del self.heads[next(iter(self.heads))]
                return

    async def _connection(self, lane: int) -> asyncpg.Connection:
        """The lane's own connection, held while the logger runs: no pool checkout per batch."""
        if self._conns[lane] is None:
            self._conns[lane] = await self.engine.connect()
        return (await self._conns[lane].get_raw_connection()).driver_connection

    async def _release(self, lane: int, broken: bool = False) -> None:
        held, self._conns[lane] = self._conns[lane], None
        if held is not None:
            await _give_back(held, broken)

    def _slot_held(self) -> bool:
        return self._slot_raw is not None and not self._slot_raw.is_closed()

    async def _take_slot(self) -> None:
        """Hold a writer slot: the one held before if it is free (its chains go on), else the
        first free one (the cached heads are of the old slot's streams and stay apart). All
        taken: the slot kept, or 0, shared, its conflicts retried; asked again in a minute."""
        async with self._slot_taken:
            if self._slot_held():
                return
            await self._drop_slot()   # lost with its connection (a failover, a restart)
            conn = await self.engine.connect()
            try:
                raw = (await conn.get_raw_connection()).driver_connection
                kept = [] if self.slot is None else [self.slot]
                for k in kept + [k for k in range(self.slots) if k not in kept]:
                    if await raw.fetchval(_SLOT_LOCK, self.service, k):
                        self._slot_conn, self._slot_raw, self.slot = conn, raw, k
                        return
            except BaseException:
                await _give_back(conn, broken=True)
                raise
            await _give_back(conn)
            self.slot = self.slot or 0
            self._slot_again_at = asyncio.get_running_loop().time() + 60

    async def _drop_slot(self) -> None:
        held, raw = self._slot_conn, self._slot_raw
        self._slot_conn = self._slot_raw = None
        if held is not None:   # back to the pool: give the slot up first
            try:
                await raw.execute("SELECT pg_advisory_unlock_all()")
            except Exception:  # noqa: BLE001 - lost with its session, and the lock with it
                await _give_back(held, broken=True)
            else:
                await _give_back(held)

    async def _commit(self, by_patient: dict[UUID, list[AccessEntry]],
                      lane: int) -> dict[str, Head]:
        new: dict[str, Head] = {}
        if not self._slot_held() and asyncio.get_running_loop().time() >= self._slot_again_at:
            await self._take_slot()
        writer = self.writer   # one writer for the whole batch, whatever happens meanwhile
        streams = {pid: self.stream_of(pid, writer) for pid in by_patient}
        try:
            raw = await self._connection(lane)
            if missing := [s for s in streams.values() if s not in self.heads]:
                for stream_id, version, h in await raw.fetch(_HEADS, missing):
                    self.heads[stream_id] = Head(version, h)
            # one stream order in every replica: batches never wait on each other in a cycle
            appends = []
            for pid in sorted(by_patient, key=str):
                start = head = self.heads.get(streams[pid], EMPTY)
                cid, events = chain_id(writer, pid), []
                for entry in by_patient[pid]:   # a valid AccessEntry + its link: no 2nd pass
                    fields = dict(entry.__dict__)
                    head = link(fields, cid, head)
                    events.append(Written(AccessLogged, entry_json(fields)))
                appends.append(WrittenAppend(streams[pid], start.seq, events,
                                             EventContext(patient_id=pid, actor=self.ctx_actor)))
                new[streams[pid]] = head
            # every chain of the batch in one statement, atomic on its own: one round trip.
            # Committed is what the answer waits for; no one waits for it on Kafka, so the
            # relay takes it later, with many others (``relay_later_s``), and hears of it
            # only if it has not heard from this logger within ``tell_every_s``
            now = asyncio.get_running_loop().time()
            tell = now - self._told_at >= self.tell_every_s
            await self.store.append_written_in(raw, appends, later=True, tell=tell)
            if tell:
                self._told_at = now
        except _RETRY:
            raise
        except BaseException:
            await self._release(lane, broken=True)   # not lent to the pool's next borrower
            raise
        return new


async def _give_back(conn: AsyncConnection, broken: bool = False) -> None:
    """Back to the pool; a connection that failed is dropped instead (the pool checks nothing
    on checkout: a closed one would fail its next borrower's statement)."""
    with contextlib.suppress(Exception):
        if broken:
            await conn.invalidate()
    with contextlib.suppress(Exception):
        await conn.close()
