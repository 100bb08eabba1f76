"""Runs a consent-service decision against the patient's stream: load, decide, append.

The write side decides against its own event store (not a read model), with the stream version
as the expected version, so two concurrent commands for one patient cannot both be decided on
stale facts: the loser is decided again on the new facts (commands here are not made against a
version the client saw, so a retry is the right answer, not a 409).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from uuid import UUID

from libs.access.events import PersonRegistered
from libs.access.facts import fold
from libs.access.model import Facts
from libs.events.claims import append_claiming, create_claims_table
from libs.events.envelope import Actor
from libs.events.registry import EventPayload
from libs.events.store import AppendResult, ConcurrencyError, EventContext, EventStore
from services.consent.domain import Refused

RETRIES = 5
CLAIMS = "person_claims"


def stream_of(patient_id: UUID) -> str:
    return f"access-{patient_id}"


class PatientAccessStore:
    def __init__(self, store: EventStore):
        self.store = store

    async def facts(self, patient_id: UUID) -> tuple[Facts, int]:
        events = await self.store.load(stream_of(patient_id))
        return fold(patient_id, (p for _, p in events)), len(events)

    async def execute(self, patient_id: UUID, decide: Callable[[Facts], Sequence[EventPayload]],
                      actor: Actor, purpose: str | None = None) -> AppendResult:
        """Decide on the current facts and append; decide again if someone else was first."""
        for attempt in range(RETRIES):
            facts, version = await self.facts(patient_id)
            payloads = list(decide(facts))
            try:
                return await self.store.append(
                    stream_of(patient_id), version, payloads,
                    EventContext(patient_id=patient_id, actor=actor, purpose=purpose))
            except ConcurrencyError:
                if attempt == RETRIES - 1:
                    raise
        raise AssertionError("unreachable")

    async def setup(self) -> None:
        await create_claims_table(self.store, CLAIMS)

    async def register(self, patient_id: UUID,
                       decide: Callable[[Facts], Sequence[EventPayload]],
                       actor: Actor) -> AppendResult:
        """Register a person: the national id is claimed in the same transaction as the event,
        so one number never becomes two patients (a second registration gets 409)."""
        facts, version = await self.facts(patient_id)
        payloads = list(decide(facts))
        registered = next(p for p in payloads if isinstance(p, PersonRegistered))
        result = await append_claiming(self.store, CLAIMS, registered.national_id, patient_id,
                                       stream_of(patient_id), version, payloads,
                                       EventContext(patient_id=patient_id, actor=actor))
        if result is None:
            raise Refused(409, "A person with this national id number is already "
                               "registered.")
        return result
