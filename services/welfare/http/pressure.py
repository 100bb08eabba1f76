"""Back-pressure for ingestion: a burst larger than the pipeline can take right now is told to
come back (429 with ``Retry-After``) before anything is read or written, so what is
acknowledged is always written and published, never dropped.

Two signals: the requests being written now (at most ``max_in_flight`` at once per process:
more would only queue on the database pool and time out half-done), and the outbox backlog
(events committed but not yet on Kafka: above ``max_backlog`` the relay, or Kafka, is behind,
and taking more would only grow a queue nobody reads). The backlog is counted at most every
``check_every_s``.
"""

from __future__ import annotations

import time
from contextlib import asynccontextmanager

from fastapi import HTTPException
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

RETRY_AFTER_S = 1


class Gate:
    def __init__(self, engine: AsyncEngine, max_in_flight: int, max_backlog: int,
                 check_every_s: float = 0.5):
        self.engine, self.max_in_flight, self.max_backlog = engine, max_in_flight, max_backlog
        self.check_every_s = check_every_s
        self.in_flight = 0
        self._backlog, self._checked = 0, float("-inf")

    async def backlog(self) -> int:
        if time.monotonic() - self._checked >= self.check_every_s:
            self._checked = time.monotonic()
            async with self.engine.connect() as conn:
                self._backlog = (await conn.execute(text(
                    "SELECT count(*) FROM (SELECT 1 FROM outbox WHERE published_at IS NULL "
                    "LIMIT :n) AS b"), {"n": self.max_backlog + 1})).scalar_one()
        return self._backlog

    @asynccontextmanager
    async def admitted(self):
        if self.in_flight >= self.max_in_flight:
            raise _busy("Too many readings are being written right now.")
        self.in_flight += 1
        try:
            if await self.backlog() > self.max_backlog:
                raise _busy("Readings are waiting to be published.")
            yield
        finally:
            self.in_flight -= 1


def _busy(why: str) -> HTTPException:
    return HTTPException(429, f"{why} Nothing of this request was recorded: send it again in "
                              f"{RETRY_AFTER_S} s.", headers={"Retry-After": str(RETRY_AFTER_S)})
