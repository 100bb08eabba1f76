"""What a read model is: a name, the topics it reads, and how it sets up, resets and applies
events (``libs/events/projection.py`` runs it exactly once per event). Services' projections
subclass it; their manifests list them."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncConnection

from libs.events.envelope import Envelope
from libs.events.registry import EventPayload


class Projection:
    """A read model. Subclasses set ``name`` and ``topics`` and implement ``setup``, ``reset``
    and ``apply`` (or ``apply_batch`` when a bulk statement is faster)."""

    name: str
    topics: tuple[str, ...]

    async def setup(self, conn: AsyncConnection) -> None:  # create tables if missing
        raise NotImplementedError

    async def reset(self, conn: AsyncConnection) -> None:  # empty the read model
        raise NotImplementedError

    async def apply(self, conn: AsyncConnection, env: Envelope, payload: EventPayload) -> None:
        raise NotImplementedError

    async def apply_batch(self, conn: AsyncConnection,
                          events: Sequence[tuple[Envelope, EventPayload]]) -> None:
        for env, payload in events:
            await self.apply(conn, env, payload)
