"""The registry's people, read from the worker's changelog topic (``worker.py``).

The changelog is the table's durable copy: compacted, keyed ``<patient id>/<stream id>``, each
value one source stream's part of the person. :class:`PersonsView` assigns every partition,
reads from the start and then only what is new at each :meth:`catch_up`, keeps the newest
version of each part (a late or repeated write of an older one changes nothing) and merges a
person's parts into one :class:`Person`, so statistics follow the stream within a poll; a KPR
run or a release reads it once to its end offsets.
"""

from __future__ import annotations

import asyncio
import json

from aiokafka import AIOKafkaConsumer

from libs.events.kafka_client import client_options
from services.registry_export.domain.person import Person, merge, version


class PersonsView:
    def __init__(self, bootstrap: str, topic: str):
        self.bootstrap, self.topic = bootstrap, topic
        self.persons: dict[str, Person] = {}
        self._parts: dict[str, dict[str, Person]] = {}   # patient id -> part key -> part
        self._consumer: AIOKafkaConsumer | None = None
        self._lock = asyncio.Lock()
        self._subscribed = False

    async def start(self) -> None:
        self._consumer = AIOKafkaConsumer(**client_options(self.bootstrap), group_id=None,
                                          enable_auto_commit=False,
                                          auto_offset_reset="earliest",
                                          metadata_max_age_ms=1000)
        await self._consumer.start()
        await self._subscribe()

    async def _subscribe(self) -> bool:
        """Subscribe (no group: every partition is assigned) once the topic exists; False
        while no worker has created it."""
        assert self._consumer is not None, "start() first"
        if not self._subscribed:
            if self.topic not in await self._consumer.topics():
                return False
            self._consumer.subscribe([self.topic])
            self._subscribed = True
        for _ in range(100):   # the assignment follows the next metadata update
            if self._consumer.assignment():
                return True
            await asyncio.sleep(0.1)
        return False

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None

    async def __aenter__(self) -> PersonsView:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def catch_up(self) -> dict[str, Person]:
        """Read up to the changelog's current end; the people as they stand then. A changelog
        that does not exist yet (no worker has run) is no people."""
        async with self._lock:
            if not await self._subscribe():
                return self.persons
            assert self._consumer is not None
            parts = sorted(self._consumer.assignment())
            end = await self._consumer.end_offsets(parts)
            changed: set[str] = set()
            while [tp for tp in parts if await self._consumer.position(tp) < end[tp]]:
                batch = await self._consumer.getmany(*parts, timeout_ms=500)
                for records in batch.values():
                    for r in records:
                        key = json.loads(r.key)   # faust's json key: "<patient>/<stream>"
                        if r.value is not None and "/" in key:
                            changed |= self._keep(key, Person.model_validate(json.loads(r.value)))
            for patient in changed:
                self.persons[patient] = merge(self._parts[patient].values())
            return self.persons

    def parts(self) -> dict[str, dict[str, Person]]:
        """What was read so far: patient id -> part key -> the newest part (do not change)."""
        return self._parts

    def _keep(self, key: str, part: Person) -> set[str]:
        patient = key.split("/", 1)[0]
        mine = self._parts.setdefault(patient, {})
        if key in mine and version(mine[key]) >= version(part):
            return set()
        mine[key] = part
        return {patient}
