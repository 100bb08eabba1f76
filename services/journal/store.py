"""Runs journal decisions against a patient's stream (``libs/events/streams.py``: load, decide,
append, with a cached fold and ``If-Match`` as the expected version).

Registration claims the national id in ``journal_claims`` in the same transaction as the event,
so one number never becomes two patients. The store also finds the patient of a message we
sent (the gateway's receipt names only the message), over an index of the event store.
"""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import text

from libs.events.store import EventStore
from libs.events.streams import CACHE_SIZE, Claim, Loaded, StreamStore
from services.journal.contract import PatientRegistered, stream_of
from services.journal.domain.patients import Patient, evolve

CLAIMS = "journal_claims"
__all__ = ["JournalStore", "Loaded", "stream_of"]


class JournalStore(StreamStore[Patient]):
    def __init__(self, store: EventStore, cache_size: int = CACHE_SIZE):
        super().__init__(store, stream_of=stream_of, empty=Patient.unknown, evolve=evolve,
                         cache_size=cache_size, claim=Claim(
                             CLAIMS, PatientRegistered, "national_id",
                             "A patient with this national id number is already registered."))

    async def setup(self) -> None:
        await super().setup()
        async with self.store.engine.begin() as conn:
            await conn.execute(text("""
                CREATE INDEX IF NOT EXISTS events_sent_message_id
                    ON events ((envelope->'data'->>'message_id'))
                 WHERE type = 'journal.MessageSent'"""))

    async def patient_of_sent(self, message_id: str) -> UUID | None:
        """The patient of a message we sent, from the event store (indexed, see ``setup``)."""
        async with self.store.engine.connect() as conn:
            row = await conn.execute(text("""
                SELECT patient_id FROM events
                 WHERE type = 'journal.MessageSent' AND envelope->'data'->>'message_id' = :m
                 LIMIT 1"""), {"m": message_id})
            return row.scalar_one_or_none()
