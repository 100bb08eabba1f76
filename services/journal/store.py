"""Runs journal decisions against a patient's stream (``libs/events/streams.py``: load, decide,
append, with a cached fold and ``If-Match`` as the expected version).

Registration claims the national id in ``journal_claims`` in the same transaction as the event,
so one number never becomes two patients. The patient's state is snapshotted every
``SNAPSHOT_EVERY`` events, and observations (not part of that state) are looked up by id from
the stream (``load_entries``, by its partial index), so a write costs the same however long
the record is. The store also finds the patient of a message we sent (the gateway's receipt
names only the message), over an index of the event store.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from uuid import UUID

from sqlalchemy import text

from libs.events.db import setup_turn
from libs.events.store import EventStore
from libs.events.streams import CACHE_SIZE, Claim, Loaded, Snapshots, StreamStore
from services.journal.contract import PatientRegistered, stream_of
from services.journal.domain.clinical_state import (
    OBSERVATION_EVENTS, Observation, fold_observations,
)
from services.journal.domain.patients import Patient, evolve

CLAIMS = "journal_claims"
SNAPSHOT_EVERY = 200
__all__ = ["JournalStore", "Loaded", "stream_of"]


class JournalStore(StreamStore[Patient]):
    def __init__(self, store: EventStore, cache_size: int = CACHE_SIZE,
                 snapshot_every: int = SNAPSHOT_EVERY):
        super().__init__(store, stream_of=stream_of, empty=Patient.unknown, evolve=evolve,
                         cache_size=cache_size, claim=Claim(
                             CLAIMS, PatientRegistered, "national_id",
                             "A patient with this national id number is already registered."),
                         snapshots=Snapshots(Patient, every=snapshot_every))

    # --- observations: a series looked up by id, never folded into the patient -----------------

    async def observation(self, patient_id: UUID, observation_id: UUID) -> Observation | None:
        """One observation as its own events fold it (recorded, corrected, in error)."""
        return (await self.observations(patient_id, (observation_id,))).get(observation_id)

    async def observations(self, patient_id: UUID,
                           ids: Iterable[UUID]) -> dict[UUID, Observation]:
        """The patient's observations among ``ids`` (an import's deterministic ids), by id."""
        events = await self.store.load_entries(stream_of(patient_id), "observation_id",
                                               [str(i) for i in ids])
        return fold_observations(p for _, p in events)

    async def observations_at(self, patient_id: UUID,
                              as_of: datetime | None) -> dict[UUID, Observation]:
        """Every observation of the patient as recorded by ``as_of`` (a read of the record as it
        stood then: it reads the whole stream, as ``history`` does)."""
        events = await self.store.load_until(stream_of(patient_id), as_of)
        return fold_observations(p for _, p in events if isinstance(p, OBSERVATION_EVENTS))

    async def setup(self) -> None:
        await super().setup()
        await self.store.index_entries("observation_id")
        async with self.store.engine.begin() as conn:
            await setup_turn(conn)
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
