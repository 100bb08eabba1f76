"""Runs medication decisions against a patient's list: ``medication-<patient_id>``, one stream
per patient, so every change is decided against the whole list (interactions, duplicates) under
one expected version. Loading, the cached fold and ``If-Match`` are ``libs/events/streams.py``.
"""

from __future__ import annotations

from libs.events.store import EventStore
from libs.events.streams import CACHE_SIZE, Loaded, PreconditionFailed, StreamStore
from services.medication.domain.events import stream_of
from services.medication.domain.evolve import evolve
from services.medication.domain.state import MedicationList

__all__ = ["Loaded", "MedicationStore", "PreconditionFailed"]


class MedicationStore(StreamStore[MedicationList]):
    def __init__(self, store: EventStore, cache_size: int = CACHE_SIZE):
        super().__init__(store, stream_of=stream_of, empty=MedicationList.empty, evolve=evolve,
                         cache_size=cache_size)
