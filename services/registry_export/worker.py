"""The registry's stream processor on faust-streaming (DESIGN.md §2, libs/events/faust_app.py).

One agent per source topic (``journal.events``, ``consent.events``, ``medication.events``,
``audit.access``, ``welfare.events``: of that topic only the coverage streams, the welfare
technologies in use, ``person.folded``), each with ``concurrency=1``, folds the events into
**parts** in PostgreSQL (``parts.py``, ``registry_parts`` in the service's schema):
``<patient id>/<stream id>`` -> that stream's part of the
:class:`~services.registry_export.domain.person.Person` (``person.advance``). Readers merge a
person's parts (``person.merge``, ``state.py``). The worker has no faust table.

**Why PostgreSQL and not a changelog-backed faust table.** Issue 14 asked for changelog-backed
tables, and the worker had one until 2026-12-03. After a restart or a rebalance with a
changelog to restore, faust-streaming 0.15.3 seeks the stream partitions while its fetcher
already runs, and the first messages past the committed offset are neither delivered nor
acknowledged (faust-streaming issue #596, open): a part folded with events missing, or the
group's commits stopped. The SIGKILL and takeover tests failed from it. Without tables faust
resumes its streams only after the seek (the welfare worker met the same and left its table
first). And with the parts in PostgreSQL, a batch's fold is one transaction, committed before
any of its offsets is: nothing to flush, no changelog write to await.

**A batch at a time.** Each agent takes up to ``batch`` events (``stream.noack_take``: nothing
is acknowledged by faust; not ``take_events``, which acks in its generator's ``finally``, also
when the agent is cancelled mid-batch), decodes them, reads the batch's parts in one query,
folds the events in memory onto the parts as read (parsed once a batch), writes every changed
part in one transaction, and only after its commit acknowledges the batch's events. A worker
killed anywhere has committed either the whole batch or none of it, and folds the
unacknowledged events again from the committed parts. The commit runs beside the stream
(:class:`Commits`): the batches taken meanwhile are folded together next, in order, after it,
so a slow commit (an fsync on a busy disk) makes the next transaction bigger rather than
holding the stream; parts read or written are kept parsed and used again while the stored
version is the same (``parts.load``).

**Nothing counted twice.** Every event moves its part's version on, so a part at version *v*
is the fold of its stream's first *v* events whoever wrote it: an event seen again (faust
commits offsets after the fact: at-least-once) has a version the part already has and is
skipped, and a part is never written over a newer one (``parts.save``), so a worker expelled
from the group that still writes (a zombie) changes nothing.

**A version gap** (an event for version *v* finding its part below *v - 1*) used to mean the
worker's in-memory table was behind its changelog, and it read the changelog again. The parts
are now read from PostgreSQL for every batch and committed before their offsets, so a part is
never behind the offsets already acknowledged: a gap means the missing events are not where
this worker reads (never published to this topic, or gone with its retention), and reading
again would find nothing. Stopping there would stop every other person on the partition for
good, so the event is folded, and the gap is logged (the part key: internal ids only) for an
operator to look into and rebuild (README, "Rebuild").

**Poison goes to the DLQ.** Faust acknowledges a message whose agent raised, so an event that
cannot be decoded or folded goes to ``<topic>.dlq`` (acknowledged by Kafka before its batch
is) with the reason in ``ehr.error``; the rest goes on. A failing database write is retried,
never skipped: the batch is not done before it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import faust
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.config import Settings
from libs.events.db import make_engine
from libs.events.envelope import Envelope
from libs.events.faust_app import agent, create_app, dead_letter, retrying
from libs.events.registry import EventPayload, Registry
from services.registry_export import parts as store
from services.registry_export.domain.person import Person, advance, folded, part_key, version

log = logging.getLogger(__name__)

APP_ID = "registry-export"
WHO = "registry-export"
SOURCES = ("journal.events", "consent.events", "medication.events", "audit.access",
           "welfare.events")
Decoded = tuple[faust.EventT, Envelope, EventPayload]


def build_worker(settings: Settings, registry: Registry, *, schema: str,
                 topics: Mapping[str, str], app_id: str = APP_ID, partitions: int = 12,
                 engine: AsyncEngine | None = None, batch: int = 500, within_s: float = 0.05,
                 **overrides: Any) -> faust.App:
    """The faust app with one agent per source topic (``topics``: catalogue name -> the topic
    in use; tests rename them), writing its parts to the schema ``schema`` (``engine`` when
    the caller has one on it) under ``app_id``. ``partitions``: the source topics' count."""
    datadir = Path(overrides.pop("datadir", settings.local_dir / "faust" / app_id))
    datadir.mkdir(parents=True, exist_ok=True)   # faust does not create its parents
    app = create_app(app_id, settings, topic_partitions=partitions, datadir=datadir,
                     **overrides)
    folder = Folder(engine or make_engine(settings.effective_database_url, schema,
                                          pool_size=len(SOURCES)), app_id)
    for source in SOURCES:
        _agent_for(app, folder, registry, topics[source], source, batch, within_s)
    return app


