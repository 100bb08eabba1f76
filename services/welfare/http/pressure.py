"""Back-pressure for ingestion: a burst larger than the pipeline can take right now is told to
come back (429 with ``Retry-After``) before anything is read or written, so what is
acknowledged is always written and published, never dropped.

Two signals: the requests being written now (at most ``max_in_flight`` at once per process:
more would only queue on the database pool and time out half-done), and the outbox backlog
(events committed but not yet on Kafka: above ``max_backlog`` the relay, or Kafka, is behind,
and taking more would only grow a queue nobody reads). The backlog is counted at most every
``check_every_s``.

**Red alarms first.** A request carrying a red alarm (``domain/intake.urgent``: a fall, a fire,
a pressed button) has a lane of its own: it is taken while fewer than ``max_in_flight +
reserve`` requests are being written and the backlog is at most twice ``max_backlog``. So a
flood of routine measurements that fills the ordinary lane does not turn a fall alarm away,
and the reserve bounds what a device claiming red for everything could take.

**And first in line.** Of the requests taken, at most ``working`` are written at once; the
others wait their turn in ``Turns``, where a red alarm goes before every routine request.
Without it an alarm taken behind 32 routine batches shared the event loop and the connection
pool with all of them, and on a busy machine waited a p50 of 0.5 s (up to 1.6 s) before its
commit: most of its way to the worklist (bench/RESULTS.md, issue 15).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from contextlib import asynccontextmanager

from fastapi import HTTPException
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

RETRY_AFTER_S = 1


class Turns:
    """At most ``working`` holders at once; the others wait, urgent ones first, then in the
    order they came. A waiter cancelled (its client went away) leaves no turn behind."""

    def __init__(self, working: int):
        self.free = working
        self._urgent: deque[asyncio.Future] = deque()
        self._routine: deque[asyncio.Future] = deque()

    @asynccontextmanager
    async def turn(self, urgent: bool = False):
        await self._acquire(urgent)
        try:
            yield
        finally:
            self._release()

    async def _acquire(self, urgent: bool) -> None:
        if self.free > 0 and not self._urgent and not self._routine:
            self.free -= 1
            return
        line = self._urgent if urgent else self._routine
        waiter = asyncio.get_running_loop().create_future()
        line.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release()   # handed a turn as it was cancelled: pass it on
            elif waiter in line:   # (a release may have dropped it already)
                line.remove(waiter)
            raise

    def _release(self) -> None:
        for line in (self._urgent, self._routine):
            while line:
                waiter = line.popleft()
                if not waiter.done():
                    waiter.set_result(None)   # the turn goes to it, free stays as it is
                    return
        self.free += 1


class Gate:
    def __init__(self, engine: AsyncEngine, max_in_flight: int, max_backlog: int,
                 check_every_s: float = 0.5, reserve: int = 8, working: int = 8):
        self.engine, self.max_in_flight, self.max_backlog = engine, max_in_flight, max_backlog
        self.check_every_s, self.reserve = check_every_s, reserve
        self.turns = Turns(working)
        self.in_flight = 0
        self._backlog, self._checked = 0, float("-inf")

    async def backlog(self) -> int:
        if time.monotonic() - self._checked >= self.check_every_s:
            self._checked = time.monotonic()
            async with self.engine.connect() as conn:
                self._backlog = (await conn.execute(text(
                    "SELECT count(*) FROM (SELECT 1 FROM outbox WHERE published_at IS NULL "
                    "LIMIT :n) AS b"), {"n": 2 * self.max_backlog + 1})).scalar_one()
        return self._backlog

    @asynccontextmanager
    async def admitted(self, urgent: bool = False):
        """Hold a place while the request is written; 429 when there is none (``urgent``: the
        request carries a red alarm, and has its own lane)."""
        if self.in_flight >= self.max_in_flight + (self.reserve if urgent else 0):
            raise _busy("Too many readings are being written right now.")
        self.in_flight += 1
        try:
            if await self.backlog() > self.max_backlog * (2 if urgent else 1):
                raise _busy("Readings are waiting to be published.")
            async with self.turns.turn(urgent):
                yield
        finally:
            self.in_flight -= 1


def _busy(why: str) -> HTTPException:
    return HTTPException(429, f"{why} Nothing of this request was recorded: send it again in "
                              f"{RETRY_AFTER_S} s.", headers={"Retry-After": str(RETRY_AFTER_S)})
