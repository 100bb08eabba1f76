"""The registry's stream processor on faust-streaming (DESIGN.md §2, libs/events/faust_app.py).

One agent per source topic (``journal.events``, ``consent.events``, ``medication.events``,
``audit.access``, ``welfare.events``: of that topic only the coverage streams, the welfare
technologies in use, ``person.folded``), each with ``concurrency=1``, folds every event into one
table, ``persons``:
``<patient id>/<stream id>`` -> that stream's part of the
:class:`~services.registry_export.domain.person.Person` as JSON (``person.advance``). Readers
merge a person's parts (``person.merge``).

**Parts, versions and no lost update.** A part is folded from one stream only, and every event
of the stream moves its version on, so a part at version *v* is the fold of the stream's first
*v* events whoever wrote it. Three things follow, and together they make the table right
whatever faust's recovery and rebalancing do: the newest version of a key is always the right
value, so a changelog record never replaces a newer part (``DurableTable.apply_changelog_batch``,
and the readers in ``state.py`` do the same); an event for version *v* finding the part below
*v - 1* shows the worker's table is behind the changelog, and the worker reads that changelog
partition again before it folds anything onto it (``DurableTable.reload``); and a worker that
writes a part it no longer owns (a "zombie", expelled from the group under load while still
processing) writes the same value the owner does, never an older person over a newer one. The
one-value-per-person table this replaces lost updates in the two-worker takeover test under
load (the changelog ended with people holding their accesses but none of their journal facts:
a whole person written from an in-memory copy that lacked facts already written). Which faust
path left the copy stale was not pinned down (recovery and standby reads on a rebalance, the
memory store evicting keys of partitions it no longer owns, an expelled worker still writing);
with parts no stream's write carries another stream's facts, so it does not matter.

**Store: memory + changelog, not RocksDB.** The table is small (a few kB a person, about
400k service recipients nationally: well under a gigabyte across the workers), the changelog
topic is the durable copy (compacted, declared in the topic catalogue), and a worker that
starts with no local files restores every partition it is assigned from the changelog. RocksDB
(rocksdict) would only shorten that recovery, at the cost of a native dependency and of local
files that a SIGKILL can leave behind in a state the changelog does not match. Readers
(statistics, KPR, releases: ``state.py``) read the same changelog, never the worker.

**Nothing counted twice.** Faust commits offsets after the agent is done (at-least-once), so a
worker killed mid-stream sees some events again; ``advance`` skips any event whose stream
version the part has already folded in. The changelog write may be ahead of the committed offset,
never behind what it records.

**Each table write is acknowledged before its event is done.** Faust flushes its producer
before it commits offsets, but its ``ProducerBuffer.flush`` gives up after 0.1 s with messages
still buffered (faust-streaming 0.15.3), so under load an offset could be committed past a table
write that a SIGKILL then loses: the event would not be seen again and the person would stay
without it (found by the SIGKILL test). :class:`DurableTable` keeps the future of every
changelog write and the agent awaits them before it takes the next event.

**Poison goes to the DLQ.** Faust acknowledges a message whose agent raised, so every agent
catches its own errors and sends the raw event to ``<topic>.dlq`` (acknowledged before it goes
on) with the reason in ``ehr.error``; the rest of the stream goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import faust

from libs.config import Settings
from libs.events.faust_app import agent, create_app, dead_letter, retrying
from libs.events.faust_tables import VersionedTable
from libs.events.registry import Registry
from services.registry_export.domain.person import Person, advance, folded, part_key, version

log = logging.getLogger(__name__)

APP_ID = "registry-export"
TABLE = "persons"
SOURCES = ("journal.events", "consent.events", "medication.events", "audit.access",
           "welfare.events")


class DurableTable(VersionedTable):
    """The ``persons`` table: one part a source stream, keyed ``<patient id>/<stream id>``
    (libs/events/faust_tables.py: acknowledged writes, the newest version of a part wins)."""

    def version_of(self, key: Any, value: Any) -> int | None:
        if not isinstance(key, str) or "/" not in key or not isinstance(value, dict):
            return None   # not a part (a record of an older layout)
        return _version_of(value)

    def part(self, key: str) -> Person | None:
        value = self.data.get(key)
        return Person.model_validate(value) if value else None


def _version_of(value: Any) -> int:
    return max(value.get("seen", {}).values(), default=0) if isinstance(value, dict) else 0


def changelog_topic(app_id: str = APP_ID) -> str:
    """Faust's name for the table's changelog topic."""
    return f"{app_id}-{TABLE}-changelog"


def build_worker(settings: Settings, registry: Registry, *, topics: Mapping[str, str],
                 app_id: str = APP_ID, partitions: int = 12, **overrides: Any) -> faust.App:
    """The faust app with its table and one agent per source topic (``topics``: catalogue
    name -> the topic in use; tests rename them). ``partitions`` is the source topics' count:
    the table is co-partitioned with them, keyed by patient id like they are."""
    datadir = Path(overrides.pop("datadir", settings.local_dir / "faust" / app_id))
    datadir.mkdir(parents=True, exist_ok=True)   # faust does not create its parents
    app = create_app(app_id, settings, topic_partitions=partitions, datadir=datadir,
                     **overrides)
    persons = app.tables.add(DurableTable(app, name=TABLE, default=None, partitions=partitions,
                                          key_type=str, beacon=app.tables.beacon))
    persons.bootstrap = settings.effective_kafka
    for source in SOURCES:
        _agent_for(app, persons, registry, topics[source], source)
    return app


def _agent_for(app: faust.App, persons: DurableTable, registry: Registry, topic: str,
               source: str) -> None:
    channel = app.topic(topic, key_serializer="raw", value_serializer="raw")

    async def fold_events(stream: faust.StreamT) -> None:
        async for event in stream.events():
            try:
                env, payload = registry.decode(event.value)
            except Exception as exc:  # noqa: BLE001  (faust would ack it and go on silently)
                await _dead_letter(app, event, f"{type(exc).__name__}: {exc}")
                continue
            if env.patient_id is None or not folded(env.stream_id):
                continue
            key = part_key(env.patient_id, env.stream_id)
            part = persons.part(key)
            if env.stream_version > (version(part) if part else 0) + 1:
                await _retrying(lambda: persons.reload(event.message.partition), "reload")
                part = persons.part(key)
            try:
                changed = advance(part, env, payload)
            except Exception as exc:  # noqa: BLE001
                await _dead_letter(app, event, f"{type(exc).__name__}: {exc}")
                continue
            if changed is not None:
                await _write(persons, key, changed.model_dump(mode="json"))

    fold_events.__name__ = fold_events.__qualname__ = f"fold_{source.replace('.', '_')}"
    agent(app, channel, name=f"{app.conf.id}.{source}")(fold_events)


async def _write(persons: DurableTable, key: str, value: dict) -> None:
    """Set the part and wait for Kafka's acknowledgement of the changelog write; a failed
    write (the broker away) is retried, never skipped: the event is not done before it."""

    async def write() -> None:
        persons[key] = value
        await persons.written()
    await _retrying(write, "changelog write")


async def _retrying(step: Callable[[], Awaitable[None]], what: str) -> None:
    await retrying(step, what, "registry-export")


async def _dead_letter(app: faust.App, event: faust.EventT, error: str) -> None:
    await dead_letter(app, event, error, "registry-export")