class Folder:
    """Folds batches of decoded events into the parts of one app id."""

    def __init__(self, engine: AsyncEngine, app_id: str, keep: int = 100_000):
        self.engine, self.app_id, self.keep = engine, app_id, keep
        self._ready = False
        # the parts as last read or written, parsed: used again only while the stored
        # version is the same (``parts.load``)
        self._parsed: dict[str, Person] = {}

    async def fold(self, events: Sequence[Decoded]) -> list[tuple[faust.EventT, str]]:
        """Fold ``events`` (in their order) onto the stored parts and commit every changed
        part in one transaction; the events that could not be folded, with the reason."""
        if not self._ready:
            await store.setup(self.engine)
            self._ready = True
        poison: list[tuple[faust.EventT, str]] = []
        async with self.engine.begin() as conn:
            held = await store.load(conn, self.app_id,
                                    (part_key(e.patient_id, e.stream_id) for _, e, _ in events),
                                    self._parsed)
            changed: dict[str, Person] = {}
            for event, env, payload in events:
                key = part_key(env.patient_id, env.stream_id)
                part = held.get(key)
                at = version(part) if part is not None else 0
                if env.stream_version > at + 1:
                    log.warning("%s: %s is at version %d, the event in hand at %d: folded "
                                "over the gap", WHO, key, at, env.stream_version)
                try:
                    after = advance(part, env, payload)
                except Exception as exc:  # noqa: BLE001  (the event, not the batch, is bad)
                    poison.append((event, f"{type(exc).__name__}: {exc}"))
                    continue
                if after is not None:
                    held[key] = changed[key] = after
            await store.save(conn, self.app_id, changed)
        if len(self._parsed) > self.keep:
            self._parsed.clear()
        self._parsed.update(held)
        return poison


def _agent_for(app: faust.App, folder: Folder, registry: Registry, topic: str, source: str,
               batch: int, within_s: float) -> None:
    channel = app.topic(topic, key_serializer="raw", value_serializer="raw")

    async def to_dlq(event: faust.EventT, error: str) -> None:
        """Dead-letter ``event``; a failing send (Kafka away) is retried: its batch is not
        done before it."""
        await retrying(lambda: dead_letter(app, event, error, WHO), "dead-lettering", WHO)

    async def decoded(events: Sequence[faust.EventT]) -> list[Decoded]:
        """The events the registry folds, decoded; what cannot be decoded goes to the DLQ."""
        out: list[Decoded] = []
        for event in events:
            try:
                env, payload = registry.decode(event.value)
            except Exception as exc:  # noqa: BLE001  (faust would ack it silently)
                await to_dlq(event, f"{type(exc).__name__}: {exc}")
                continue
            if env.patient_id is not None and folded(env.stream_id):
                out.append((event, env, payload))
        return out

    async def fold_and_ack(stream: faust.StreamT, events: Sequence[faust.EventT],
                           todo: list[Decoded]) -> None:
        if todo:
            poison = await retrying(lambda: folder.fold(todo), "folding a batch", WHO)
            for event, error in poison:
                await to_dlq(event, error)
        for event in events:   # only now: the batch's parts are committed
            await stream.ack(event)

    async def fold_events(stream: faust.StreamT) -> None:
        commits = Commits(lambda events, todo: fold_and_ack(stream, events, todo), batch * 4)
        committing = asyncio.ensure_future(commits.run())
        try:
            async for events in stream.noack_take(batch, within_s):
                await commits.add(events, await decoded(events), committing)
        finally:   # stopped: what is not committed is not acked, and is seen again
            committing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await committing

    fold_events.__name__ = fold_events.__qualname__ = f"fold_{source.replace('.', '_')}"
    agent(app, channel, name=f"{app.conf.id}.{source}")(fold_events)


class Commits:
    """Group commit: the batches taken while one is being folded and committed are folded
    together next, in their order, so a slow commit makes the next one bigger instead of
    holding the stream (at most ``most`` events wait; the agent waits beyond that)."""

    def __init__(self, commit: Callable[[list[faust.EventT], list[Decoded]], Awaitable[None]],
                 most: int):
        self.commit, self.most = commit, most
        self.events: list[faust.EventT] = []
        self.todo: list[Decoded] = []
        self.more, self.room = asyncio.Event(), asyncio.Event()

    async def run(self) -> None:
        while True:
            await self.more.wait()
            self.more.clear()
            while self.events:
                events, todo, self.events, self.todo = self.events, self.todo, [], []
                self.room.set()
                await self.commit(events, todo)

    async def add(self, events: Sequence[faust.EventT], todo: list[Decoded],
                  committing: asyncio.Future) -> None:
        """Queue a batch; wait while too much waits. The committer's failure is raised here."""
        self.events += events
        self.todo += todo
        self.more.set()
        while len(self.events) >= self.most and not committing.done():
            self.room.clear()
            room = asyncio.ensure_future(self.room.wait())
            await asyncio.wait({room, committing}, return_when=asyncio.FIRST_COMPLETED)
            room.cancel()
        if committing.done():
            committing.result()   # its exception, if any (it never returns)
