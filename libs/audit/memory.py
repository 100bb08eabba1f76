"""In-memory twins of the access facts reader and the access logger, for tests of the HTTP
edge that need no server (the write dependency's If-Match, 412 and retries). They keep the
same interface as ``FactsReader`` and ``AccessLogger``; nothing is durable."""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

from libs.access.events import PersonRegistered
from libs.access.facts import evolve
from libs.access.model import Facts
from libs.audit.log import AccessEntry
from libs.events.registry import EventPayload


class InMemoryFacts:
    """Facts folded from consent events given to ``apply`` (what the projection would do)."""

    engine = None   # no read model to wait in: a consistency token is never awaited here

    def __init__(self) -> None:
        self._facts: dict[UUID, Facts] = {}
        self._identities: dict[str, UUID] = {}

    def apply(self, patient_id: UUID, payloads: Iterable[EventPayload]) -> None:
        facts = self._facts.get(patient_id) or Facts.unknown(patient_id)
        for payload in payloads:
            facts = evolve(facts, payload)
            if isinstance(payload, PersonRegistered):
                self._identities[payload.national_id] = patient_id
        self._facts[patient_id] = facts

    async def facts(self, patient_id: UUID) -> Facts:
        return self._facts.get(patient_id) or Facts.unknown(patient_id)

    async def patient_for(self, national_id: str) -> UUID | None:
        return self._identities.get(national_id)


class InMemoryAccessLog:
    """Every entry logged, in order, per patient."""

    def __init__(self) -> None:
        self.entries: list[tuple[UUID, AccessEntry]] = []

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def log(self, entry: AccessEntry, patient_id: UUID) -> None:
        self.entries.append((patient_id, entry))
