"""Read your writes: a write returns a token; a read that passes it waits (bounded) until the
read model has applied that write, and otherwise says clearly that it has not caught up.

The wait asks the read model's database whether the event is applied. Each committed batch is
announced to the waiters of this process (:data:`applied_here`), and a waiter asks again at
once instead of at its next poll: two queries per wait instead of four or five, and no wait
longer than the pipeline. A runner in this process (``make run``, the tests, a service deployed
as one process) announces its batches itself; a runner elsewhere (its own process, as the chart
deploys it) notifies them through PostgreSQL, and :mod:`libs.events.applied_listener` announces
them here. Without either (the listener's connection lost) the wait polls, from 5 ms up; an
announcement is only ever a reason to ask again."""

from __future__ import annotations

import asyncio
import base64
import binascii
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncEngine

from libs.events.db import pooled

HEADER = "X-Consistency-Token"
T = TypeVar("T")


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


def applied_query(count: int) -> str:
    """``is_applied``'s statement for ``count`` projections, each name a parameter of its own:
    with ``projection = ANY($1::text[])`` PostgreSQL costs a generic plan as for ten names and
    so planned the statement again at every poll (tests/events/test_is_applied.py)."""
    names = ", ".join(f"${i}" for i in range(2, count + 2))
    return f"SELECT true FROM projection_events WHERE event_id = $1 AND projection IN ({names})"


async def is_applied(engine: AsyncEngine, projection: str | Sequence[str],
                     token: ConsistencyToken) -> bool:
    """One statement on the driver's connection (a wait polls it a few times per write:
    through SQLAlchemy each poll was BEGIN, the query and ROLLBACK)."""
    names = [projection] if isinstance(projection, str) else list(projection)
    if not names:
        return False
    async with pooled(engine) as conn:
        return await conn.fetchval(applied_query(len(names)), token.event_id,
                                   *names) is not None


class Announcements:
    """What the projections running in this process have applied, announced as each batch
    commits, for the waiters of this process. Only a hint to ask the database again: the
    database says what is applied. Keyed by projection name and event id, so in a process
    that runs two services (the tests), the other's projection of the same name may wake a
    waiter early: it asks its own database and goes on polling."""

    def __init__(self) -> None:
        self._runners: Counter[str] = Counter()
        self._listeners = 0   # connections here that hear the other processes' runners
        self._waiting: dict[UUID, list[tuple[frozenset[str], asyncio.Future]]] = {}

    def running(self, projection: str, active: bool = True) -> None:
        """A runner of ``projection`` became active here (took its lock), or stopped."""
        self._runners[projection] += 1 if active else -1
        if self._runners[projection] <= 0:
            del self._runners[projection]

    def runs_here(self, projections: Iterable[str]) -> bool:
        return any(p in self._runners for p in projections)

    def listening(self, active: bool = True) -> None:
        """A listener here began (or stopped) to hear the runners of other processes."""
        self._listeners += 1 if active else -1

    def announced_here(self, projections: Iterable[str]) -> bool:
        """Whether the projections' batches are announced here: their runner is here, or a
        listener hears it wherever it runs."""
        return self._listeners > 0 or self.runs_here(projections)

    def waiting(self) -> bool:
        """Whether any waiter here watches for an announcement."""
        return bool(self._waiting)

    def announce(self, projection: str, event_ids: Iterable[UUID] | None) -> None:
        """``event_ids`` applied by ``projection``; ``None``: some (every waiter of the
        projection asks again)."""
        if not self._waiting:
            return
        if event_ids is None:
            event_ids = list(self._waiting)
        for event_id in event_ids:
            for names, woken in self._waiting.get(event_id, ()):
                if projection in names and not woken.done():
                    woken.set_result(None)   # one event loop per process: the runner's

    @contextmanager
    def watch(self, event_id: UUID, projections: Iterable[str]) -> Iterator[asyncio.Future]:
        """A future done when one of ``projections`` here announces ``event_id``; watched
        from before the first question, so an announcement meanwhile is not missed."""
        entry = (frozenset(projections), asyncio.get_running_loop().create_future())
        self._waiting.setdefault(event_id, []).append(entry)
        try:
            yield entry[1]
        finally:
            entries = self._waiting[event_id]
            entries.remove(entry)
            if not entries:
                del self._waiting[event_id]


applied_here = Announcements()
POLL_S = 0.1   # the longest pause between two questions


async def wait_until_applied(engine: AsyncEngine, projection: str | Sequence[str],
                             token: ConsistencyToken, timeout_s: float,
                             probe: Callable[[], Awaitable[T | None]] | None = None,
                             fresh: bool = False) -> T | bool:
    """Return when the projection has applied the token's event; raise NotCaughtUp after
    ``timeout_s``. Given several projections, one of them is enough: a service whose
    projections read different topics waits for the one that reads the write's topic (the
    others never see that event). ``probe``: a question whose answer (``None`` until then)
    proves the event applied and is what the caller reads next anyway (a created resource's
    first version); asked instead of ``is_applied`` and its answer returned, so the wait
    costs no statement of its own. The wait asks again as soon as the event is announced here
    (``applied_here``), and at least every ``POLL_S``; when nothing here would announce it,
    the pauses between questions grow from 5 ms to ``POLL_S``. ``fresh``: the write was
    committed by this process a moment ago, so a question asked at once could only say "not
    yet" (the event has still to go through the relay, Kafka and a batch); when its batch is
    announced here, the first question waits for that announcement (at most ``POLL_S``: a
    lost announcement costs time, never an answer). A FHIR create asked twice before."""
    names = [projection] if isinstance(projection, str) else list(projection)
    start = time.monotonic()
    heard = applied_here.announced_here(names)
    delay = POLL_S if heard else 0.005
    ask = probe or (lambda: is_applied(engine, names, token))
    with applied_here.watch(token.event_id, names) as announced:
        if fresh and heard:
            await asyncio.wait([announced], timeout=min(POLL_S, timeout_s))
        while True:
            if found := await ask():
                return found
            waited = time.monotonic() - start
            if waited >= timeout_s:
                raise NotCaughtUp(" or ".join(names), waited)
            pause = min(delay, timeout_s - waited)
            if announced.done():   # announced, yet not applied here: another database's
                await asyncio.sleep(pause)
            else:
                await asyncio.wait([announced], timeout=pause)
            delay = min(delay * 2, POLL_S)
