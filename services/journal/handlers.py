"""Runs journal decisions against a patient's stream: load, decide, append.

The write side decides against its own event store, never a read model. A stream's state is kept
in a small in-process cache keyed by patient with the version it was folded to; each command
reads only the events after that version (one query), so a long record does not make every
write slower. Another replica's write shows up as new events and is folded in.

Two ways to meet a concurrent change:
- ``expected_version`` given (the client's ``If-Match``): a different current version is a
  ``PreconditionFailed`` (412) carrying the current version; nothing is retried.
- none given: the command is decided again on the new state (a few times), since the client
  did not claim to have seen any particular version.

Registration claims the national id in ``journal_claims`` in the same transaction as the event,
so one number never becomes two patients.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy import text

from libs.events.claims import append_claiming, create_claims_table, owner_of
from libs.events.envelope import Actor, Envelope
from libs.events.registry import EventPayload
from libs.events.store import AppendResult, ConcurrencyError, EventContext, EventStore
from services.journal.domain import Refused
from services.journal.domain import events as ev
from services.journal.domain.patients import Patient, evolve, fold

RETRIES = 5
CLAIMS = "journal_claims"
CACHE_SIZE = 20_000


class PreconditionFailed(Exception):
    """``If-Match`` named a version that is no longer current."""

    def __init__(self, current: int):
        self.current = current
        super().__init__(f"The record has changed: it is at version {current}.")


@dataclass(frozen=True)
class Loaded:
    patient: Patient
    version: int
    envelopes: tuple[Envelope, ...] = ()


class JournalStore:
    def __init__(self, store: EventStore, cache_size: int = CACHE_SIZE):
        self.store = store
        self._cache: OrderedDict[UUID, tuple[int, Patient]] = OrderedDict()
        self._cache_size = cache_size

    async def setup(self) -> None:
        await create_claims_table(self.store, CLAIMS)

    # --- reading the write side ----------------------------------------------------------------

    async def current(self, patient_id: UUID) -> tuple[Patient, int]:
        """The stream's state now: the cached fold plus whatever was appended since."""
        version, patient = self._cache.get(patient_id, (0, None))
        if patient is None:
            patient = Patient.unknown(patient_id)
        new = await self.store.load(stream_of(patient_id), after_version=version)
        for _, payload in new:
            patient = evolve(patient, payload)
        version += len(new)
        self._remember(patient_id, version, patient)
        return patient, version

    async def history(self, patient_id: UUID, as_of: datetime | None = None) -> Loaded:
        """The stream from its start, up to ``as_of`` (recorded time) when given: the record
        as it stood then, with the envelopes (who, when) of every event in it."""
        sql = ("SELECT envelope::text FROM events WHERE stream_id = :s"
               + (" AND recorded_at <= :t" if as_of is not None else "")
               + " ORDER BY stream_version")
        async with self.store.engine.connect() as conn:
            rows = await conn.execute(text(sql), {"s": stream_of(patient_id), "t": as_of})
            decoded = [self.store.registry.decode(r[0]) for r in rows]
        patient = fold(patient_id, (p for _, p in decoded))
        return Loaded(patient, len(decoded), tuple(env for env, _ in decoded))

    def _remember(self, patient_id: UUID, version: int, patient: Patient) -> None:
        self._cache[patient_id] = (version, patient)
        self._cache.move_to_end(patient_id)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    # --- writing -------------------------------------------------------------------------------

    async def execute(self, patient_id: UUID,
                      decide: Callable[[Patient], Sequence[EventPayload]], actor: Actor, *,
                      purpose: str | None = None,
                      expected_version: int | None = None) -> AppendResult | None:
        """Decide on the current state and append. ``None`` when the decision needed no event
        (a repeated change that changes nothing)."""
        for attempt in range(RETRIES):
            patient, version = await self.current(patient_id)
            if expected_version is not None and expected_version != version:
                raise PreconditionFailed(version)
            payloads = list(decide(patient))
            if not payloads:
                return None
            try:
                result = await self.store.append(
                    stream_of(patient_id), version, payloads,
                    EventContext(patient_id=patient_id, actor=actor, purpose=purpose))
            except ConcurrencyError as exc:
                if expected_version is not None:
                    raise PreconditionFailed(exc.actual) from None
                if attempt == RETRIES - 1:
                    raise
                continue
            self._fold_in(patient_id, version, patient, payloads)
            return result
        raise AssertionError("unreachable")

    async def register(self, patient_id: UUID,
                       decide: Callable[[Patient], Sequence[EventPayload]],
                       actor: Actor) -> AppendResult:
        """Register a patient; a national id already claimed by another patient is a 409."""
        patient, version = await self.current(patient_id)
        payloads = list(decide(patient))
        registered = next(p for p in payloads if isinstance(p, ev.PatientRegistered))
        result = await append_claiming(self.store, CLAIMS, registered.national_id, patient_id,
                                       stream_of(patient_id), version, payloads,
                                       EventContext(patient_id=patient_id, actor=actor))
        if result is None:
            raise Refused(409, "A patient with this national id number is already "
                               "registered.")
        self._fold_in(patient_id, version, patient, payloads)
        return result

    async def claimed_by(self, national_id: str) -> UUID | None:
        """The patient a national id is registered to (for staff lookups; never logged)."""
        return await owner_of(self.store, CLAIMS, national_id)

    def _fold_in(self, patient_id: UUID, version: int, patient: Patient,
                 payloads: Sequence[EventPayload]) -> None:
        for payload in payloads:
            patient = evolve(patient, payload)
        self._remember(patient_id, version + len(payloads), patient)


def stream_of(patient_id: UUID) -> str:
    return ev.stream_of(patient_id)
