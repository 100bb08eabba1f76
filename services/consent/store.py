"""The consent service's stream store: one stream per patient (``access-<patient_id>``) holding
the patient's access facts, loaded, decided on and appended with ``libs/events/streams.py``.

Commands here are not made against a version the client saw, so one that loses a race is decided
again on the new facts (not a 409); a client may still send ``If-Match`` (``libs/web/write.py``).
Registering a person claims the national id in the same transaction."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from uuid import UUID

from libs.access.facts import evolve
from libs.access.model import Facts
from libs.events.claims import create_claims_table
from libs.events.envelope import Actor
from libs.events.registry import EventPayload
from libs.events.ports import AppendResult, EventStorePort
from libs.events.streams import StreamStore
from libs.kernel.errors import Conflict
from services.consent.contract import PersonRegistered

CLAIMS = "person_claims"


def stream_of(patient_id: UUID) -> str:
    return f"access-{patient_id}"


class PatientAccessStore(StreamStore[Facts]):
    def __init__(self, store: EventStorePort):
        super().__init__(store, stream_of=stream_of, empty=Facts.unknown, evolve=evolve)

    async def setup(self) -> None:
        await create_claims_table(self.store, CLAIMS)

    async def register(self, patient_id: UUID,
                       decide: Callable[[Facts], Sequence[EventPayload]],
                       actor: Actor) -> AppendResult:
        """Register a person: the national id is claimed in the same transaction as the event,
        so one number never becomes two patients (a second registration is a ``Conflict``)."""
        result = await self.append_claiming(patient_id, decide, actor, claims=CLAIMS,
                                            key_of=_national_id)
        if result is None:
            raise Conflict("A person with this national id number is already registered.")
        return result


def _national_id(payloads: Sequence[EventPayload]) -> str:
    return next(p for p in payloads if isinstance(p, PersonRegistered)).national_id
