"""The consent service's stream store: one stream per patient (``access-<patient_id>``) holding
the patient's access facts, loaded, decided on and appended with ``libs/events/streams.py``.

Commands here are not made against a version the client saw, so one that loses a race is decided
again on the new facts (not a 409); a client may still send ``If-Match`` (``libs/web/write.py``).
Registering a person claims the national id in the same transaction."""

from __future__ import annotations

from uuid import UUID

from libs.access.facts import evolve
from libs.access.model import Facts
from libs.events.ports import EventStorePort
from libs.events.streams import Claim, StreamStore
from services.consent.contract import PersonRegistered

CLAIMS = "person_claims"


def stream_of(patient_id: UUID) -> str:
    return f"access-{patient_id}"


class PatientAccessStore(StreamStore[Facts]):
    def __init__(self, store: EventStorePort):
        super().__init__(store, stream_of=stream_of, empty=Facts.unknown, evolve=evolve,
                         claim=Claim(CLAIMS, PersonRegistered, "national_id",
                                     "A person with this national id number is already "
                                     "registered."))
