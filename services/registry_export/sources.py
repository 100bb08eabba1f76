"""What the registry's reports read, wired once by the composition roots (``commands.py``,
``app.py``): the people (the faust worker's parts), the national ids (the
``registry_identities`` read model, caught up before a report), and the service's own event
store, where each KPR send and release is recorded."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from libs.events.projection import ProjectionBusy, ProjectionRunner
from libs.events.registry import Registry
from libs.events.store import EventStore
from services.registry_export.domain.person import Person
from services.registry_export.projections.identities import IdentitiesProjection, national_ids
from services.registry_export.state import PersonsView


@dataclass
class Sources:
    engine: AsyncEngine
    registry: Registry
    bootstrap: str
    app_id: str               # whose parts (the worker's app id)
    journal_topic: str        # where the national ids come from
    out_dir: Path
    topic_names: Mapping[str, str] = field(default_factory=dict)   # tests rename topics

    @property
    def store(self) -> EventStore:
        return EventStore(self.engine, self.registry, topic_names=self.topic_names)

    async def people(self) -> dict[str, Person]:
        async with PersonsView(self.engine, self.app_id) as view:
            return dict(await view.catch_up())

    async def national_ids(self) -> dict[str, str]:
        """Every national id, with the read model first brought up to the topic's end (when
        the service's API runs it, as it stands)."""
        runner = ProjectionRunner(IdentitiesProjection(self.journal_topic), self.engine,
                                  self.bootstrap, registry=self.registry)
        try:
            await runner.start(wait_for_lock=False)
        except ProjectionBusy:
            return await national_ids(self.engine)
        try:
            await runner.run(until_caught_up=True)
        finally:
            await runner.stop()
        return await national_ids(self.engine)
