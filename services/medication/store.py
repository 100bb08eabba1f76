"""Runs medication decisions against a patient's list: ``medication-<patient_id>``, one stream
per patient, so every change is decided against the whole list (interactions, duplicates) under
one expected version. Loading, the cached fold, snapshots (every ``SNAPSHOT_EVERY`` events: a
dispenser's doses make a long stream, and a restarted service reads the newest snapshot and what
came after) and ``If-Match`` are ``libs/events/streams.py``.
"""

from __future__ import annotations

from libs.events.ports import EventStorePort
from libs.events.streams import CACHE_SIZE, Loaded, Snapshots, StreamStore
from services.medication.contract import stream_of
from services.medication.domain.evolve import evolve
from services.medication.domain.state import MedicationList

__all__ = ["Loaded", "MedicationStore"]
SNAPSHOT_EVERY = 200


class MedicationStore(StreamStore[MedicationList]):
    def __init__(self, store: EventStorePort, cache_size: int = CACHE_SIZE,
                 snapshot_every: int = SNAPSHOT_EVERY):
        super().__init__(store, stream_of=stream_of, empty=MedicationList.empty, evolve=evolve,
                         cache_size=cache_size,
                         snapshots=Snapshots(MedicationList, every=snapshot_every))
