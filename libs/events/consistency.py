"""Read your writes: a write returns a token; a read that passes it waits (bounded) until the
read model has applied that write, and otherwise says clearly that it has not caught up."""

from __future__ import annotations

import asyncio
import base64
import binascii
import time
from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncEngine

HEADER = "X-Consistency-Token"


class InvalidToken(ValueError):
    pass


class NotCaughtUp(TimeoutError):
    def __init__(self, projection: str, waited_s: float):
        self.projection, self.waited_s = projection, waited_s
        super().__init__(f"the {projection} read model has not yet caught up with your write "
                         f"(waited {waited_s:.1f} s); retry shortly")


@dataclass(frozen=True)
class ConsistencyToken:
    """The last event of a write. Events of one stream are applied in order, so once the last
    one is applied, the whole write is visible."""

    event_id: UUID

    def encode(self) -> str:
        return base64.urlsafe_b64encode(b"1" + self.event_id.bytes).decode().rstrip("=")

    @classmethod
    def decode(cls, raw: str) -> ConsistencyToken:
        try:
            data = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
        except (binascii.Error, ValueError):
            raise InvalidToken("consistency token is not valid base64url") from None
        if len(data) != 17 or data[:1] != b"1":
            raise InvalidToken("consistency token is malformed or from another version")
        return cls(UUID(bytes=data[1:]))

    def __str__(self) -> str:
        return self.encode()


async def is_applied(engine: AsyncEngine, projection: str | Sequence[str],
                     token: ConsistencyToken) -> bool:
    """One statement on the driver's connection (a wait polls it a few times per write:
    through SQLAlchemy each poll was BEGIN, the query and ROLLBACK)."""
    names = [projection] if isinstance(projection, str) else list(projection)
    async with engine.connect() as sa:
        conn = (await sa.get_raw_connection()).driver_connection
        return await conn.fetchval(
            "SELECT true FROM projection_events WHERE projection = ANY($1::text[]) "
            "AND event_id = $2", names, token.event_id) is not None


async def wait_until_applied(engine: AsyncEngine, projection: str | Sequence[str],
                             token: ConsistencyToken, timeout_s: float) -> None:
    """Return when the projection has applied the token's event; raise NotCaughtUp after
    ``timeout_s``. Given several projections, one of them is enough: a service whose
    projections read different topics waits for the one that reads the write's topic (the
    others never see that event)."""
    start = time.monotonic()
    delay = 0.005
    while True:
        if await is_applied(engine, projection, token):
            return
        waited = time.monotonic() - start
        if waited >= timeout_s:
            raise NotCaughtUp(projection if isinstance(projection, str)
                              else " or ".join(projection), waited)
        await asyncio.sleep(min(delay, timeout_s - waited))
        delay = min(delay * 2, 0.1)
