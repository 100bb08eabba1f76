"""The registry's people, read from the worker's parts in PostgreSQL (``parts.py``).

Each row is one source stream's part of a person, keyed ``<patient id>/<stream id>``.
:class:`PersonsView` reads every part of its app id once, then at each :meth:`catch_up` only
the rows written since the last ``seq`` it saw (commit order is ``seq`` order, so none is
missed), keeps the newest version of each part and merges a person's parts into one
:class:`Person`: statistics follow the stream within a request; a KPR run or a release reads
them once.
"""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncEngine

from services.registry_export import parts as store
from services.registry_export.domain.person import Person, merge, version


class PersonsView:
    def __init__(self, engine: AsyncEngine, app_id: str):
        self.engine, self.app_id = engine, app_id
        self.persons: dict[str, Person] = {}
        self._parts: dict[str, dict[str, Person]] = {}   # patient id -> part key -> part
        self._seq = 0
        self._lock = asyncio.Lock()
        self._ready = False

    async def start(self) -> None:
        await store.setup(self.engine)
        self._ready = True

    async def stop(self) -> None:
        self._ready = False

    async def __aenter__(self) -> PersonsView:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def catch_up(self) -> dict[str, Person]:
        """Read the parts written since the last call; the people as they stand then."""
        async with self._lock:
            assert self._ready, "start() first"
            changed: set[str] = set()
            async with self.engine.connect() as conn:
                while True:
                    rows = await store.since(conn, self.app_id, self._seq)
                    for key, part, seq in rows:
                        changed |= self._keep(key, Person.model_validate_json(part))
                        self._seq = seq
                    if len(rows) < store.PAGE:
                        break
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
