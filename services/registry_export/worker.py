"""The registry's stream processor on faust-streaming (DESIGN.md §2, libs/events/faust_app.py).

One agent per source topic (``journal.events``, ``consent.events``, ``medication.events``,
``audit.access``), each with ``concurrency=1``, folds every event into one table, ``persons``:
internal patient id -> :class:`~services.registry_export.domain.person.Person` as JSON.

**Store: memory + changelog, not RocksDB.** The table is small (a few kB a person, about
400k service recipients nationally: well under a gigabyte across the workers), the changelog
topic is the durable copy (compacted, declared in the topic catalogue), and a worker that
starts with no local files restores every partition it is assigned from the changelog. RocksDB
(rocksdict) would only shorten that recovery, at the cost of a native dependency and of local
files that a SIGKILL can leave behind in a state the changelog does not match. Readers
(statistics, KPR, releases: ``state.py``) read the same changelog, never the worker.

**Nothing counted twice.** Faust commits offsets after the agent is done (at-least-once), so a
worker killed mid-stream sees some events again; ``fold`` skips any event whose stream version
the person has already folded in. The changelog write may be ahead of the committed offset,
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

import asyncio
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import faust

from libs.config import Settings
from libs.events.faust_app import agent, create_app
from libs.events.registry import Registry
from libs.events.topics import dlq_of
from services.registry_export.domain.person import Person, fold

log = logging.getLogger(__name__)

APP_ID = "registry-export"
TABLE = "persons"
SOURCES = ("journal.events", "consent.events", "medication.events", "audit.access")


class DurableTable(faust.Table):
    """A faust table whose changelog writes can be awaited (:meth:`written`)."""

    def _send_changelog(self, event: Any, key: Any, value: Any,
                        key_serializer: Any = None, value_serializer: Any = None) -> None:
        if event is None:
            raise RuntimeError("Cannot modify table outside of agent/stream.")
        sent = self.send_changelog(event.message.partition, key, value, key_serializer,
                                   value_serializer)
        self.__dict__.setdefault("_unacked", []).append(sent)

    async def written(self) -> None:
        """Wait until Kafka has acknowledged every changelog write made so far."""
        pending, self.__dict__["_unacked"] = self.__dict__.get("_unacked", []), []
        for sent in pending:
            await sent


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
                if env.patient_id is None:
                    continue
                key = str(env.patient_id)
                current = persons.get(key)
                person = Person.model_validate(current) if current else None
                changed = fold(person, env, payload)
            except Exception as exc:  # noqa: BLE001  (faust would ack it and go on silently)
                await _dead_letter(app, event, f"{type(exc).__name__}: {exc}")
                continue
            if changed is not None:
                await _write(persons, key, changed.model_dump(mode="json"))

    fold_events.__name__ = fold_events.__qualname__ = f"fold_{source.replace('.', '_')}"
    agent(app, channel, name=f"{app.conf.id}.{source}")(fold_events)


async def _write(persons: DurableTable, key: str, value: dict) -> None:
    """Set the person and wait for Kafka's acknowledgement of the changelog write; a failed
    write (the broker away) is retried, never skipped: the event is not done before it."""
    delay = 0.1
    while True:
        persons[key] = value
        try:
            await persons.written()
            return
        except Exception as exc:  # noqa: BLE001  (any send failure: try again)
            log.warning("registry-export: changelog write failed (%s), retrying",
                        type(exc).__name__)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


async def _dead_letter(app: faust.App, event: faust.EventT, error: str) -> None:
    msg = event.message
    headers = [("ehr.error", error[:2000].encode()),
               ("ehr.projection", b"registry-export"),
               ("ehr.source", f"{msg.topic}/{msg.partition}/{msg.offset}".encode())]
    await app.producer.send_and_wait(dlq_of(msg.topic), msg.key, msg.value, None, None,
                                     headers)
    log.error("registry-export: event at %s/%d/%d sent to DLQ: %s", msg.topic, msg.partition,
              msg.offset, error[:300])
